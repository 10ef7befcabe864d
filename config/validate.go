package config

import (
	"sort"
	"strings"
)

// validate runs the checks that involve more than one key. Each problem is
// reported at the line of the key that made the combination invalid.
func (p *parser) validate() error {
	g := &p.cfg.General
	c := g.ClientTLS
	verifies := c.SSLMode == SSLVerifyCA || c.SSLMode == SSLVerifyFull
	acme := g.ACME.Enabled()
	if c.SSLMode != SSLDisable && (c.KeyFile == "" || c.CertFile == "") && !acme {
		return p.errorAtKey("client_tls_sslmode", "%s needs client_tls_key_file and client_tls_cert_file (or acme_domains)", c.SSLMode)
	}
	// Half a pair is a pair being set one key at a time (console SET, key
	// first, as PgBouncer allows): nothing uses it until the other half
	// comes, which client_tls_sslmode other than disable requires (above).
	if (c.KeyFile == "") != (c.CertFile == "") {
		if c.KeyFile == "" {
			p.warnAtKey("client_tls_cert_file", "set without client_tls_key_file: not used until both are set")
		} else {
			p.warnAtKey("client_tls_key_file", "set without client_tls_cert_file: not used until both are set")
		}
	}
	if acme {
		key := "acme_domains"
		if len(g.ACME.Domains) == 0 {
			key = "acme_on_demand_allow"
		}
		if c.SSLMode == SSLDisable {
			return p.errorAtKey(key, "needs client_tls_sslmode prefer, require or stricter: certificates are for TLS clients")
		}
		if g.ACME.Email == "" {
			return p.errorAtKey(key, "needs acme_email (the ACME account's contact)")
		}
		if g.ACME.Challenge == "http-01" && g.ACME.HTTPListen == "" {
			return p.errorAtKey("acme_challenge", "http-01 needs acme_http_listen (the port the ACME server's HTTP requests reach)")
		}
	}
	for _, pair := range c.ExtraCerts {
		if len(strings.Fields(pair)) != 2 {
			return p.errorAtKey("client_tls_sni_certs", "%q is not a certificate file and a key file separated by a space", pair)
		}
	}
	if len(c.ExtraCerts) > 0 && (c.CertFile == "" || c.KeyFile == "") {
		return p.errorAtKey("client_tls_sni_certs", "needs client_tls_cert_file and client_tls_key_file (the default certificate)")
	}
	if c.SNIRequired && c.SSLMode == SSLDisable {
		return p.errorAtKey("client_tls_sni_required", "needs client TLS (client_tls_sslmode)")
	}
	if verifies && c.CAFile == "" {
		return p.errorAtKey("client_tls_sslmode", "%s needs client_tls_ca_file to check client certificates", c.SSLMode)
	}
	s := g.ServerTLS
	if s.KeyFile != "" && s.CertFile == "" {
		p.warnAtKey("server_tls_key_file", "set without server_tls_cert_file: pgbun presents no certificate to servers until both are set")
	}
	if s.CertFile != "" && s.KeyFile == "" {
		p.warnAtKey("server_tls_cert_file", "set without server_tls_key_file: pgbun presents no certificate to servers until both are set")
	}
	switch g.AuthType {
	case AuthHBA:
		if g.AuthHBAFile == "" {
			return p.errorAtKey("auth_type", "hba needs auth_hba_file")
		}
	case AuthCert:
		if !verifies {
			return p.errorAtKey("auth_type", "cert needs client_tls_sslmode verify-ca or verify-full")
		}
	case AuthAny:
		// Without a forced user a client could name any role and get in.
		names := make([]string, 0, len(p.cfg.Databases))
		for name := range p.cfg.Databases {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if db := p.cfg.Databases[name]; db.User == "" {
				return &Error{File: db.File, Line: db.Line, Key: name,
					Problem: "auth_type any needs every database to force a user with user="}
			}
		}
	}
	return nil
}

// errorAtKey reports a problem at the line that set key, or at the top of
// the main file when key kept its default.
// warnAtKey records a warning at the line of key.
func (p *parser) warnAtKey(key, msg string) {
	at, ok := p.set[key]
	if !ok {
		at = loc{p.main, 1}
	}
	p.warn(at, key, msg)
}

func (p *parser) errorAtKey(key, format string, args ...any) *Error {
	at, ok := p.set[key]
	if !ok {
		at = loc{p.main, 1}
	}
	return p.errorf(at, key, format, args...)
}
