package gateway_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// sleepAndCancel runs a long pg_sleep on c and cancels it from outside
// with a CancelRequest, returning nil when the query ended as canceled.
func sleepAndCancel(c *pgx.Conn) error {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "select pg_sleep(30)")
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.PgConn().CancelRequest(ctx); err != nil {
		return fmt.Errorf("cancel request: %w", err)
	}
	select {
	case err := <-errc:
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "57014" {
			return nil
		}
		return fmt.Errorf("query ended with %v, want 57014", err)
	case <-time.After(10 * time.Second):
		return errors.New("query was not canceled within 10s")
	}
}

func TestCancel(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB)
	if err := sleepAndCancel(c); err != nil {
		t.Fatal(err)
	}
	// The session goes on after the cancel.
	if got := queryString(t, c, "select 'still here'"); got != "still here" {
		t.Fatal(got)
	}
	// A cancel with an unknown key is ignored without harm.
	other := p.connect(t, scramUser, scramPass, appDB)
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 1, 2, 3, 4}
	conn.Write(msg)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("unknown cancel key: read %d, %v", n, err)
	}
	conn.Close()
	queryString(t, other, "select 'unharmed'")
}

// TestSessionResetBetweenClients: one client's SET and temporary state do
// not reach the next client of the same server.
func TestSessionResetBetweenClients(t *testing.T) {
	p := start(t, setup{general: map[string]string{"default_pool_size": "1"}})
	a := p.connect(t, scramUser, scramPass, appDB)
	pid := queryString(t, a, "select pg_backend_pid()::text")
	def := queryString(t, a, "show work_mem")
	for _, q := range []string{"set work_mem = '7MB'", "set application_name = 'leaky'", "create temp table leak(x int)", "prepare leakstmt as select 1"} {
		if _, err := a.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	a.Close(context.Background())
	b := p.connect(t, scramUser, scramPass, appDB, "application_name", "second")
	if queryString(t, b, "select pg_backend_pid()::text") != pid {
		t.Fatal("pool of 1 did not reuse the server")
	}
	if got := queryString(t, b, "show work_mem"); got != def {
		t.Fatalf("work_mem leaked: %s", got)
	}
	if got := queryString(t, b, "show application_name"); got != "second" {
		t.Fatalf("application_name = %q", got)
	}
	if got := queryString(t, b, "select count(*)::text from pg_prepared_statements where name = 'leakstmt'"); got != "0" {
		t.Fatalf("prepared statement leaked")
	}
	if got := queryString(t, b, "select count(*)::text from pg_class where relname = 'leak' and relpersistence = 't'"); got != "0" {
		t.Fatal("temp table leaked")
	}
}

// TestStartupParametersApplied: a reused server gets the client's startup
// parameters, and the client's ParameterStatus matches.
func TestStartupParametersApplied(t *testing.T) {
	p := start(t, setup{general: map[string]string{"default_pool_size": "1"}})
	a := p.connect(t, scramUser, scramPass, appDB)
	a.Close(context.Background())
	b := p.connect(t, scramUser, scramPass, appDB,
		"timezone", "Asia/Tokyo", "datestyle", "German, DMY", "application_name", "app-b",
		"options", "-c search_path=pg_catalog,public --work_mem=3MB")
	checks := map[string]string{
		"show timezone": "Asia/Tokyo", "show datestyle": "German, DMY", "show application_name": "app-b",
		"show search_path": "pg_catalog,public", "show work_mem": "3MB",
	}
	for q, want := range checks {
		if got := queryString(t, b, q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	if got := b.PgConn().ParameterStatus("TimeZone"); got != "Asia/Tokyo" {
		t.Errorf("ParameterStatus TimeZone = %q", got)
	}
	if got := b.PgConn().ParameterStatus("application_name"); got != "app-b" {
		t.Errorf("ParameterStatus application_name = %q", got)
	}
	if b.PgConn().PID() == 0 {
		t.Error("no BackendKeyData")
	}
	b.Close(context.Background())
	pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, appDB, "datestyle", "bogus")))
	if pe.Code != "22023" {
		t.Fatalf("bad startup value: %+v", pe)
	}
}

