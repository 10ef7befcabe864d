package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	// bad is the digest of file contents that last failed to load, so a
	// watcher reports a broken file once, not on every later event.
	bad [sha256.Size]byte
}

// set is an immutable snapshot of the loaded certificates.
type set struct {
	certs  []*entry
	def    *entry            // served when no name matches (the first loaded pair)
	digest [sha256.Size]byte // of every file's bytes, in pair order
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

// Pairs returns the files the store reads.
func (s *Store) Pairs() []FilePair { return slices.Clone(s.pairs) }

// Reload re-reads every file pair. When any pair fails to load, the
// previous certificates stay in service and the error says which file is at
// fault; connections are never left without a certificate.
func (s *Store) Reload() error {
	commit, err := s.Stage()
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Stage re-reads every file pair and builds their certificates without
// putting them in service: commit does that, so a caller can stage the
// certificates with the rest of a new configuration and apply them only if
// all of it is sound. An error leaves the certificates in service as they
// are.
func (s *Store) Stage() (commit func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	files, digest, err := s.read()
	if err != nil {
		return nil, err
	}
	next, err := s.build(files, digest)
	if err != nil {
		return nil, err
	}
	return func() { s.cur.Store(next) }, nil
}

// reloadIfChanged reloads when the files' bytes differ from the ones in
// service. It reports whether it swapped in new certificates; a content it
// already failed to load is not tried (nor reported) again.
func (s *Store) reloadIfChanged() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	files, digest, err := s.read()
	if cur := s.cur.Load(); err == nil && cur != nil && cur.digest == digest {
		s.bad = [sha256.Size]byte{} // back to the contents in service
		return false, nil
	}
	if digest == s.bad {
		return false, nil
	}
	var next *set
	if err == nil {
		next, err = s.build(files, digest)
	}
	if err != nil {
		s.bad = digest
		return false, err
	}
	s.bad = [sha256.Size]byte{}
	s.cur.Store(next)
	return true, nil
}

// pemPair is one pair's file contents.
type pemPair struct {
	pair      FilePair
	cert, key []byte
}

// read reads every file once. On a read error the digest still covers
// what was read plus the failing path, so a persistent error is
// recognised as the same failure.
func (s *Store) read() ([]pemPair, [sha256.Size]byte, error) {
	h := sha256.New()
	out := make([]pemPair, 0, len(s.pairs))
	for _, p := range s.pairs {
		c, err := os.ReadFile(p.CertFile)
		if err != nil {
			h.Write([]byte("error:" + p.CertFile))
			return nil, sum(h.Sum(nil)), fmt.Errorf("load certificate %s with key %s: %w", p.CertFile, p.KeyFile, err)
		}
		k, err := os.ReadFile(p.KeyFile)
		if err != nil {
			h.Write([]byte("error:" + p.KeyFile))
			return nil, sum(h.Sum(nil)), fmt.Errorf("load certificate %s with key %s: %w", p.CertFile, p.KeyFile, err)
		}
		// Length prefixes keep "ab"+"c" and "a"+"bc" apart.
		fmt.Fprintf(h, "%d:%d:", len(c), len(k))
		h.Write(c)
		h.Write(k)
		out = append(out, pemPair{pair: p, cert: c, key: k})
	}
	return out, sum(h.Sum(nil)), nil
}

func sum(b []byte) (d [sha256.Size]byte) {
	copy(d[:], b)
	return d
}

func (s *Store) build(files []pemPair, digest [sha256.Size]byte) (*set, error) {
	next := &set{digest: digest}
	for _, f := range files {
		e, err := parsePair(f)
		if err != nil {
			return nil, err
		}
		next.certs = append(next.certs, e)
	}
	if len(next.certs) == 0 {
		return nil, errors.New("no certificate configured")
	}
	next.def = next.certs[0]
	return next, nil
}

func parsePair(f pemPair) (*entry, error) {
	p := f.pair
	c, err := tls.X509KeyPair(f.cert, f.key)
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
	if len(cur.certs) > 1 {
		if c := cur.match(serverName(hello)); c != nil {
			return c, nil
		}
	}
	return cur.def.cert, nil
}

// match returns the first certificate whose names cover name, or nil.
func (s *Store) match(name string) *tls.Certificate {
	if cur := s.cur.Load(); cur != nil {
		return cur.match(name)
	}
	return nil
}

// fallback returns the default certificate, or nil before the first load.
func (s *Store) fallback() *tls.Certificate {
	if cur := s.cur.Load(); cur != nil {
		return cur.def.cert
	}
	return nil
}

func (cur *set) match(name string) *tls.Certificate {
	if name == "" {
		return nil
	}
	for _, e := range cur.certs {
		if e.cert.Leaf.VerifyHostname(name) == nil {
			return e.cert
		}
	}
	return nil
}

// serverName is the client's SNI in the form certificates are matched
// against: lower case, without a trailing dot.
func serverName(hello *tls.ClientHelloInfo) string {
	return strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
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

// dirs returns the directories holding the store's files, each once.
func (s *Store) dirs() []string {
	var out []string
	for _, p := range s.pairs {
		for _, f := range []string{p.CertFile, p.KeyFile} {
			if d := filepath.Dir(filepath.Clean(f)); !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}
