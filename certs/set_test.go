package certs

import (
	"crypto/tls"
	"slices"
	"testing"

	"github.com/pgbun/pgbun/internal/pgtest"
)

func TestSetFilesOnly(t *testing.T) {
	ca, err := pgtest.NewCA("set ca", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := issue(t, ca, dir, "a", "a.pgbun.test")
	b := issue(t, ca, dir, "b", "*.tenants.pgbun.test")
	store, err := NewStore(a, b)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet(store, nil)
	if got := s.NextProtos(); !slices.Equal(got, []string{"postgresql"}) {
		t.Fatalf("NextProtos = %v", got)
	}
	for sni, want := range map[string]string{
		"x.tenants.pgbun.test":  "*.tenants.pgbun.test",
		"X.Tenants.pgbun.test.": "*.tenants.pgbun.test",
		"a.pgbun.test":          "a.pgbun.test",
		"unknown.pgbun.test":    "a.pgbun.test",
		"":                      "a.pgbun.test",
	} {
		// A TLS-ALPN-01 hello without ACME is an ordinary hello.
		for _, protos := range [][]string{nil, {"acme-tls/1"}} {
			c, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: sni, SupportedProtos: protos})
			if err != nil {
				t.Fatalf("SNI %q: %v", sni, err)
			}
			if c.Leaf == nil || c.Leaf.DNSNames[0] != want {
				t.Errorf("SNI %q got %v, want %s", sni, c.Leaf.DNSNames, want)
			}
		}
	}
	if n := len(s.Infos()); n != 2 {
		t.Fatalf("Infos has %d entries", n)
	}
	if _, err := NewSet(nil, nil).GetCertificate(&tls.ClientHelloInfo{ServerName: "a.pgbun.test"}); err == nil {
		t.Fatal("empty set served a certificate")
	}
}