// TestManyClientsOnPoolOfTwo: 24 clients share 2 servers, waiting their
// turn in order; none fails and the server never sees more than 2.
func TestManyClientsOnPoolOfTwo(t *testing.T) {
	p := start(t, setup{general: map[string]string{"default_pool_size": "2", "application_name_add_host": "0"}})
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, p.url(scramUser, scramPass, appDB, "application_name", "many"))
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			defer c.Close(ctx)
			var n int
			if err := c.QueryRow(ctx, "select count(*) from pg_stat_activity where application_name = 'many' and pg_sleep(0.05) is not null").Scan(&n); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
				return
			}
			if n > 2 {
				errs <- fmt.Errorf("client %d saw %d servers", i, n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWaitTimeout: a client that cannot get a server within
// query_wait_timeout gets a clear error.
func TestWaitTimeout(t *testing.T) {
	p := start(t, setup{general: map[string]string{"default_pool_size": "1", "query_wait_timeout": "0.5"}})
	p.connect(t, scramUser, scramPass, appDB)
	pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, appDB)))
	if pe.Message != "query_wait_timeout" {
		t.Fatalf("got %+v", pe)
	}
}

// TestClientKilledMidQuery: a client that vanishes while its query runs
// costs only its own server, which is closed rather than reused.
func TestClientKilledMidQuery(t *testing.T) {
	p := start(t, setup{general: map[string]string{"default_pool_size": "2"}})
	victim := p.connect(t, scramUser, scramPass, appDB)
	pid := queryString(t, victim, "select pg_backend_pid()::text")
	go victim.Exec(context.Background(), "select pg_sleep(30)")
	time.Sleep(200 * time.Millisecond)
	victim.PgConn().Conn().Close()
	other := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, other, "select 'fine'")
	// The victim's server must not come back to the pool.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := p.connect(t, scramUser, scramPass, appDB)
		got := queryString(t, c, "select pg_backend_pid()::text")
		c.Close(context.Background())
		if got == pid {
			t.Fatal("a server abandoned mid-query was handed to another client")
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if !strings.Contains(p.logs(), "closing because: client") {
			continue
		}
		break
	}
}

// TestServerDies: a server connection killed under a client gives that
// client a clear error and new clients a fresh server.
func TestServerDies(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB)
	pid := queryString(t, c, "select pg_backend_pid()::text")
	ctx := context.Background()
	if err := pg.Exec(ctx, "select pg_terminate_backend("+pid+")"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Exec(ctx, "select 1")
	if err == nil {
		t.Fatal("query on a dead server succeeded")
	}
	c2 := p.connect(t, scramUser, scramPass, appDB)
	if queryString(t, c2, "select pg_backend_pid()::text") == pid {
		t.Fatal("dead server reused")
	}
}

