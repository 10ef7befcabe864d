package certs

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/pgtest"
)

func issue(t *testing.T, ca *pgtest.CA, dir, base string, hosts ...string) FilePair {
	t.Helper()
	kp, err := ca.IssueServer(hosts, pgtest.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := kp.WriteFiles(dir, base)
	if err != nil {
		t.Fatal(err)
	}
	return FilePair{CertFile: c, KeyFile: k}
}

func TestSNIAndReload(t *testing.T) {
	ca, err := pgtest.NewCA("test", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := issue(t, ca, dir, "a", "a.example", "127.0.0.1")
	b := issue(t, ca, dir, "b", "*.tenants.example")
	s, err := NewStore(a, b)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(sni string) string {
		c, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if got := pick("x.tenants.example"); got != "*.tenants.example" {
		t.Errorf("wildcard SNI got %s", got)
	}
	if got := pick(""); got != "a.example" {
		t.Errorf("no SNI got %s", got)
	}
	if got := pick("unknown.example"); got != "a.example" {
		t.Errorf("unknown SNI got %s", got)
	}
	old := s.Infos()[0].Serial

	// A broken new file keeps the old certificate in service.
	os.WriteFile(a.CertFile, []byte("garbage"), 0o644)
	if err := s.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if s.Infos()[0].Serial != old {
		t.Fatal("broken reload replaced the certificate")
	}
	// A good new pair replaces it for new handshakes.
	issue(t, ca, dir, "a", "a.example")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if inf := s.Infos()[0]; inf.Serial == old || inf.Source != "file:"+filepath.Join(dir, "a.crt") || inf.KeyType != "ECDSA" {
		t.Fatalf("after reload: %+v", inf)
	}
}
