package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgbun/pgbun/internal/pebbletest"
	"go.uber.org/goleak"
)

// acmeLeaks are goroutines that outlive a gateway with ACME by design of
// the libraries: certmagic keeps one rate limiter per CA and account for
// the life of the process, its lock keepers poll every 5 s and end on
// their own once the lock file is gone, and Pebble's validation queue has
// no stop.
var acmeLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"),
	goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
	goleak.IgnoreAnyFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"),
}

// acmeSetup is a pgbun that takes its client certificates from ACME at
// peb alone (no certificate files), audits into auditLog, and listens on
// port (0: any). general adds or overrides [pgbouncer] keys.
func acmeSetup(t *testing.T, peb *pebbletest.Server, port int, auditLog string, general map[string]string) setup {
	t.Helper()
	g := map[string]string{
		"client_tls_sslmode":   "require",
		"client_tls_cert_file": "",
		"client_tls_key_file":  "",
		"acme_email":           "ops@pgbun.test",
		"acme_ca":              peb.DirectoryURL(),
		"acme_ca_root":         peb.CARootFile(),
		"acme_storage":         filepath.Join(t.TempDir(), "acme"),
		"audit_log":            auditLog,
	}
	if port != 0 {
		g["listen_port"] = strconv.Itoa(port)
	}
	for k, v := range general {
		g[k] = v
	}
	return setup{general: g, port: port, leakIgnores: acmeLeaks}
}

// connectACME logs alice in through p at 127.0.0.1 with libpq's
// verify-full against roots for serverName, and SCRAM channel binding
// required: the login succeeds only if pgbun binds SCRAM-SHA-256-PLUS to
// the certificate it served.
func connectACME(p *proxy, roots *x509.CertPool, serverName string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.url(scramUser, scramPass, appDB, "channel_binding", "require"))
	if err != nil {
		return nil, err
	}
	cfg.Host = "127.0.0.1"
	cfg.Fallbacks = nil
	cfg.TLSConfig.ServerName = serverName
	cfg.TLSConfig.RootCAs = roots
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// mustConnectACME is connectACME that fails t and closes the connection
// when the test ends.
func mustConnectACME(t *testing.T, p *proxy, roots *x509.CertPool, serverName string) *pgx.Conn {
	t.Helper()
	c, err := connectACME(p, roots, serverName)
	if err != nil {
		t.Fatalf("connect with server name %s: %v", serverName, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// servedLeaf is the certificate pgbun presented on connection c.
func servedLeaf(t *testing.T, c *pgx.Conn) *x509.Certificate {
	t.Helper()
	return clientTLS(t, c).PeerCertificates[0]
}

// handshakeLeaf runs SSLRequest and a TLS handshake with pgbun on port,
// without logging in, and returns the certificate served. The handshake
// verifies the certificate against roots for serverName; nil roots skip
// the verification.
func handshakeLeaf(port int, serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// SSLRequest: length 8, code 80877103.
	if _, err := conn.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return nil, err
	}
	answer := make([]byte, 1)
	if _, err := conn.Read(answer); err != nil {
		return nil, err
	}
	if answer[0] != 'S' {
		return nil, fmt.Errorf("SSLRequest answered %q", answer)
	}
	cfg := &tls.Config{ServerName: serverName, RootCAs: roots, NextProtos: []string{"postgresql"}}
	cfg.InsecureSkipVerify = roots == nil
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc.ConnectionState().PeerCertificates[0], nil
}

func serial(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber.Bytes()) }

// checkAudit waits (bounded) until the audit log at path holds a
// cert_obtained event for domain with the given renewal flag, and checks
// that no password or private key reached the log or pgbun's own log.
func checkAudit(t *testing.T, p *proxy, path, domain string, renewal bool) {
	t.Helper()
	var text string
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text = string(b)
		found := false
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("audit line is not JSON: %q", line)
			}
			if e["msg"] == "cert_obtained" && e["identifier"] == domain && e["renewal"] == strconv.FormatBool(renewal) {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cert_obtained event for %s (renewal %v) in the audit log:\n%s", domain, renewal, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for what, s := range map[string]string{"audit log": text, "log": p.logs()} {
		if strings.Contains(s, scramPass) || strings.Contains(s, "PRIVATE KEY") {
			t.Fatalf("a secret reached the %s", what)
		}
	}
}

