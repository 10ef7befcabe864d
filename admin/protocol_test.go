package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

func queryMsg(sql string) []byte { return wire.AppendQuery(nil, sql) }

// readUntilReady collects message types and error messages up to
// ReadyForQuery.
func readUntilReady(t *testing.T, br *bufio.Reader) (types string, errs []*wire.Error) {
	t.Helper()
	for {
		typ, body, _, err := wire.ReadMessage(br, nil, 1<<20)
		if err != nil {
			t.Fatalf("after %q: %v", types, err)
		}
		types += string(typ)
		if typ == 'E' {
			errs = append(errs, wire.ParseError(body))
		}
		if typ == 'Z' {
			return types, errs
		}
	}
}

func TestWelcome(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{
		Admin: true, ServerVersion: "1.25.0/bouncer", ApplicationName: "psql",
		PID: 0x01020304, Secret: []byte{9, 8, 7, 6},
	})
	conn := c.connect(t, nil)
	for k, v := range map[string]string{
		"server_version": "1.25.0/bouncer", "client_encoding": "UTF8", "server_encoding": "UTF8",
		"DateStyle": "ISO", "TimeZone": "GMT", "standard_conforming_strings": "on",
		"integer_datetimes": "on", "is_superuser": "on", "application_name": "psql",
	} {
		if got := conn.ParameterStatus(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if conn.PID() != 0x01020304 || !bytes.Equal(conn.SecretKey(), []byte{9, 8, 7, 6}) {
		t.Errorf("key data %x/%x", conn.PID(), conn.SecretKey())
	}
}

func TestWelcomeDefaults(t *testing.T) {
	c := startConsole(t, sample(), nil, Options{})
	conn := c.connect(t, nil)
	if got := conn.ParameterStatus("server_version"); got != sample().version {
		t.Errorf("server_version %q, want the Source's version", got)
	}
	if conn.ParameterStatus("application_name") != "" {
		t.Errorf("application_name %q sent though the client set none", conn.ParameterStatus("application_name"))
	}
}

func TestMultipleStatements(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{Admin: true})
	conn := c.connect(t, nil)

	r, err := exec(t, conn, "SHOW VERSION; show state;\n-- a comment; SHOW POOLS\nSHOW LISTS;;")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range r {
		got = append(got, x.cols[0])
	}
	if strings.Join(got, ",") != "version,key,list" {
		t.Errorf("results %v", got)
	}

	// The first error ends the batch; results before it stand.
	r, err = exec(t, conn, "SHOW VERSION; bogus; SHOW STATE")
	pgErr(t, err, "08P01", "invalid command 'bogus', use SHOW HELP;")
	if len(r) != 1 {
		t.Errorf("%d results before the error, want 1", len(r))
	}
	mustExec(t, conn, "SHOW STATE")
}

func TestInvalidCommands(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{Admin: true})
	conn := c.connect(t, nil)
	for _, sql := range []string{"bogus", "show", "SHOW bogus", "SHOW POOLS extra", "SELECT 1 + 1", "pause 'app'", "SHOW 'x", "SET x"} {
		_, err := exec(t, conn, sql)
		pgErr(t, err, "08P01", "invalid command '"+sql+"', use SHOW HELP;")
	}
	long := "bogus " + strings.Repeat("x", 5000)
	_, err := exec(t, conn, long)
	pgErr(t, err, "08P01", "invalid command '"+long[:maxEcho]+"...', use SHOW HELP;")
	mustExec(t, conn, "SHOW VERSION")
}

func TestEmptyQueryAndPing(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{})
	conn := c.connect(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if r, err := exec(t, conn, " ; ;"); err != nil || len(r) != 1 || len(r[0].cols) != 0 {
		t.Errorf("empty query: %v %v", r, err)
	}
}

