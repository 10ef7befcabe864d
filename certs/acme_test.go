package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/pebbletest"
	"github.com/pgbun/pgbun/internal/pgtest"
)

const testEmail = "ops@pgbun.test"

// newTestACME builds an ACME against p with the given domains and
// adjustments, and stops it when the test ends.
func newTestACME(t *testing.T, p *pebbletest.Server, adjust func(*ACMEConfig)) *ACME {
	t.Helper()
	logger, _ := testLogger(t)
	cfg := ACMEConfig{
		Email:   testEmail,
		CA:      p.DirectoryURL(),
		CARoot:  p.CARootFile(),
		Storage: t.TempDir(),
		Logger:  logger,
		// Pebble has no ARI for these orders' purposes; the tests time
		// renewals by the certificate lifetime alone.
		DisableARI: true,
	}
	adjust(&cfg)
	a, err := NewACME(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	return a
}

// listenWithPebble opens the listener a test serves TLS on and starts a
// Pebble that validates TLS-ALPN-01 challenges against that listener's
// port, as Let's Encrypt would connect to pgbun's Postgres port.
func listenWithPebble(t *testing.T, validity time.Duration) (net.Listener, int, *pebbletest.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.FreePort(t), TLSPort: port, Validity: validity})
	return ln, port, p
}

func startACME(t *testing.T, a *ACME) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestACMETLSALPN obtains a certificate through the TLS-ALPN-01 challenge
// answered by the same listener that serves clients, then checks the
// lookup order of a Set that also has a file certificate.
func TestACMETLSALPN(t *testing.T) {
	checkLeaksAtEnd(t)
	ln, port, p := listenWithPebble(t, time.Hour)
	a := newTestACME(t, p, func(c *ACMEConfig) {
		c.Domains = []string{"DB.pgbun.test."} // normalized on the way in
		c.AltTLSALPNPort = port
	})

	fileCA, err := pgtest.NewCA("file ca", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	files, err := NewStore(issue(t, fileCA, t.TempDir(), "files", "files.pgbun.test"))
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(files, a)
	if got := set.NextProtos(); !slices.Equal(got, []string{"postgresql", "acme-tls/1"}) {
		t.Fatalf("NextProtos = %v", got)
	}
	srv := startTLSServer(t, ln, set)
	startACME(t, a)

	c, err := dialVerified(srv.port, "db.pgbun.test", p.Roots())
	if err != nil {
		t.Fatalf("verify-full handshake: %v", err)
	}
	defer c.Close()
	if err := echo(c, "hello"); err != nil {
		t.Fatal(err)
	}
	served := srv.lastServed()
	if served == nil || served.Leaf == nil {
		t.Fatal("GetCertificate returned no certificate or one without Leaf")
	}
	if got, want := fmt.Sprintf("%x", served.Leaf.SerialNumber.Bytes()), peerSerial(c); got != want {
		t.Fatalf("returned certificate %s is not the served one %s", got, want)
	}
	infos := a.Infos()
	if len(infos) != 1 || infos[0].Source != "acme" || infos[0].Serial != peerSerial(c) ||
		!slices.Equal(infos[0].Names, []string{"db.pgbun.test"}) || infos[0].KeyType != "ECDSA" {
		t.Fatalf("Infos = %+v", infos)
	}
	if n := len(set.Infos()); n != 2 {
		t.Fatalf("Set.Infos has %d entries, want file + acme", n)
	}

	// Lookup order: a file certificate for its name, ACME for its name,
	// the default file certificate for any other name.
	pick := func(s *Set, sni string) string {
		t.Helper()
		crt, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if err != nil {
			t.Fatalf("SNI %q: %v", sni, err)
		}
		return crt.Leaf.DNSNames[0]
	}
	for sni, want := range map[string]string{
		"files.pgbun.test": "files.pgbun.test",
		"db.pgbun.test":    "db.pgbun.test",
		"other.pgbun.test": "files.pgbun.test",
		"":                 "files.pgbun.test",
	} {
		if got := pick(set, sni); got != want {
			t.Errorf("files+acme, SNI %q got %s, want %s", sni, got, want)
		}
	}
	// Without files, ACME's first certificate is the default.
	if got := pick(NewSet(nil, a), "other.pgbun.test"); got != "db.pgbun.test" {
		t.Errorf("acme alone, unknown SNI got %s", got)
	}
	if got := pick(NewSet(nil, a), ""); got != "db.pgbun.test" {
		t.Errorf("acme alone, no SNI got %s", got)
	}

}

// TestACMEHTTP01 obtains a certificate through pgbun's HTTP-01 responder.
func TestACMEHTTP01(t *testing.T) {
	checkLeaksAtEnd(t)
	httpPort := pebbletest.FreePort(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: pebbletest.FreePort(t), Validity: time.Hour})
	a := newTestACME(t, p, func(c *ACMEConfig) {
		c.Domains = []string{"web.pgbun.test"}
		c.Challenge = ChallengeHTTP
		c.HTTPListen = fmt.Sprintf("127.0.0.1:%d", httpPort)
	})
	set := NewSet(nil, a)
	if got := set.NextProtos(); !slices.Equal(got, []string{"postgresql"}) {
		t.Fatalf("NextProtos with http-01 = %v", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLSServer(t, ln, set)
	startACME(t, a)

	c, err := dialVerified(srv.port, "web.pgbun.test", p.Roots())
	if err != nil {
		t.Fatalf("verify-full handshake: %v", err)
	}
	defer c.Close()
	if err := echo(c, "over http-01"); err != nil {
		t.Fatal(err)
	}
	if p.Orders() != 1 {
		t.Fatalf("pebble saw %d orders, want 1", p.Orders())
	}

	// The responder answers challenges only.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / on the responder: %s", resp.Status)
	}

	a.Stop()
	if _, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", httpPort)); err == nil {
		t.Fatal("responder still listening after Stop")
	}
}

