package certs

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ACME challenge types (acme_challenge).
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
)

// defaultRenewRatio renews when a third of the lifetime is left, as
// Let's Encrypt advises for its 90-day certificates.
const defaultRenewRatio = 1.0 / 3.0

// ACMEConfig configures certificates obtained and renewed with ACME. The
// comment of each field names its configuration key.
type ACMEConfig struct {
	// Domains (acme_domains) are obtained at start-up and renewed in the
	// background. DNS names only; wildcards would need the DNS-01
	// challenge, which pgbun does not solve.
	Domains []string
	// Email (acme_email) registers the ACME account. Required when Domains
	// or OnDemandAllow is set. Configuring ACME accepts the CA's terms of
	// service on the operator's behalf.
	Email string
	// CA (acme_ca) is the ACME directory URL. Empty means Let's Encrypt
	// production.
	CA string
	// CARoot (acme_ca_root) is a PEM file with the root(s) that sign the
	// ACME server's own HTTPS certificate, for private ACME servers. When
	// set, only these roots are trusted for that connection.
	CARoot string
	// Storage (acme_storage, required) is the directory holding accounts,
	// keys, certificates and locks. Several pgbun instances that share it
	// (a network file system) share certificates and never order the
	// same certificate twice at once.
	Storage string
	// Challenge (acme_challenge) is ChallengeTLSALPN (the default) or
	// ChallengeHTTP.
	//
	// TLS-ALPN-01: the CA connects to port 443 of each name. When pgbun's
	// listener is there, it answers through Set.GetCertificate (its
	// tls.Config must offer Set.NextProtos); when nothing listens there,
	// the ACME client binds the port for the time of the validation.
	//
	// HTTP-01: the CA fetches http://name/.well-known/acme-challenge/ on
	// port 80; pgbun serves it on HTTPListen.
	Challenge string
	// HTTPListen (acme_http_listen) is the host:port of pgbun's HTTP-01
	// responder, e.g. ":80". Required with ChallengeHTTP, refused without.
	HTTPListen string
	// RenewRatio (acme_renew_ratio) renews a certificate when this
	// fraction of its lifetime is left. 0 means 1/3; otherwise it must lie
	// between 0 and 1.
	RenewRatio float64
	// OnDemandAllow (acme_on_demand_allow) lists the names for which a
	// certificate is obtained during the first handshake that asks for it:
	// exact names or "*.suffix" (one label in front of suffix). Other
	// server names never cause an order. On-demand certificates are
	// renewed during handshakes, not in the background, so a name nobody
	// connects to lets its certificate expire.
	OnDemandAllow []string
	// Logger receives ACME events. nil means slog.Default().
	Logger *slog.Logger
	// OnEvent, when set, hears certmagic's certificate events
	// ("cert_obtaining", "cert_obtained", "cert_failed", ...) with their
	// data (identifiers, issuer, renewal flag, error), for audit logs and
	// metrics. It must not block.
	OnEvent func(event string, data map[string]any)

	// Advanced settings, mostly for tests against a private ACME server.

	// AltTLSALPNPort is the port on which the CA's TLS-ALPN-01 connections
	// reach this host, when a port forward sends port 443 elsewhere.
	// 0 means 443.
	AltTLSALPNPort int
	// Profile selects an ACME certificate profile the CA offers (for
	// example Let's Encrypt's "shortlived"). Empty means the CA's default.
	Profile string
	// DisableARI stops asking the CA for ACME Renewal Information; renewal
	// then follows RenewRatio alone.
	DisableARI bool
	// RenewCheckInterval is how often managed certificates are checked for
	// renewal. 0 means certmagic's default (10 minutes). Short-lived
	// certificates need a short interval: a certificate with less than
	// five intervals left is renewed at once.
	RenewCheckInterval time.Duration
}

// check validates cfg and fills a's normalized settings.
func (a *ACME) check(cfg *ACMEConfig) error {
	for _, d := range cfg.Domains {
		n := normalizeName(d)
		if strings.HasPrefix(n, "*.") {
			return fmt.Errorf("acme_domains: %q: wildcard certificates need the DNS-01 challenge, which pgbun does not solve", d)
		}
		if err := checkHostname(n); err != nil {
			return fmt.Errorf("acme_domains: %w", err)
		}
		if !a.managed[n] {
			a.managed[n] = true
			a.domains = append(a.domains, n)
		}
	}
	allow, err := parseAllowList(cfg.OnDemandAllow)
	if err != nil {
		return fmt.Errorf("acme_on_demand_allow: %w", err)
	}
	a.allow = allow
	if len(a.domains) == 0 && allow.empty() {
		return errors.New("acme: neither acme_domains nor acme_on_demand_allow names a certificate")
	}
	if e := strings.TrimSpace(cfg.Email); e == "" || !strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n") {
		return errors.New("acme_email: an e-mail address is required for the ACME account")
	}
	if cfg.Storage == "" {
		return errors.New("acme_storage: a directory is required")
	}
	switch cfg.Challenge {
	case "", ChallengeTLSALPN:
		a.challenge = ChallengeTLSALPN
		if cfg.HTTPListen != "" {
			return fmt.Errorf("acme_http_listen is set but acme_challenge is %s", ChallengeTLSALPN)
		}
	case ChallengeHTTP:
		a.challenge = ChallengeHTTP
		if cfg.HTTPListen == "" {
			return fmt.Errorf("acme_challenge %s needs acme_http_listen", ChallengeHTTP)
		}
	default:
		return fmt.Errorf("acme_challenge: %q is neither %s nor %s", cfg.Challenge, ChallengeTLSALPN, ChallengeHTTP)
	}
	if cfg.RenewRatio < 0 || cfg.RenewRatio >= 1 {
		return fmt.Errorf("acme_renew_ratio: %v is not between 0 and 1", cfg.RenewRatio)
	}
	if cfg.RenewCheckInterval < 0 {
		return fmt.Errorf("acme: negative renew check interval %v", cfg.RenewCheckInterval)
	}
	if cfg.AltTLSALPNPort < 0 || cfg.AltTLSALPNPort > 65535 {
		return fmt.Errorf("acme: TLS-ALPN port %d out of range", cfg.AltTLSALPNPort)
	}
	return nil
}