func TestExtendedProtocolRefused(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{})
	conn := c.connect(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rr := conn.ExecParams(ctx, "SHOW POOLS", nil, nil, nil, nil)
	_, err := rr.Close()
	pgErr(t, err, "08P01", "extended query protocol not supported by admin console")
	_, err = conn.Prepare(ctx, "s1", "SHOW POOLS", nil)
	pgErr(t, err, "08P01", "extended query protocol not supported by admin console")
	mustExec(t, conn, "SHOW POOLS")

	// Raw: one error per batch, nothing else until Sync.
	raw, br := c.dial(t)
	var batch []byte
	batch = append(batch, 'P', 0, 0, 0, 8, 0, 'x', 0, 0)            // Parse "" "x" no params
	batch = append(batch, 'B', 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0) // Bind
	batch = append(batch, 'E', 0, 0, 0, 9, 0, 0, 0, 0, 0)           // Execute
	batch = append(batch, queryMsg("SHOW VERSION")...)              // discarded: before Sync
	batch = append(batch, 'S', 0, 0, 0, 4)                          // Sync
	batch = append(batch, 'F', 0, 0, 0, 4)                          // FunctionCall
	batch = append(batch, 'd', 0, 0, 0, 5, 'z')                     // CopyData outside COPY
	batch = append(batch, queryMsg("SHOW STATE")...)
	raw.Write(batch)
	types, errs := readUntilReady(t, br)
	if types != "EZ" || errs[0].Message != "extended query protocol not supported by admin console" {
		t.Errorf("extended batch: %q %v", types, errs)
	}
	types, errs = readUntilReady(t, br)
	if types != "EZ" || errs[0].Message != "unsupported packet type for admin console: 70" {
		t.Errorf("function call: %q %+v", types, errs)
	}
	if types, _ = readUntilReady(t, br); types != "TDDDCZ" {
		t.Errorf("query after the refusals: %q", types)
	}
	raw.Write([]byte{'X', 0, 0, 0, 4})
	if err := c.waitServed(t); err != nil {
		t.Errorf("Serve after Terminate: %v", err)
	}
}

func TestMessageTooLong(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{})
	raw, br := c.dial(t)
	hdr := []byte{'Q', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[1:], maxBody+5)
	raw.Write(hdr)
	typ, body, _, err := wire.ReadMessage(br, nil, 1<<20)
	if err != nil || typ != 'E' {
		t.Fatalf("got %q %v", typ, err)
	}
	if e := wire.ParseError(body); e.Severity != "FATAL" || e.Code != "08P01" {
		t.Errorf("error %+v", e)
	}
	if err := c.waitServed(t); !errors.Is(err, wire.ErrTooLong) {
		t.Errorf("Serve returned %v", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("connection still open: %v", err)
	}
}

func TestClientDisconnect(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{})
	raw, _ := c.dial(t)
	raw.Close()
	if err := c.waitServed(t); !errors.Is(err, io.EOF) {
		t.Errorf("Serve returned %v, want EOF", err)
	}
}

func TestContextEndsServe(t *testing.T) {
	src := sample()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		served <- Serve(ctx, bufio.NewReader(conn), conn, src, nil, Options{})
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	if types, _ := readUntilReady(t, br); !strings.HasPrefix(types, "RS") || !strings.HasSuffix(types, "Z") {
		t.Fatalf("welcome %q", types)
	}
	cancel() // Serve is blocked reading the next query
	select {
	case err := <-served:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not notice the end of its context")
	}
}

// TestServeOverPipe runs a session over net.Pipe, without deadlines on
// the connection's writer side being needed.
func TestServeOverPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	served := make(chan error, 1)
	go func() {
		defer b.Close()
		served <- Serve(context.Background(), bufio.NewReader(b), b, sample(), nil, Options{})
	}()
	a.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(a)
	readUntilReady(t, br)
	go a.Write(queryMsg("SHOW STATE"))
	if types, _ := readUntilReady(t, br); types != "TDDDCZ" {
		t.Errorf("SHOW STATE: %q", types)
	}
	go a.Write([]byte{'X', 0, 0, 0, 4})
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