// TestACMERenewal lets a 30-second certificate reach its renewal window:
// a connection opened before the renewal keeps working after it, and a
// new handshake gets the new certificate.
func TestACMERenewal(t *testing.T) {
	checkLeaksAtEnd(t)
	ln, port, p := listenWithPebble(t, 30*time.Second)
	a := newTestACME(t, p, func(c *ACMEConfig) {
		c.Domains = []string{"renew.pgbun.test"}
		c.AltTLSALPNPort = port
		c.RenewRatio = 0.5
		c.RenewCheckInterval = 2 * time.Second
	})
	srv := startTLSServer(t, ln, NewSet(nil, a))
	startACME(t, a)

	old, err := dialVerified(srv.port, "renew.pgbun.test", p.Roots())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	first := peerSerial(old)
	if life := time.Until(old.ConnectionState().PeerCertificates[0].NotAfter); life > 31*time.Second {
		t.Fatalf("certificate lives %v, the 30 s profile did not apply", life)
	}
	if err := echo(old, "before"); err != nil {
		t.Fatal(err)
	}

	// Renewal starts when half of the ~30 s lifetime is left.
	if !waitFor(30*time.Second, func() bool {
		inf := a.Infos()
		return len(inf) == 1 && inf[0].Serial != first
	}) {
		t.Fatalf("no renewal within 30 s; serial still %s", first)
	}
	fresh, err := dialVerified(srv.port, "renew.pgbun.test", p.Roots())
	if err != nil {
		t.Fatalf("handshake after renewal: %v", err)
	}
	defer fresh.Close()
	if peerSerial(fresh) == first {
		t.Fatal("new handshake still got the old certificate")
	}
	if peerSerial(fresh) != a.Infos()[0].Serial {
		t.Fatalf("served %s, Infos says %s", peerSerial(fresh), a.Infos()[0].Serial)
	}
	if err := echo(old, "after"); err != nil {
		t.Fatalf("connection from before the renewal: %v", err)
	}
	if err := echo(fresh, "fresh"); err != nil {
		t.Fatal(err)
	}
}

// TestACMEOnDemand obtains a certificate during the handshake of an
// allowed name and refuses, without ordering, names not allowed.
func TestACMEOnDemand(t *testing.T) {
	checkLeaksAtEnd(t)
	ln, port, p := listenWithPebble(t, time.Hour)
	a := newTestACME(t, p, func(c *ACMEConfig) {
		c.OnDemandAllow = []string{"*.tenants.pgbun.test", "exact.pgbun.test"}
		c.AltTLSALPNPort = port
	})
	srv := startTLSServer(t, ln, NewSet(nil, a))
	startACME(t, a)
	if n := p.Orders(); n != 0 {
		t.Fatalf("%d orders before any handshake", n)
	}

	c, err := dialVerified(srv.port, "acme.tenants.pgbun.test", p.Roots())
	if err != nil {
		t.Fatalf("on-demand handshake: %v", err)
	}
	defer c.Close()
	if err := echo(c, "tenant"); err != nil {
		t.Fatal(err)
	}
	if n := p.Orders(); n != 1 {
		t.Fatalf("pebble saw %d orders, want 1", n)
	}
	again, err := dialVerified(srv.port, "ACME.tenants.pgbun.test", p.Roots())
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	if peerSerial(again) != peerSerial(c) || p.Orders() != 1 {
		t.Fatal("second handshake did not reuse the on-demand certificate")
	}
	if inf := a.Infos(); len(inf) != 1 || inf[0].Serial != peerSerial(c) {
		t.Fatalf("Infos = %+v", inf)
	}

	for _, sni := range []string{"evil.pgbun.test", "a.b.tenants.pgbun.test", "tenants.pgbun.test"} {
		if conn, err := dialVerified(srv.port, sni, p.Roots()); err == nil {
			conn.Close()
			t.Errorf("SNI %s got a certificate", sni)
		}
		_, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if !errorContains(err, sni) {
			t.Errorf("SNI %s: error %v does not name it", sni, err)
		}
		_, err = NewSet(nil, a).GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if !errorContains(err, sni) {
			t.Errorf("SNI %s: Set error %v does not name it", sni, err)
		}
	}
	if names := p.OrderedNames(); !slices.Equal(names, []string{"acme.tenants.pgbun.test"}) {
		t.Fatalf("names outside the allow list caused orders: %v", names)
	}

	// After Stop, certificates in memory are served, nothing is ordered.
	a.Stop()
	if conn, err := dialVerified(srv.port, "late.tenants.pgbun.test", p.Roots()); err == nil {
		conn.Close()
		t.Error("an on-demand certificate was obtained after Stop")
	}
	kept, err := dialVerified(srv.port, "acme.tenants.pgbun.test", p.Roots())
	if err != nil {
		t.Fatalf("certificate in memory after Stop: %v", err)
	}
	kept.Close()
	if peerSerial(kept) != peerSerial(c) || p.Orders() != 1 {
		t.Fatal("after Stop: wrong certificate or a new order")
	}
}

