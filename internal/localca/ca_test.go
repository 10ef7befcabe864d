package localca

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestIssueClientVerifiesForClientAuthOnly(t *testing.T) {
	t.Parallel()
	for _, alg := range []KeyAlg{ECDSAP256, RSA2048, Ed25519} {
		t.Run(alg.String(), func(t *testing.T) {
			t.Parallel()
			ca, err := NewCA("client test CA", alg)
			if err != nil {
				t.Fatal(err)
			}
			kp, err := ca.IssueClient("alice", alg, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if kp.Cert.Subject.CommonName != "alice" {
				t.Errorf("CN = %q, want alice", kp.Cert.Subject.CommonName)
			}
			opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := kp.Cert.Verify(opts); err != nil {
				t.Errorf("verify for client auth: %v", err)
			}
			opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			if _, err := kp.Cert.Verify(opts); err == nil {
				t.Error("client certificate verified for server auth")
			}
			other, err := NewCA("other CA", alg)
			if err != nil {
				t.Fatal(err)
			}
			opts = x509.VerifyOptions{Roots: other.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := kp.Cert.Verify(opts); err == nil {
				t.Error("client certificate verified against an unrelated CA")
			}
		})
	}
}

func TestIssueServerSANsAndHandshake(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("server test CA", ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []KeyAlg{ECDSAP256, RSA2048, Ed25519} {
		t.Run(alg.String(), func(t *testing.T) {
			t.Parallel()
			kp, err := ca.IssueServer([]string{"db.example", "127.0.0.1", "::1"}, alg, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if got := kp.Cert.Subject.CommonName; got != "db.example" {
				t.Errorf("CN = %q, want db.example", got)
			}
			if !slices.Equal(kp.Cert.DNSNames, []string{"db.example"}) {
				t.Errorf("DNSNames = %v", kp.Cert.DNSNames)
			}
			if len(kp.Cert.IPAddresses) != 2 || !kp.Cert.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) ||
				!kp.Cert.IPAddresses[1].Equal(net.IPv6loopback) {
				t.Errorf("IPAddresses = %v", kp.Cert.IPAddresses)
			}
			if d := time.Until(kp.Cert.NotAfter); d > time.Hour || d < 59*time.Minute {
				t.Errorf("NotAfter %v is not an hour from now", kp.Cert.NotAfter)
			}
			for _, name := range []string{"db.example", "127.0.0.1", "::1"} {
				opts := x509.VerifyOptions{Roots: ca.Pool(), DNSName: name}
				if _, err := kp.Cert.Verify(opts); err != nil {
					t.Errorf("verify for %s: %v", name, err)
				}
			}
			if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.example"}); err == nil {
				t.Error("verified for a name outside the SANs")
			}
			if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
				t.Error("server certificate verified for client auth")
			}
			handshake(t, kp, ca)
			// The PEM forms must load back into the same certificate.
			pair, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
			if err != nil {
				t.Fatalf("X509KeyPair: %v", err)
			}
			if !pair.Leaf.Equal(kp.Cert) {
				t.Error("PEM certificate differs from Cert")
			}
		})
	}
}

// handshake runs a TLS handshake over an in-memory pipe with kp serving and
// a client that trusts only ca.
func handshake(t *testing.T, kp *KeyPair, ca *CA) {
	t.Helper()
	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{kp.TLS}})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	cli := tls.Client(cc, &tls.Config{RootCAs: ca.Pool(), ServerName: "db.example"})
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("bad input CA", ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.IssueServer(nil, ECDSAP256, time.Hour); err == nil {
		t.Error("IssueServer without hosts succeeded")
	}
	if _, err := ca.IssueServer([]string{"a", ""}, ECDSAP256, time.Hour); err == nil {
		t.Error("IssueServer with an empty host succeeded")
	}
	if _, err := ca.IssueServer([]string{"a"}, ECDSAP256, 0); err == nil {
		t.Error("IssueServer with zero validity succeeded")
	}
	if _, err := ca.IssueClient("", ECDSAP256, time.Hour); err == nil {
		t.Error("IssueClient with an empty name succeeded")
	}
	if _, err := ca.IssueClient("x", KeyAlg(42), time.Hour); err == nil {
		t.Error("IssueClient with an unknown algorithm succeeded")
	}
	if _, err := NewCA("x", KeyAlg(-1)); err == nil {
		t.Error("NewCA with an unknown algorithm succeeded")
	}
}

func TestWriteFilesModesAndContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := NewCA("files CA", RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueClient("bob", ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A key file left world-readable by someone else must be tightened.
	if err := os.WriteFile(filepath.Join(dir, "bob.key"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := kp.WriteFiles(dir, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if certFile != filepath.Join(dir, "bob.crt") || keyFile != filepath.Join(dir, "bob.key") {
		t.Errorf("paths = %s, %s", certFile, keyFile)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := ca.WriteCert(caFile); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{certFile: 0o644, keyFile: 0o600, caFile: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode = %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
		}
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Errorf("load written pair: %v", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: pool,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify against written CA file: %v", err)
	}
}
