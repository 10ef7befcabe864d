package localca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyAlg selects the kind of private key generated for a CA or a leaf.
type KeyAlg int

// Key algorithms. The zero value is ECDSA on P-256.
const (
	ECDSAP256 KeyAlg = iota
	RSA2048
	Ed25519
)

// String returns the algorithm's name.
func (a KeyAlg) String() string {
	switch a {
	case ECDSAP256:
		return "ECDSA-P256"
	case RSA2048:
		return "RSA-2048"
	case Ed25519:
		return "Ed25519"
	}
	return fmt.Sprintf("KeyAlg(%d)", int(a))
}

// caValidity is how long a generated CA is valid. It outlives any leaf a
// caller might reasonably ask for; a CA lives only as long as its process.
const caValidity = 10 * 365 * 24 * time.Hour

// backdate moves NotBefore into the past so a peer whose clock is slightly
// behind still accepts a certificate issued a moment ago.
const backdate = time.Hour

// CA is a certificate authority held in memory. It is safe for concurrent use.
type CA struct {
	// Cert is the self-signed CA certificate.
	Cert *x509.Certificate
	key  crypto.Signer
}

// KeyPair is a leaf certificate with its private key, in PEM and as a
// tls.Certificate ready for a tls.Config.
type KeyPair struct {
	CertPEM []byte // "CERTIFICATE" block of the leaf only
	KeyPEM  []byte // PKCS #8 "PRIVATE KEY" block
	Cert    *x509.Certificate
	TLS     tls.Certificate
}

// NewCA generates a key of the given algorithm and a self-signed CA
// certificate with that common name.
func NewCA(commonName string, alg KeyAlg) (*CA, error) {
	key, err := generateKey(alg)
	if err != nil {
		return nil, fmt.Errorf("new ca %q: %w", commonName, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("new ca %q: %w", commonName, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Only leaves are issued, never intermediates.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new ca %q: create certificate: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("new ca %q: parse certificate: %w", commonName, err)
	}
	return &CA{Cert: cert, key: key}, nil
}

// CertPEM returns the CA certificate as a PEM "CERTIFICATE" block.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Pool returns a new pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WriteCert writes the CA certificate in PEM to path with mode 0644.
func (ca *CA) WriteCert(path string) error {
	if err := WriteFileMode(path, ca.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("write ca certificate: %w", err)
	}
	return nil
}

// IssueServer issues a server certificate (ExtKeyUsage serverAuth) for
// hosts, each a DNS name or an IP address, which become the subject
// alternative names; the common name is hosts[0]. validity must be positive.
func (ca *CA) IssueServer(hosts []string, alg KeyAlg, validity time.Duration) (*KeyPair, error) {
	if len(hosts) == 0 {
		return nil, errors.New("issue server certificate: no hosts")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if h == "" {
			return nil, errors.New("issue server certificate: empty host")
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	kp, err := ca.issue(tmpl, alg, validity)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate for %q: %w", hosts[0], err)
	}
	return kp, nil
}

// IssueClient issues a client certificate (ExtKeyUsage clientAuth) whose
// common name is commonName; PostgreSQL's cert authentication maps it to the
// role. validity must be positive.
func (ca *CA) IssueClient(commonName string, alg KeyAlg, validity time.Duration) (*KeyPair, error) {
	if commonName == "" {
		return nil, errors.New("issue client certificate: empty common name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	kp, err := ca.issue(tmpl, alg, validity)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate for %q: %w", commonName, err)
	}
	return kp, nil
}

// issue completes tmpl (serial, validity, key usage), signs it and packages
// the result.
func (ca *CA) issue(tmpl *x509.Certificate, alg KeyAlg, validity time.Duration) (*KeyPair, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("validity %v is not positive", validity)
	}
	key, err := generateKey(alg)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-backdate)
	tmpl.NotAfter = now.Add(validity)
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if alg == RSA2048 {
		// RSA key exchange in TLS 1.2 encrypts to the certificate's key.
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return &KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Cert:    cert,
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}, nil
}

// WriteFiles writes the certificate to dir/base.crt (mode 0644) and the key
// to dir/base.key (mode 0600) and returns both paths.
func (kp *KeyPair) WriteFiles(dir, base string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, base+".crt")
	keyFile = filepath.Join(dir, base+".key")
	if err := WriteFileMode(certFile, kp.CertPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("write certificate: %w", err)
	}
	if err := WriteFileMode(keyFile, kp.KeyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write private key: %w", err)
	}
	return certFile, keyFile, nil
}

func generateKey(alg KeyAlg) (crypto.Signer, error) {
	switch alg {
	case ECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate %v key: %w", alg, err)
		}
		return k, nil
	case RSA2048:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generate %v key: %w", alg, err)
		}
		return k, nil
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate %v key: %w", alg, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unknown key algorithm %v", alg)
}

// randomSerial returns a positive 128-bit serial number, as RFC 5280 asks
// serials to be unique per CA and at most 20 octets long.
func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

// WriteFileMode writes data to path and sets its mode to perm even when the
// file already existed with another mode (os.WriteFile keeps an existing
// file's mode, which would leave a key readable).
func WriteFileMode(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	// Tighten the mode before any secret bytes land in the file.
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