// TestACMEStartFails has the CA's validation reach a port that closes
// every connection: Start returns an error that names the domain.
func TestACMEStartFails(t *testing.T) {
	checkLeaksAtEnd(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	port := ln.Addr().(*net.TCPAddr).Port
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: pebbletest.FreePort(t), TLSPort: port, Validity: time.Hour})
	a := newTestACME(t, p, func(c *ACMEConfig) {
		c.Domains = []string{"fail.pgbun.test"}
		c.AltTLSALPNPort = port
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	err = a.Start(ctx)
	if !errorContains(err, "fail.pgbun.test") {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start: %v", err)
	if _, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: "fail.pgbun.test"}); err == nil {
		t.Fatal("a certificate is served after a failed Start")
	}
}

func TestNewACMERejects(t *testing.T) {
	base := func() ACMEConfig {
		return ACMEConfig{Domains: []string{"db.pgbun.test"}, Email: testEmail, Storage: t.TempDir()}
	}
	for _, tc := range []struct {
		name   string
		adjust func(*ACMEConfig)
		want   string
	}{
		{"nothing to manage", func(c *ACMEConfig) { c.Domains = nil }, "neither acme_domains"},
		{"no email", func(c *ACMEConfig) { c.Email = "" }, "acme_email"},
		{"bad email", func(c *ACMEConfig) { c.Email = "ops at pgbun" }, "acme_email"},
		{"no storage", func(c *ACMEConfig) { c.Storage = "" }, "acme_storage"},
		{"wildcard domain", func(c *ACMEConfig) { c.Domains = []string{"*.pgbun.test"} }, "DNS-01"},
		{"ip domain", func(c *ACMEConfig) { c.Domains = []string{"127.0.0.1"} }, "IP address"},
		{"bad domain", func(c *ACMEConfig) { c.Domains = []string{"db_1.pgbun.test"} }, "acme_domains"},
		{"broad pattern", func(c *ACMEConfig) { c.OnDemandAllow = []string{"*.test"} }, "acme_on_demand_allow"},
		{"unknown challenge", func(c *ACMEConfig) { c.Challenge = "dns-01" }, "acme_challenge"},
		{"http-01 without listener", func(c *ACMEConfig) { c.Challenge = ChallengeHTTP }, "acme_http_listen"},
		{"listener without http-01", func(c *ACMEConfig) { c.HTTPListen = ":80" }, "acme_http_listen"},
		{"http port 0", func(c *ACMEConfig) { c.Challenge, c.HTTPListen = ChallengeHTTP, "127.0.0.1:0" }, "fixed port"},
		{"ratio", func(c *ACMEConfig) { c.RenewRatio = 1.5 }, "acme_renew_ratio"},
		{"missing root", func(c *ACMEConfig) { c.CARoot = "/nonexistent/root.pem" }, "acme_ca_root"},
	} {
		cfg := base()
		tc.adjust(&cfg)
		a, err := NewACME(cfg)
		if err == nil {
			a.Stop()
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if !errorContains(err, tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.want)
		}
	}

	// A manager that is built and stopped without Start leaves nothing.
	a, err := NewACME(base())
	if err != nil {
		t.Fatal(err)
	}
	a.Stop()
	a.Stop()
	if err := a.Start(context.Background()); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
	checkLeaks(t)
}
