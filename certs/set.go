package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// Set combines the certificate sources of one TLS listener: key and
// certificate files (a Store) and ACME. Either may be nil. Safe for
// concurrent use; it holds no state of its own.
type Set struct {
	files *Store
	acme  *ACME
}

// NewSet combines files and acme; either may be nil.
func NewSet(files *Store, acme *ACME) *Set {
	return &Set{files: files, acme: acme}
}

// GetCertificate picks the certificate for a handshake, in this order:
//
//  1. a TLS-ALPN-01 validation (the client offers only ALPN "acme-tls/1")
//     is answered by ACME with its challenge certificate;
//  2. a file certificate whose names cover the SNI (exactly or by
//     wildcard), first in load order;
//  3. an ACME certificate for the SNI: a managed domain, or an on-demand
//     name allowed by acme_on_demand_allow, obtained during this handshake
//     when there is none yet;
//  4. the default file certificate (the first loaded pair);
//  5. the first managed ACME domain's certificate.
//
// Clients without SNI (connections by IP address) get 4 or 5. Errors name
// the SNI. The certificate returned has Leaf set and is exactly the one
// the handshake serves, which channel binding depends on.
func (s *Set) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.acme != nil && s.acme.answersChallenge(hello) {
		return s.acme.challengeCert(hello)
	}
	name := serverName(hello)
	if s.files != nil {
		if c := s.files.match(name); c != nil {
			return c, nil
		}
	}
	var acmeErr error
	if s.acme != nil {
		c, err := s.acme.certFor(hello)
		if c != nil {
			return c, nil
		}
		acmeErr = err
	}
	if s.files != nil {
		if c := s.files.fallback(); c != nil {
			return c, nil
		}
	}
	if s.acme != nil {
		if c := s.acme.first(); c != nil {
			return c, nil
		}
	}
	if acmeErr != nil {
		return nil, acmeErr
	}
	if s.files == nil && s.acme == nil {
		return nil, errors.New("no certificate source configured")
	}
	return nil, fmt.Errorf("no certificate for server name %q", hello.ServerName)
}

// NextProtos is the ALPN list the listener's tls.Config must offer:
// "postgresql", plus "acme-tls/1" when ACME validates with TLS-ALPN-01.
func (s *Set) NextProtos() []string {
	if s.acme != nil && s.acme.tlsALPN() {
		return []string{alpnPostgres, alpnACME}
	}
	return []string{alpnPostgres}
}

// Infos describes the certificates in service: files in load order, then
// ACME certificates.
func (s *Set) Infos() []Info {
	var out []Info
	if s.files != nil {
		out = append(out, s.files.Infos()...)
	}
	if s.acme != nil {
		out = append(out, s.acme.Infos()...)
	}
	return out
}
