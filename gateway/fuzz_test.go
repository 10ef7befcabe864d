package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/pgtest"
)

func packet(code uint32, body ...string) []byte {
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint32(b, code)
	for _, s := range body {
		b = append(append(b, s...), 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

var (
	fuzzStateOnce sync.Once
	fuzzState     *state
)

// testState builds a state with TLS offered, from a throwaway certificate.
func testState(t testing.TB) *state {
	fuzzStateOnce.Do(func() {
		ca, err := pgtest.NewCA("fuzz CA", pgtest.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := ca.IssueServer([]string{"localhost"}, pgtest.ECDSAP256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		cert, key, err := kp.WriteFiles(dir, "srv")
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.General.ClientTLS = config.ClientTLS{SSLMode: config.SSLPrefer, CertFile: cert, KeyFile: key, Protocols: "secure"}
		st, _, err := buildState(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		fuzzState = st
	})
	return fuzzState
}

// FuzzAdmit feeds arbitrary bytes to the admission path (first packet,
// SSLRequest/TLS, GSSENCRequest, CancelRequest, startup packet): it must
// end, without panicking, within its deadline.
func FuzzAdmit(f *testing.F) {
	f.Add(packet(3<<16, "user", "alice", "database", "db"))
	f.Add(packet(3<<16|2, "user", "u", "_pq_.x", "1", "options", "-c a=b"))
	f.Add(append(packet(80877103), packet(3<<16, "user", "u")...))
	f.Add(packet(80877104))
	f.Add(append([]byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e}, 1, 2, 3, 4, 5, 6, 7, 8))
	f.Add([]byte{0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	f.Add([]byte{0, 0, 0, 8, 0, 2, 0, 0})
	f.Add(packet(3<<16, "user"))
	st := testState(f)
	g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil)), keyring: authn.NewKeyring(), bg: context.Background()}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newClient(&memConn{r: bytes.NewReader(data)})
		done := make(chan struct{})
		go func() {
			defer close(done)
			err := g.admit(c, st)
			if err == nil && c.User == "" {
				t.Errorf("admitted without a user")
			}
			if len(c.User) > maxNameLen || len(c.dbname) > maxNameLen {
				t.Errorf("names not cut: %d and %d bytes", len(c.User), len(c.dbname))
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("admit did not end")
		}
	})
}

// FuzzCutName: names are cut to at most 63 bytes, to a prefix of
// themselves, never inside a UTF-8 sequence, and short names are kept.
func FuzzCutName(f *testing.F) {
	f.Add("alice")
	f.Add(strings.Repeat("a", 62) + "é")
	f.Add(strings.Repeat("ü", 40))
	f.Add(strings.Repeat("\x80", 100))
	f.Fuzz(func(t *testing.T, s string) {
		got := cutName(s)
		switch {
		case len(s) <= maxNameLen && got != s:
			t.Fatalf("short name %q changed to %q", s, got)
		case len(got) > maxNameLen || !strings.HasPrefix(s, got):
			t.Fatalf("cut %q to %q", s, got)
		case utf8.ValidString(s) && !utf8.ValidString(got):
			t.Fatalf("cut %q inside a character: %q", s, got)
		case utf8.ValidString(s) && len(s) > maxNameLen && len(got) < maxNameLen-utf8.UTFMax+1:
			t.Fatalf("cut %q more than a character short: %d bytes", s, len(got))
		}
	})
}

// FuzzLogin feeds arbitrary bytes as a client's answers to a password
// request (SASLInitialResponse, SASLResponse, PasswordMessage), for a
// user pgbun does not know: the exchange must end, with an error, within
// its deadline and without panicking.
func FuzzLogin(f *testing.F) {
	msg := func(body string) []byte {
		b := []byte{'p', 0, 0, 0, 0}
		b = append(b, body...)
		binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1))
		return b
	}
	first := "n,,n=,r=rOprNGfwEbeRWgbNEkqO"
	f.Add(msg("SCRAM-SHA-256\x00" + string([]byte{0, 0, 0, byte(len(first))}) + first))
	f.Add(msg("SCRAM-SHA-256-PLUS\x00\xff\xff\xff\xff"))
	f.Add(msg("SCRAM-SHA-256\x00\x00\x00\x00\x05n,,n="))
	f.Add(msg("md5abc\x00"))
	f.Add([]byte{'p', 0, 0, 0, 3})
	f.Add([]byte{'Q', 0, 0, 0, 4})
	st := testState(f)
	g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil)), keyring: authn.NewKeyring(), bg: context.Background(),
		authq: authn.NewQueryCache(authn.QueryCacheConfig{}, nil), loginWork: make(chan struct{}, 1)}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newClient(&memConn{r: bytes.NewReader(data)})
		c.User, c.dbname = "nobody", "nodb"
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := g.authenticate(c, st, target{}); err == nil {
				t.Errorf("an unknown user logged in")
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("login did not end")
		}
	})
}

// FuzzParseStartup checks the startup parameter decoder directly.
func FuzzParseStartup(f *testing.F) {
	f.Add([]byte("user\x00alice\x00database\x00db\x00\x00"))
	f.Add([]byte("\x00"))
	f.Add([]byte("user\x00"))
	f.Add([]byte("a\x00b\x00a\x00c\x00\x00junk"))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := parseStartup(0, body)
		if err != nil {
			return
		}
		if len(st.params) > maxStartupParams {
			t.Fatalf("%d params", len(st.params))
		}
	})
}

// FuzzParseOptions checks the "options" splitter.
func FuzzParseOptions(f *testing.F) {
	f.Add("-c search_path=a,b --work_mem=3MB")
	f.Add(`-c x=a\ b -cy=1`)
	f.Add("-c")
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := parseOptions(s)
		if err == nil {
			for k := range opts {
				if k == "" {
					t.Fatal("empty setting name")
				}
			}
		}
	})
}

func TestParseOptions(t *testing.T) {
	got, err := parseOptions(`-c search_path=a,b --work-mem=3MB -cstatement_timeout=5s -c x=a\ b`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"search_path": "a,b", "work_mem": "3MB", "statement_timeout": "5s", "x": "a b"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"-c", "-x foo", "-c novalue", "--=1"} {
		if _, err := parseOptions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// memConn is a net.Conn whose reads come from r (then EOF) and whose
// writes vanish: the fuzzer's peer, without sockets or goroutines.
type memConn struct {
	r *bytes.Reader
}

func (m *memConn) Read(p []byte) (int, error)         { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error)        { return len(p), nil }
func (m *memConn) Close() error                       { return nil }
func (m *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6432} }
func (m *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (m *memConn) SetDeadline(t time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }
