package authn

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

// selfSigned returns a certificate signed by key with algo.
func selfSigned(t *testing.T, key crypto.Signer, algo x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(1),
		Subject:            pkix.Name{CommonName: "pgbun test"},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(time.Hour),
		SignatureAlgorithm: algo,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestTLSServerEndpoint(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sum256 := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	sum384 := func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
	sum512 := func(b []byte) []byte { s := sha512.Sum512(b); return s[:] }
	tests := []struct {
		name string
		key  crypto.Signer
		algo x509.SignatureAlgorithm
		hash func([]byte) []byte // nil: no binding
	}{
		{"rsa sha256", rsaKey, x509.SHA256WithRSA, sum256},
		{"rsa sha384", rsaKey, x509.SHA384WithRSA, sum384},
		{"rsa-pss sha512", rsaKey, x509.SHA512WithRSAPSS, sum512},
		{"ecdsa sha256", ecKey, x509.ECDSAWithSHA256, sum256},
		{"ecdsa sha384", ecKey, x509.ECDSAWithSHA384, sum384},
		{"ed25519", edKey, x509.PureEd25519, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := selfSigned(t, tt.key, tt.algo)
			got := TLSServerEndpoint(cert)
			if tt.hash == nil {
				if got != nil {
					t.Fatalf("binding offered for %v", tt.algo)
				}
				return
			}
			if want := tt.hash(cert.Raw); !bytes.Equal(got, want) {
				t.Fatalf("binding %x, want %x", got, want)
			}
		})
	}
	if TLSServerEndpoint(nil) != nil {
		t.Fatal("nil certificate")
	}
	// SHA-1 signatures use SHA-256 (RFC 5929 section 4.1); Go no longer
	// signs with SHA-1, so relabel a parsed certificate.
	cert := selfSigned(t, rsaKey, x509.SHA256WithRSA)
	cert.SignatureAlgorithm = x509.SHA1WithRSA
	if !bytes.Equal(TLSServerEndpoint(cert), sum256(cert.Raw)) {
		t.Fatal("SHA-1 signature must bind with SHA-256")
	}
	cert.SignatureAlgorithm = x509.UnknownSignatureAlgorithm
	if TLSServerEndpoint(cert) != nil {
		t.Fatal("unknown signature algorithm must not bind")
	}
}

func TestTLSServerEndpointMatchesXDGClient(t *testing.T) {
	// What a client computes from the peer certificate must equal what the
	// server computes from the certificate it served.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t, ecKey, x509.ECDSAWithSHA256)
	cb, err := scram.NewTLSServerEndpointBinding(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cb.Data, TLSServerEndpoint(cert)) {
		t.Fatal("client and server binding data differ")
	}
}