// TestACMETLSALPN: pgbun obtains its certificate through TLS-ALPN-01 on
// its own PostgreSQL port at start-up (start serves the port, then calls
// StartCertificates, as the command does: the ACME client cannot bind the
// port, so the CA's validation is answered by pgbun's listener), and
// clients verify it with verify-full and bind SCRAM to it.
func TestACMETLSALPN(t *testing.T) {
	port := pebbletest.FreePort(t)
	peb := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.FreePort(t), TLSPort: port, Validity: time.Hour})
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	p := start(t, acmeSetup(t, peb, port, auditLog, map[string]string{
		"acme_domains":       "db.pgbun.test",
		"acme_tls_alpn_port": strconv.Itoa(port),
	}))
	if names := peb.OrderedNames(); !slices.Equal(names, []string{"db.pgbun.test"}) {
		t.Fatalf("orders during start-up: %v", names)
	}

	c := mustConnectACME(t, p, peb.Roots(), "db.pgbun.test")
	if got := queryString(t, c, "select current_user"); got != scramUser {
		t.Fatalf("current_user = %q", got)
	}
	if leaf := servedLeaf(t, c); !slices.Equal(leaf.DNSNames, []string{"db.pgbun.test"}) {
		t.Fatalf("served certificate names %v", leaf.DNSNames)
	}
	// verify-full is real: the same certificate does not pass for
	// another name, nor against another CA.
	if c, err := connectACME(p, peb.Roots(), "other.pgbun.test"); err == nil {
		c.Close(context.Background())
		t.Fatal("verify-full accepted the certificate for another name")
	}
	if c, err := connectACME(p, getFixture(t).ca.Pool(), "db.pgbun.test"); err == nil {
		c.Close(context.Background())
		t.Fatal("verify-full accepted the certificate against another root")
	}
	checkAudit(t, p, auditLog, "db.pgbun.test", false)
}

// TestACMEHTTP01: pgbun obtains its certificate through its HTTP-01
// responder on acme_http_listen.
func TestACMEHTTP01(t *testing.T) {
	httpPort := pebbletest.FreePort(t)
	peb := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: pebbletest.FreePort(t), Validity: time.Hour})
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	p := start(t, acmeSetup(t, peb, 0, auditLog, map[string]string{
		"acme_domains":     "web.pgbun.test",
		"acme_challenge":   "http-01",
		"acme_http_listen": net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
	}))
	if names := peb.OrderedNames(); !slices.Equal(names, []string{"web.pgbun.test"}) {
		t.Fatalf("orders during start-up: %v", names)
	}
	c := mustConnectACME(t, p, peb.Roots(), "web.pgbun.test")
	if got := queryString(t, c, "select 'over http-01'"); got != "over http-01" {
		t.Fatal(got)
	}
	checkAudit(t, p, auditLog, "web.pgbun.test", false)
}

