package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
)

// ALPN protocol ids offered by the listener.
const (
	alpnPostgres = "postgresql"
	alpnACME     = acmez.ACMETLS1Protocol // "acme-tls/1", RFC 8737
)

// ACME serves certificates obtained from an ACME CA with certmagic.
// Build it with NewACME, call Start to obtain the managed certificates,
// and Stop to end background work. Safe for concurrent use.
type ACME struct {
	log       *slog.Logger
	challenge string
	domains   []string        // normalized, in configuration order
	managed   map[string]bool // the same names, for lookups
	allow     allowList
	httpAddr  string

	cache    *certmagic.Cache
	cfg      *certmagic.Config // Domains: renewed by the cache's maintenance
	onDemand *certmagic.Config // OnDemandAllow names; nil without any
	issuer   *certmagic.ACMEIssuer

	stopped atomic.Bool
	mu      sync.Mutex
	seen    []string // on-demand names served, for Infos
	started bool
	http    *httpResponder
}

// NewACME checks cfg and builds the certificate manager. It contacts no
// CA: Start does. The manager owns a maintenance goroutine from here on,
// so Stop must be called whether Start is called, fails or succeeds.
func NewACME(cfg ACMEConfig) (*ACME, error) {
	a := &ACME{log: cfg.Logger, managed: map[string]bool{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	if err := a.check(&cfg); err != nil {
		return nil, err
	}
	var roots *x509.CertPool
	if cfg.CARoot != "" {
		pem, err := os.ReadFile(cfg.CARoot)
		if err != nil {
			return nil, fmt.Errorf("acme_ca_root: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme_ca_root: no PEM certificate in %s", cfg.CARoot)
		}
	}
	ca := cfg.CA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	ratio := cfg.RenewRatio
	if ratio == 0 {
		ratio = defaultRenewRatio
	}
	var listenHost string
	var httpPort int
	if a.challenge == ChallengeHTTP {
		host, port, err := net.SplitHostPort(cfg.HTTPListen)
		if err != nil {
			return nil, fmt.Errorf("acme_http_listen: %w", err)
		}
		if httpPort, err = net.LookupPort("tcp", port); err != nil || httpPort == 0 {
			return nil, fmt.Errorf("acme_http_listen: port %q is not a fixed port", port)
		}
		// The ACME client tries to bind host:port for each validation; it
		// finds pgbun's responder there and leaves the answering to it.
		listenHost = host
		a.httpAddr = cfg.HTTPListen
	}

	zl := zapToSlog(a.log)
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   a.configFor,
		RenewCheckInterval: cfg.RenewCheckInterval,
		Logger:             zl,
	})
	storage := &certmagic.FileStorage{Path: cfg.Storage}
	build := func(od *certmagic.OnDemandConfig) *certmagic.Config {
		c := certmagic.New(a.cache, certmagic.Config{
			RenewalWindowRatio: ratio,
			OnDemand:           od,
			Storage:            storage,
			DisableARI:         cfg.DisableARI,
			Logger:             zl,
			OnEvent:            onEvent(cfg.OnEvent),
		})
		iss := certmagic.NewACMEIssuer(c, certmagic.ACMEIssuer{
			CA:                      ca,
			Email:                   cfg.Email,
			Agreed:                  true, // never prompt on stdin
			Profile:                 cfg.Profile,
			TrustedRoots:            roots,
			DisableHTTPChallenge:    a.challenge != ChallengeHTTP,
			DisableTLSALPNChallenge: a.challenge != ChallengeTLSALPN,
			ListenHost:              listenHost,
			AltHTTPPort:             httpPort,
			AltTLSALPNPort:          cfg.AltTLSALPNPort,
			Logger:                  zl,
		})
		c.Issuers = []certmagic.Issuer{iss}
		return c
	}
	a.cfg = build(nil)
	a.issuer = a.cfg.Issuers[0].(*certmagic.ACMEIssuer)
	if !a.allow.empty() {
		// A separate config: certmagic leaves every certificate of an
		// on-demand config to handshake-time maintenance, and the managed
		// domains must keep their background renewal.
		a.onDemand = build(&certmagic.OnDemandConfig{DecisionFunc: a.decide})
	}
	return a, nil
}

// configFor tells certmagic's cache which config manages a certificate.
func (a *ACME) configFor(c certmagic.Certificate) (*certmagic.Config, error) {
	for _, n := range c.Names {
		if a.managed[n] {
			return a.cfg, nil
		}
	}
	if a.onDemand != nil {
		return a.onDemand, nil
	}
	return a.cfg, nil
}

// decide is the on-demand DecisionFunc: certmagic asks it before every
// order and renewal during a handshake.
func (a *ACME) decide(_ context.Context, name string) error {
	if !a.allow.allows(normalizeName(name)) {
		return fmt.Errorf("server name %q is not in acme_on_demand_allow", name)
	}
	return nil
}

// Start starts the HTTP-01 responder when configured, then loads each
// managed domain's certificate from storage or obtains it, renewing
// stored ones that are due. It returns once all are in place, or with
// the first error; ctx bounds that work. Background renewal runs from
// then until Stop.
func (a *ACME) Start(ctx context.Context) error {
	a.mu.Lock()
	if a.started || a.stopped.Load() {
		a.mu.Unlock()
		return errors.New("acme: already started or stopped")
	}
	a.started = true
	if a.httpAddr != "" {
		h, err := startHTTPResponder(a.httpAddr, a.issuer, a.log)
		if err != nil {
			a.mu.Unlock()
			return err
		}
		a.http = h
	}
	a.mu.Unlock()
	if len(a.domains) == 0 {
		return nil
	}
	if err := a.cfg.ManageSync(ctx, a.domains); err != nil {
		return fmt.Errorf("acme: certificates for %s: %w", strings.Join(a.domains, ", "), err)
	}
	for _, inf := range a.Infos() {
		a.log.Info("acme certificate ready", "names", inf.Names, "serial", inf.Serial, "not_after", inf.NotAfter)
	}
	return nil
}

