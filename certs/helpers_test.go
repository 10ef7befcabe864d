package certs

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pgbun/pgbun/internal/pgtest"
)

// leakIgnores are goroutines that outlive their owners by design of the
// libraries: Pebble's validation queue has no stop, and certmagic keeps
// one rate limiter per CA and account for the life of the process.
var leakIgnores = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"),
	goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"),
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// certmagic's lock keepers poll every 5 s and end on their own
		// once their lock file is gone; give them that long.
		if err := waitNoLeaks(7*time.Second, leakIgnores...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkLeaksAtEnd registers, as the test's first cleanup and so its last
// to run, a check that fails t when goroutines other than the known ones
// remain once everything the test started has been stopped. The lock
// keepers are left to TestMain, which waits for them.
func checkLeaksAtEnd(t *testing.T) {
	t.Cleanup(func() { checkLeaks(t) })
}

func checkLeaks(t *testing.T) {
	t.Helper()
	opts := append([]goleak.Option{
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
	}, leakIgnores...)
	if err := waitNoLeaks(3*time.Second, opts...); err != nil {
		t.Error(err)
	}
}

func waitNoLeaks(limit time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(limit)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testLogger logs into a buffer that is printed when the test fails.
func testLogger(t *testing.T) (*slog.Logger, *pgtest.LogBuffer) {
	buf := &pgtest.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgbun log:\n%s", buf.Tail(12000))
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// tlsServer is a TLS echo server with the tls.Config a gateway would
// build from a Set. It records every certificate GetCertificate returned
// so tests can check that the served certificate is the returned one.
type tlsServer struct {
	ln     net.Listener
	port   int
	mu     sync.Mutex
	served []*tls.Certificate
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func startTLSServer(t *testing.T, ln net.Listener, set *Set) *tlsServer {
	t.Helper()
	s := &tlsServer{ln: ln, port: ln.Addr().(*net.TCPAddr).Port, conns: map[net.Conn]bool{}}
	cfg := &tls.Config{
		NextProtos: set.NextProtos(),
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := set.GetCertificate(hello)
			if c != nil {
				s.mu.Lock()
				s.served = append(s.served, c)
				s.mu.Unlock()
			}
			return c, err
		},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.drop(c)
				s.serve(tls.Server(c, cfg))
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *tlsServer) serve(tc *tls.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == alpnACME {
		return // a validation needs the handshake only
	}
	r := bufio.NewReader(tc)
	for range 100 {
		tc.SetDeadline(time.Now().Add(60 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := tc.Write([]byte("echo " + line)); err != nil {
			return
		}
	}
}

func (s *tlsServer) drop(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *tlsServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// lastServed returns the certificate GetCertificate returned last.
func (s *tlsServer) lastServed() *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.served) == 0 {
		return nil
	}
	return s.served[len(s.served)-1]
}

// dialVerified opens a TLS connection that verifies the server's chain
// against roots and its name against serverName (libpq's verify-full).
func dialVerified(port int, serverName string, roots *x509.CertPool) (*tls.Conn, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{
			ServerName: serverName,
			RootCAs:    roots,
			NextProtos: []string{alpnPostgres},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	return c.(*tls.Conn), nil
}

// echo writes a line on c and checks the server echoes it.
func echo(c *tls.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if want := "echo " + msg + "\n"; got != want {
		return fmt.Errorf("echo got %q, want %q", got, want)
	}
	return nil
}

// peerSerial is the serial of the certificate the server presented.
func peerSerial(c *tls.Conn) string {
	return fmt.Sprintf("%x", c.ConnectionState().PeerCertificates[0].SerialNumber.Bytes())
}

// waitFor polls cond every 100 ms until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// errorContains reports whether err's text contains every part.
func errorContains(err error, parts ...string) bool {
	if err == nil {
		return false
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			return false
		}
	}
	return true
}
