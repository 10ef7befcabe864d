package pebbletest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mholt/acmez/v3"
	"github.com/mholt/acmez/v3/acme"
	"github.com/miekg/dns"
	"github.com/pgbun/pgbun/internal/pebbletest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Pebble's validation queue has no stop.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"))
}

// httpsClient trusts only the PEM file at path, as pgbun does with
// acme_ca_root.
func httpsClient(t *testing.T, path string) *http.Client {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", path)
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
	}
}

// http01 answers HTTP-01 validations on 127.0.0.1:port.
type http01 struct {
	mu   sync.Mutex
	keys map[string]string // resource path -> key authorization
	srv  *http.Server
	done chan struct{}
}

func startHTTP01(t *testing.T, port int) *http01 {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	h := &http01{keys: map[string]string{}, done: make(chan struct{})}
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(h.done)
		h.srv.Serve(ln)
	}()
	t.Cleanup(func() { h.srv.Close(); <-h.done })
	return h
}

func (h *http01) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	key, ok := h.keys[r.URL.Path]
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	io.WriteString(w, key)
}

func (h *http01) Present(_ context.Context, c acme.Challenge) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys[c.HTTP01ResourcePath()] = c.KeyAuthorization
	return nil
}

func (h *http01) CleanUp(_ context.Context, c acme.Challenge) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.keys, c.HTTP01ResourcePath())
	return nil
}

// TestIssue orders a certificate over HTTP-01 with a plain ACME client:
// Pebble is reached through CARootFile, validates on HTTPPort through the
// fake DNS, issues for Validity, records the order, and the certificate
// verifies against Roots.
func TestIssue(t *testing.T) {
	port := pebbletest.FreePort(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port, TLSPort: pebbletest.FreePort(t), Validity: 2 * time.Hour})
	solver := startHTTP01(t, port)
	client := acmez.Client{
		Client:           &acme.Client{Directory: p.DirectoryURL(), HTTPClient: httpsClient(t, p.CARootFile())},
		ChallengeSolvers: map[string]acmez.Solver{acme.ChallengeTypeHTTP01: solver},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accountKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	account, err := client.NewAccount(ctx, acme.Account{
		Contact: []string{"mailto:ops@pgbun.test"}, TermsOfServiceAgreed: true, PrivateKey: accountKey})
	if err != nil {
		t.Fatalf("new account: %v", err)
	}
	if n := p.Orders(); n != 0 {
		t.Fatalf("%d orders before ordering", n)
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chains, err := client.ObtainCertificateForSANs(ctx, account, certKey, []string{"issue.pgbun.test"})
	if err != nil {
		t.Fatalf("obtain: %v", err)
	}
	block, rest := pem.Decode(chains[0].ChainPEM)
	if block == nil {
		t.Fatal("no PEM in the chain")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(rest)
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "issue.pgbun.test", Roots: p.Roots(), Intermediates: inter}); err != nil {
		t.Fatalf("issued certificate does not verify against Roots: %v", err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 2*time.Hour-time.Minute || life > 2*time.Hour+time.Minute {
		t.Fatalf("certificate lives %v, want 2h", life)
	}
	if n, names := p.Orders(), p.OrderedNames(); n != 1 || !slices.Equal(names, []string{"issue.pgbun.test"}) {
		t.Fatalf("orders %d, names %v", n, names)
	}

	// A request Pebble cannot read is counted all the same, without names.
	dir, err := client.GetDirectory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpsClient(t, p.CARootFile()).Post(dir.NewOrder, "application/jose+json", strings.NewReader("{not a jws"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("a malformed order got %s", resp.Status)
	}
	if n, names := p.Orders(), p.OrderedNames(); n != 2 || len(names) != 1 {
		t.Fatalf("after a malformed order: %d orders, names %v", n, names)
	}
}

// TestDirectoryTrust: the directory is served over HTTPS that verifies
// against CARootFile, and every Server issues under roots of its own.
func TestDirectoryTrust(t *testing.T) {
	a := pebbletest.Start(t, pebbletest.Options{})
	b := pebbletest.Start(t, pebbletest.Options{})
	resp, err := httpsClient(t, a.CARootFile()).Get(a.DirectoryURL())
	if err != nil {
		t.Fatal(err)
	}
	var dir map[string]any
	err = json.NewDecoder(resp.Body).Decode(&dir)
	resp.Body.Close()
	if err != nil || dir["newOrder"] == nil {
		t.Fatalf("directory %v: %v", dir, err)
	}
	if a.Roots().Equal(b.Roots()) {
		t.Fatal("two servers share issuing roots")
	}
}

// TestDNS: A questions get 127.0.0.1, others an empty answer.
func TestDNS(t *testing.T) {
	addr := pebbletest.StartDNS(t)
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	for _, tc := range []struct {
		qtype uint16
		want  string
	}{
		{dns.TypeA, "127.0.0.1"},
		{dns.TypeAAAA, ""},
		{dns.TypeCAA, ""},
	} {
		q := new(dns.Msg)
		q.SetQuestion("db.pgbun.test.", tc.qtype)
		r, _, err := c.Exchange(q, addr)
		if err != nil {
			t.Fatalf("%s: %v", dns.TypeToString[tc.qtype], err)
		}
		got := ""
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				got = a.A.String()
			}
		}
		if got != tc.want || (tc.want == "" && len(r.Answer) != 0) {
			t.Errorf("%s: answer %v", dns.TypeToString[tc.qtype], r.Answer)
		}
	}
}

// fatalTB records the first Fatalf and ends the goroutine, like
// testing.T does, without failing the real test.
type fatalTB struct {
	*testing.T
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartRejectsFractionalValidity(t *testing.T) {
	f := &fatalTB{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pebbletest.Start(f, pebbletest.Options{Validity: 1500 * time.Millisecond})
	}()
	<-done
	if !strings.Contains(f.msg, "whole number of seconds") {
		t.Fatalf("Fatalf message %q", f.msg)
	}
}
