package gateway

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

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
	g := &Gateway{log: slog.New(slog.NewTextHandler(io.Discard, nil)), keyring: authn.NewKeyring()}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newClient(&memConn{r: bytes.NewReader(data)})
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := g.admit(c, st); err == nil && c.user == "" {
				t.Errorf("admitted without a user")
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("admit did not end")
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