// TestPsqlAndPgbench drive pgbun with the real client binaries.
func TestPsqlAndPgbench(t *testing.T) {
	p := start(t, setup{general: map[string]string{"default_pool_size": "4"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := p.url(scramUser, scramPass, appDB)
	out, err := exec.CommandContext(ctx, "psql", url, "-XAt", "-c", "drop table if exists bench_t", "-c", "create table bench_t(x int)", "-c", "insert into bench_t select generate_series(1,100)", "-c", "select sum(x) from bench_t").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "5050") {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-c", "4", "-j", "2", "-t", "50", "-f", "-", url)
	cmd.Stdin = strings.NewReader("select sum(x) from bench_t;\n")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "number of transactions actually processed: 200") {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
}

// TestUnixSocket serves psql on <unix_socket_dir>/.s.PGSQL.<port>.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	start(t, setup{general: map[string]string{"unix_socket_dir": dir, "listen_port": "16999"}})
	cmd := exec.Command("psql", "host="+dir+" port=16999 user="+scramUser+" dbname="+appDB, "-XAtc", "select current_user")
	cmd.Env = append(cmd.Environ(), "PGPASSWORD="+scramPass)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != scramUser {
		t.Fatalf("psql over the Unix socket: %v: %s", err, out)
	}
}

// rawExchange connects and sends raw bytes, returning what pgbun answers
// before closing (bounded).
func rawExchange(t *testing.T, port int, send []byte) []byte {
	t.Helper()
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(send); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite() // nothing more: pgbun sees EOF when it reads on
	b, _ := io.ReadAll(bufio.NewReader(conn))
	return b
}

func startupPacket(major, minor uint16, kv ...string) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, major)
	b = binary.BigEndian.AppendUint16(b, minor)
	for _, s := range kv {
		b = append(append(b, s...), 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func TestProtocolEdges(t *testing.T) {
	p := start(t, setup{})
	// Bytes pipelined after SSLRequest are refused, not read as encrypted.
	ssl := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	got := rawExchange(t, p.port, append(ssl, startupPacket(3, 0, "user", scramUser)...))
	if !strings.Contains(string(got), "received unencrypted data after SSL request") {
		t.Errorf("pipelined after SSLRequest: %q", got)
	}
	// Protocol 2 is refused clearly.
	got = rawExchange(t, p.port, startupPacket(2, 0, "user", scramUser))
	if !strings.Contains(string(got), "unsupported frontend protocol 2.0") {
		t.Errorf("protocol 2.0: %q", got)
	}
	// 3.9 gets NegotiateProtocolVersion (newest 3.2) and goes on to auth.
	got = rawExchange(t, p.port, startupPacket(3, 9, "user", scramUser, "_pq_.fancy", "1"))
	if len(got) < 9 || got[0] != 'v' || binary.BigEndian.Uint32(got[5:9]) != 2 || !strings.Contains(string(got), "_pq_.fancy") {
		t.Errorf("protocol 3.9: %q", got)
	}
	// A startup packet over 10000 bytes is refused before it is read.
	big := make([]byte, 8)
	binary.BigEndian.PutUint32(big, 20000)
	binary.BigEndian.PutUint32(big[4:], 3<<16)
	got = rawExchange(t, p.port, big)
	if !strings.Contains(string(got), "invalid startup packet length") {
		t.Errorf("huge startup: %q", got)
	}
	// No user name.
	got = rawExchange(t, p.port, startupPacket(3, 0, "database", appDB))
	if !strings.Contains(string(got), "no PostgreSQL user name") {
		t.Errorf("no user: %q", got)
	}
	// GSSENCRequest is declined, then a normal startup proceeds.
	gss := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}
	got = rawExchange(t, p.port, gss)
	if string(got) != "N" {
		t.Errorf("GSSENCRequest: %q", got)
	}
}

// TestLoginTimeout: a client that connects and says nothing is dropped
// after client_login_timeout.
func TestLoginTimeout(t *testing.T) {
	p := start(t, setup{general: map[string]string{"client_login_timeout": "0.5"}})
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{0, 0}) // half a length word, then silence
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	startWait := time.Now()
	_, err = io.ReadAll(conn)
	if err != nil || time.Since(startWait) > 4*time.Second {
		t.Fatalf("silent client not dropped: %v after %v", err, time.Since(startWait))
	}
}

// TestCancelFromPsql: Ctrl-C in psql sends a CancelRequest through pgbun.
func TestCancelFromPsql(t *testing.T) {
	p := start(t, setup{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", p.url(scramUser, scramPass, appDB), "-XAtc", "select pg_sleep(25)")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the query runs on the server, then interrupt psql.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := p.connect(t, scramUser, scramPass, appDB)
		n := queryString(t, c, "select count(*)::text from pg_stat_activity where query = 'select pg_sleep(25)' and state = 'active'")
		c.Close(context.Background())
		if n == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("psql's query never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	started := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if !strings.Contains(out.String(), "canceling statement due to user request") || time.Since(started) > 10*time.Second {
		t.Fatalf("psql was not cancelled: %s", out.String())
	}
}

// TestSessionTimeouts: query_timeout cancels, idle_transaction_timeout and
// client_idle_timeout close, in session pooling too.
func TestSessionTimeouts(t *testing.T) {
	p := start(t, setup{general: map[string]string{
		"query_timeout": "0.3", "idle_transaction_timeout": "0.4", "client_idle_timeout": "0.8"}})
	ctx := context.Background()
	c := p.connect(t, scramUser, scramPass, appDB)
	_, err := c.Exec(ctx, "select pg_sleep(5)")
	if pe := pgErr(t, err); pe.Code != "57014" {
		t.Fatalf("query_timeout: %v", err)
	}
	if _, err := c.Exec(ctx, "begin"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if _, err := c.Exec(ctx, "select 1"); err == nil {
		t.Fatal("idle_transaction_timeout did not end the session")
	}
	c2 := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, c2, "select 'busy is fine'")
	time.Sleep(1100 * time.Millisecond)
	if _, err := c2.Exec(ctx, "select 1"); err == nil {
		t.Fatal("client_idle_timeout did not end the session")
	}
	logs := p.logs()
	if !strings.Contains(logs, "idle transaction timeout") || !strings.Contains(logs, "client_idle_timeout") || !strings.Contains(logs, "query_timeout: query cancelled") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// TestUnsupportedOptions: options other than -c name=value and
// --name=value are refused in PgBouncer's words, with what was wrong as
// the detail.
func TestUnsupportedOptions(t *testing.T) {
	p := start(t, setup{})
	for _, opts := range []string{"-d", "-c timezone"} {
		pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, appDB, "options", opts)))
		if pe.Code != "08P01" || pe.Message != "unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed" || pe.Detail == "" {
			t.Fatalf("options %q: %+v", opts, pe)
		}
	}
}
