package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/pgbun/pgbun/config"
)

// ALPNPostgres is the ALPN protocol id of PostgreSQL (registered by
// PostgreSQL 17 for direct TLS); clients that send ALPN must send this one.
const ALPNPostgres = "postgresql"

// Client is the TLS side pgbun presents to its clients.
type Client struct {
	Mode   config.SSLMode
	Config *tls.Config // nil when Mode is disable
	Note   string      // a remark for the log (e.g. approximated ciphers), or ""
}

// GetCertificateFunc picks the certificate for one handshake.
type GetCertificateFunc func(*tls.ClientHelloInfo) (*tls.Certificate, error)

// ForClients builds the server-side TLS configuration from client_tls_*
// settings. getCert supplies certificates (a certs.Store); it may be nil
// only when TLS is disabled.
func ForClients(s config.ClientTLS, getCert GetCertificateFunc) (*Client, error) {
	c := &Client{Mode: s.SSLMode}
	if s.SSLMode == config.SSLDisable || s.SSLMode == "" {
		c.Mode = config.SSLDisable
		return c, nil
	}
	if getCert == nil {
		return nil, errors.New("client TLS enabled without a certificate")
	}
	min, max, err := ParseProtocols(s.Protocols)
	if err != nil {
		return nil, fmt.Errorf("client_tls_protocols: %w", err)
	}
	suites, note, err := ParseCiphers(s.Ciphers)
	if err != nil {
		return nil, fmt.Errorf("client_tls_ciphers: %w", err)
	}
	c.Note = note
	cfg := &tls.Config{
		MinVersion:     min,
		MaxVersion:     max,
		CipherSuites:   suites,
		GetCertificate: getCert,
		NextProtos:     []string{ALPNPostgres},
		// No session tickets, as in PostgreSQL. A resumed session keeps
		// the certificate of an earlier handshake and (in TLS 1.3) skips
		// GetCertificate, so pgbun would not know which certificate
		// SCRAM-SHA-256-PLUS binds to. Every connection makes a full
		// handshake, and no ticket is minted after each one.
		SessionTicketsDisabled: true,
	}
	switch s.SSLMode {
	case config.SSLVerifyCA, config.SSLVerifyFull:
		pool, err := loadPool(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("client_tls_ca_file: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		// A CA without a verify mode still lets clients that present a
		// certificate have it checked, so cert-based policy can use it.
		if s.CAFile != "" {
			pool, err := loadPool(s.CAFile)
			if err != nil {
				return nil, fmt.Errorf("client_tls_ca_file: %w", err)
			}
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	c.Config = cfg
	return c, nil
}

// Required reports whether plaintext client connections must be refused.
func (c *Client) Required() bool {
	switch c.Mode {
	case config.SSLRequire, config.SSLVerifyCA, config.SSLVerifyFull:
		return true
	}
	return false
}

// Enabled reports whether pgbun accepts TLS from clients.
func (c *Client) Enabled() bool { return c.Config != nil }

// Server is the TLS side pgbun uses towards PostgreSQL.
type Server struct {
	Mode  config.SSLMode
	roots *x509.CertPool // nil = system roots
	base  *tls.Config
}

// ForServers builds the client-side TLS configuration from server_tls_*.
func ForServers(s config.ServerTLS) (*Server, error) {
	sv := &Server{Mode: s.SSLMode}
	if sv.Mode == "" {
		sv.Mode = config.SSLPrefer
	}
	if sv.Mode == config.SSLDisable {
		return sv, nil
	}
	min, max, err := ParseProtocols(s.Protocols)
	if err != nil {
		return nil, fmt.Errorf("server_tls_protocols: %w", err)
	}
	suites, _, err := ParseCiphers(s.Ciphers)
	if err != nil {
		return nil, fmt.Errorf("server_tls_ciphers: %w", err)
	}
	sv.base = &tls.Config{MinVersion: min, MaxVersion: max, CipherSuites: suites}
	if s.CAFile != "" {
		if sv.roots, err = loadPool(s.CAFile); err != nil {
			return nil, fmt.Errorf("server_tls_ca_file: %w", err)
		}
	}
	if s.CertFile != "" && s.KeyFile != "" { // half a pair is not used (see config)
		pair, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("server_tls_cert_file/server_tls_key_file: %w", err)
		}
		sv.base.Certificates = []tls.Certificate{pair}
	}
	return sv, nil
}

// Wanted reports whether pgbun asks the server for TLS at all.
func (s *Server) Wanted() bool {
	return s.Mode != config.SSLDisable && s.Mode != config.SSLAllow
}

// Required reports whether a server that refuses TLS must be refused.
func (s *Server) Required() bool {
	switch s.Mode {
	case config.SSLRequire, config.SSLVerifyCA, config.SSLVerifyFull:
		return true
	}
	return false
}

// Config returns the configuration for one connection to host (a name or
// an IP literal). As in libpq, require and weaker modes encrypt without
// verifying, verify-ca checks the chain, verify-full the chain and name.
func (s *Server) Config(host string) *tls.Config {
	base := s.base
	if base == nil {
		// allow mode retries with TLS after a plaintext refusal.
		base = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg := base.Clone()
	switch s.Mode {
	case config.SSLVerifyFull:
		cfg.ServerName = host
		cfg.RootCAs = s.roots
	case config.SSLVerifyCA:
		roots := s.roots
		cfg.InsecureSkipVerify = true // the chain is checked below, the name is not
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, roots)
		}
	default:
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

func verifyChain(certs []*x509.Certificate, roots *x509.CertPool) error {
	if len(certs) == 0 {
		return errors.New("server presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	if err != nil {
		return fmt.Errorf("verify server certificate chain: %w", err)
	}
	return nil
}

func loadPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, errors.New("no CA file configured")
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