// TestACMERenewal lets a 30-second certificate reach its renewal window
// (half its lifetime, no renewal information from the CA, checked every
// 2 s): a session from before the renewal keeps working, a new one gets
// the new certificate, and both verify against the CA.
func TestACMERenewal(t *testing.T) {
	port := pebbletest.FreePort(t)
	peb := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.FreePort(t), TLSPort: port, Validity: 30 * time.Second})
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	p := start(t, acmeSetup(t, peb, port, auditLog, map[string]string{
		"acme_domains":              "renew.pgbun.test",
		"acme_tls_alpn_port":        strconv.Itoa(port),
		"acme_renew_ratio":          "0.5",
		"acme_ari":                  "0",
		"acme_renew_check_interval": "2",
	}))
	old := mustConnectACME(t, p, peb.Roots(), "renew.pgbun.test")
	first := servedLeaf(t, old)
	if life := first.NotAfter.Sub(first.NotBefore); life > 31*time.Second {
		t.Fatalf("certificate lives %v: the 30 s validity did not apply", life)
	}
	if got := queryString(t, old, "select 'before'"); got != "before" {
		t.Fatal(got)
	}

	// Renewal starts when 15 s of the lifetime are left. pgbun holds the
	// port now, so the ACME client cannot open its own listener there and
	// the validation is answered by pgbun's.
	var renewed *x509.Certificate
	deadline := time.Now().Add(40 * time.Second)
	for renewed == nil {
		leaf, err := handshakeLeaf(p.port, "renew.pgbun.test", peb.Roots())
		switch {
		case err != nil:
			t.Fatalf("handshake while waiting for the renewal: %v", err)
		case serial(leaf) != serial(first):
			renewed = leaf
		case time.Now().After(deadline):
			t.Fatalf("no renewal within 40 s; serial still %s", serial(first))
		default:
			time.Sleep(500 * time.Millisecond)
		}
	}

	fresh := mustConnectACME(t, p, peb.Roots(), "renew.pgbun.test")
	if got := serial(servedLeaf(t, fresh)); got == serial(first) {
		t.Fatal("a client after the renewal still got the old certificate")
	}
	if got := queryString(t, old, "select 'after'"); got != "after" {
		t.Fatalf("session from before the renewal: %q", got)
	}
	if got := queryString(t, fresh, "select 'fresh'"); got != "fresh" {
		t.Fatal(got)
	}
	if n := peb.Orders(); n < 2 {
		t.Fatalf("pebble saw %d orders, want the first and a renewal", n)
	}
	checkAudit(t, p, auditLog, "renew.pgbun.test", true)
}

// TestACMEOnDemand: a server name that acme_on_demand_allow names gets a
// certificate during its first handshake; any other name gets none, and
// no order is made for it.
func TestACMEOnDemand(t *testing.T) {
	port := pebbletest.FreePort(t)
	peb := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.FreePort(t), TLSPort: port, Validity: time.Hour})
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	p := start(t, acmeSetup(t, peb, port, auditLog, map[string]string{
		"acme_on_demand_allow": "*.tenants.pgbun.test",
		"acme_tls_alpn_port":   strconv.Itoa(port),
	}))
	if n := peb.Orders(); n != 0 {
		t.Fatalf("%d orders before any client", n)
	}

	c := mustConnectACME(t, p, peb.Roots(), "a.tenants.pgbun.test")
	if got := queryString(t, c, "select current_user"); got != scramUser {
		t.Fatalf("current_user = %q", got)
	}
	if leaf := servedLeaf(t, c); !slices.Equal(leaf.DNSNames, []string{"a.tenants.pgbun.test"}) {
		t.Fatalf("served certificate names %v", leaf.DNSNames)
	}
	checkAudit(t, p, auditLog, "a.tenants.pgbun.test", false)

	for _, sni := range []string{"evil.example.com", "b.a.tenants.pgbun.test"} {
		if c, err := connectACME(p, peb.Roots(), sni); err == nil {
			c.Close(context.Background())
			t.Errorf("server name %s got a certificate and logged in", sni)
		}
		// Not even an unverified client is served a certificate.
		if leaf, err := handshakeLeaf(p.port, sni, nil); err == nil || leaf != nil {
			t.Errorf("server name %s: a handshake completed", sni)
		}
	}
	if names := peb.OrderedNames(); !slices.Equal(names, []string{"a.tenants.pgbun.test"}) {
		t.Fatalf("orders: %v", names)
	}
}
