package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Info describes one served certificate for operators (console, metrics).
type Info struct {
	Subject  string
	Names    []string // DNS and IP SANs
	Issuer   string
	Serial   string // hex
	NotAfter time.Time
	Source   string // "file:<path>" or "acme"
	KeyType  string // "RSA", "ECDSA", "Ed25519"
}

// FilePair is a certificate and key loaded from PEM files.
type FilePair struct {
	CertFile, KeyFile string
}

// Store serves certificates by SNI. The zero value is not usable; build one
// with NewStore. Safe for concurrent use.
type Store struct {
	mu    sync.Mutex // serialises loads; readers use cur
	pairs []FilePair
	cur   atomic.Pointer[set]
}

// set is an immutable snapshot of the loaded certificates.
type set struct {
	certs []*entry
	def   *entry // served when no name matches (the first loaded pair)
}

type entry struct {
	cert *tls.Certificate // Leaf populated
	info Info
}

// NewStore loads every pair; all must load for the store to be built.
func NewStore(pairs ...FilePair) (*Store, error) {
	s := &Store{pairs: pairs}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload re-reads every file pair. When any pair fails to load, the
// previous certificates stay in service and the error says which file is at
// fault; connections are never left without a certificate.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := &set{}
	for _, p := range s.pairs {
		e, err := loadPair(p)
		if err != nil {
			return err
		}
		next.certs = append(next.certs, e)
	}
	if len(next.certs) == 0 {
		return errors.New("no certificate configured")
	}
	next.def = next.certs[0]
	s.cur.Store(next)
	return nil
}

func loadPair(p FilePair) (*entry, error) {
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s with key %s: %w", p.CertFile, p.KeyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parse certificate %s: %w", p.CertFile, err)
		}
	}
	return &entry{cert: &c, info: describe(c.Leaf, "file:"+p.CertFile)}, nil
}

func describe(leaf *x509.Certificate, source string) Info {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	kt := "unknown"
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		kt = "RSA"
	case *ecdsa.PublicKey:
		kt = "ECDSA"
	case ed25519.PublicKey:
		kt = "Ed25519"
	}
	return Info{
		Subject:  leaf.Subject.String(),
		Names:    names,
		Issuer:   leaf.Issuer.String(),
		Serial:   hex.EncodeToString(leaf.SerialNumber.Bytes()),
		NotAfter: leaf.NotAfter,
		Source:   source,
		KeyType:  kt,
	}
}

// GetCertificate picks the certificate for a handshake: the first, in load
// order, whose names cover the SNI (exactly or by wildcard, as a verifying
// client would judge it), else the first loaded certificate (clients that
// connect by IP address send no SNI).
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cur := s.cur.Load()
	if cur == nil {
		return nil, errors.New("no certificate loaded")
	}
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if name != "" && len(cur.certs) > 1 {
		for _, e := range cur.certs {
			if e.cert.Leaf.VerifyHostname(name) == nil {
				return e.cert, nil
			}
		}
	}
	return cur.def.cert, nil
}

// Infos describes the certificates in service, in load order.
func (s *Store) Infos() []Info {
	cur := s.cur.Load()
	if cur == nil {
		return nil
	}
	out := make([]Info, len(cur.certs))
	for i, e := range cur.certs {
		out[i] = e.info
	}
	return out
}