// Stop ends background renewal and the HTTP-01 responder and waits for
// them. Handshakes after Stop are served from the certificates in memory;
// nothing is obtained or renewed any more. Calling Stop again does
// nothing. To abandon a Start in progress, cancel its context.
func (a *ACME) Stop() {
	if a.stopped.Swap(true) {
		return
	}
	a.mu.Lock()
	h := a.http
	a.mu.Unlock()
	if h != nil {
		h.stop()
	}
	a.cache.Stop()
}

// GetCertificate serves a handshake from ACME alone, in this order:
// (1) a TLS-ALPN-01 challenge (the client offers only ALPN "acme-tls/1")
// is answered with the challenge certificate; (2) a managed certificate,
// or an on-demand one for an allowed name (obtained during this
// handshake if needed), whose name is the SNI; (3) the first managed
// domain's certificate. Errors name the SNI. The returned certificate has
// Leaf set and is the one the handshake serves.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if a.answersChallenge(hello) {
		return a.challengeCert(hello)
	}
	c, err := a.certFor(hello)
	if c != nil {
		return c, nil
	}
	if f := a.first(); f != nil {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no acme certificate for server name %q", hello.ServerName)
}

// tlsALPN reports whether the CA validates through the TLS listener.
func (a *ACME) tlsALPN() bool { return a.challenge == ChallengeTLSALPN }

// answersChallenge reports whether hello is a TLS-ALPN-01 validation:
// RFC 8737 has the CA offer "acme-tls/1" as its only protocol.
func (a *ACME) answersChallenge(hello *tls.ClientHelloInfo) bool {
	return a.tlsALPN() && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == alpnACME
}

func (a *ACME) challengeCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c, err := a.cfg.GetCertificate(hello)
	if err != nil {
		return nil, fmt.Errorf("acme challenge for server name %q: %w", hello.ServerName, err)
	}
	return withLeaf(c)
}

// certFor returns the certificate whose name is the SNI: a managed one,
// or an on-demand one for an allowed name. It returns nil, nil when ACME
// has none for that name and may not obtain one.
func (a *ACME) certFor(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := serverName(hello)
	if name == "" {
		return nil, nil
	}
	managed := a.managed[name]
	allowed := !managed && a.onDemand != nil && a.allow.allows(name)
	if !managed && !allowed {
		return nil, nil
	}
	if managed || a.stopped.Load() {
		// Serve what is in memory, through the config without on-demand
		// (no order, no renewal). Ask certmagic only when it holds the
		// certificate: for a name it does not hold it would fall back to
		// its own defaults.
		if len(a.cache.AllMatchingCertificates(name)) == 0 {
			return nil, nil
		}
		c, err := a.cfg.GetCertificate(hello)
		if err != nil {
			return nil, fmt.Errorf("acme certificate for server name %q: %w", name, err)
		}
		return withLeaf(c)
	}
	c, err := a.onDemand.GetCertificate(hello)
	if err != nil {
		a.log.Warn("on-demand certificate not available", "server_name", name, "err", err)
		return nil, fmt.Errorf("on-demand certificate for server name %q: %w", name, err)
	}
	a.remember(name)
	return withLeaf(c)
}

// first returns the first managed domain's certificate, preferring one
// that has not expired, or nil.
func (a *ACME) first() *tls.Certificate {
	for _, d := range a.domains {
		cs := a.cache.AllMatchingCertificates(d)
		if len(cs) == 0 {
			continue
		}
		pick := cs[0]
		for _, c := range cs {
			if !c.Expired() {
				pick = c
				break
			}
		}
		if c, err := withLeaf(&pick.Certificate); err == nil {
			return c
		}
	}
	return nil
}

func (a *ACME) remember(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range a.seen {
		if n == name {
			return
		}
	}
	a.seen = append(a.seen, name)
}

// Infos describes the ACME certificates in memory: managed domains in
// configuration order, then on-demand names in the order first served.
func (a *ACME) Infos() []Info {
	a.mu.Lock()
	names := append(append([]string(nil), a.domains...), a.seen...)
	a.mu.Unlock()
	var out []Info
	hashes := map[string]bool{}
	for _, n := range names {
		for _, c := range a.cache.AllMatchingCertificates(n) {
			if hashes[c.Hash()] || c.Leaf == nil {
				continue
			}
			hashes[c.Hash()] = true
			out = append(out, describe(c.Leaf, "acme"))
		}
	}
	return out
}

// withLeaf makes sure c.Leaf is set, parsing a copy when certmagic left
// it nil (challenge certificates): the gateway hashes the Leaf of the
// certificate it served for channel binding.
func withLeaf(c *tls.Certificate) (*tls.Certificate, error) {
	if c == nil || c.Leaf != nil {
		return c, nil
	}
	if len(c.Certificate) == 0 {
		return nil, errors.New("acme returned an empty certificate")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parse acme certificate: %w", err)
	}
	cp := *c
	cp.Leaf = leaf
	return &cp, nil
}

// onEvent adapts a plain event callback to certmagic's, which may veto
// some events by returning an error: pgbun never vetoes.
func onEvent(f func(string, map[string]any)) func(context.Context, string, map[string]any) error {
	if f == nil {
		return nil
	}
	return func(_ context.Context, event string, data map[string]any) error {
		f(event, data)
		return nil
	}
}
