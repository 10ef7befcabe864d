package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/pgbun/pgbun/certs"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/policy"
)

// acmeStartTimeout bounds obtaining the managed certificates at start-up.
const acmeStartTimeout = 5 * time.Minute

// newACME prepares the certificate manager the configuration asks for;
// StartCertificates then obtains the certificates. acme_* settings cannot
// change at run time.
func (g *Gateway) newACME(cfg *config.Config) error {
	a := &cfg.General.ACME
	if !a.Enabled() {
		return nil
	}
	acme, err := certs.NewACME(certs.ACMEConfig{
		Domains:       a.Domains,
		Email:         a.Email,
		CA:            a.CA,
		CARoot:        a.CARoot,
		Storage:       a.Storage,
		Challenge:     a.Challenge,
		HTTPListen:    a.HTTPListen,
		RenewRatio:    a.RenewRatio,
		OnDemandAllow: a.OnDemandAllow,
		Logger:        g.log,
		OnEvent:       g.certEvent,

		AltTLSALPNPort:     altPort(a.TLSALPNPort),
		RenewCheckInterval: a.CheckInterval,
		DisableARI:         !a.ARI,
	})
	if err != nil {
		return err
	}
	g.acme = acme
	return nil
}

// StartCertificates obtains (or loads from acme_storage) the ACME
// certificates and starts renewing them; it returns when they are in
// place. Call it once the listeners are served: with TLS-ALPN-01 on
// pgbun's own port, the CA's validation arrives through them.
func (g *Gateway) StartCertificates(ctx context.Context) error {
	if g.acme == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, acmeStartTimeout)
	defer cancel()
	return g.acme.Start(ctx)
}

// certEvent audits certificate events from ACME.
func (g *Gateway) certEvent(event string, data map[string]any) {
	switch event {
	case "cert_obtained", "cert_failed", "cert_ocsp_revoked":
	default:
		return
	}
	attrs := []any{}
	for _, k := range []string{"identifier", "renewal", "issuer", "remaining", "error"} {
		if v, ok := data[k]; ok {
			attrs = append(attrs, k, fmt.Sprint(v))
		}
	}
	g.audit.event(event, attrs...)
	if event == "cert_failed" {
		g.log.Error("certificate not obtained", attrs...)
	} else {
		g.log.Info("certificate event", append([]any{"event", event}, attrs...)...)
	}
}

// watchFiles keeps the certificate files of st watched, replacing the
// watch when a reload named other files.
func (g *Gateway) watchFiles(st *state) {
	if st.files == g.watching {
		return
	}
	if g.stopWatch != nil {
		g.stopWatch()
		g.stopWatch = nil
	}
	g.watching = st.files
	if st.files == nil {
		return
	}
	ctx, cancel := context.WithCancel(g.bg)
	g.stopWatch = cancel
	g.wg.Add(1)
	go func(s *certs.Store) {
		defer g.wg.Done()
		if err := s.Watch(ctx, g.log); err != nil && ctx.Err() == nil {
			g.log.Warn("certificate files are not watched; they reload on SIGHUP only", "err", err)
		}
	}(st.files)
}

// stopEdge releases what New started for certificates and auditing.
func (g *Gateway) stopEdge() {
	if g.stopWatch != nil {
		g.stopWatch()
	}
	if g.acme != nil {
		g.acme.Stop()
	}
	g.audit.close()
}

// loginCPU runs f, CPU-heavy login work (SCRAM key derivation, proofs),
// with at most GOMAXPROCS/2 such calls at once, so a flood of logins cannot
// take every core from clients already served.
func (g *Gateway) loginCPU(f func()) {
	g.loginWork <- struct{}{}
	defer func() { <-g.loginWork }()
	f()
}

// revokeSessions closes the sessions the new hba rules no longer allow.
func (g *Gateway) revokeSessions(st *state) {
	if st.hba == nil {
		return
	}
	g.mu.Lock()
	var revoked []*client
	for c := range g.clients {
		if !c.ready.Load() { // not logged in yet: the new rules apply at login
			continue
		}
		rule, ok := st.hba.Match(hbaRequest(c))
		if !ok || rule.Method == policy.MethodReject || !sameMethodFamily(c.method, rule.Method) {
			revoked = append(revoked, c)
		}
	}
	g.mu.Unlock()
	for _, c := range revoked {
		g.log.Warn("session closed: auth_hba_file no longer allows it", "client", c.Addr, "user", c.User, "database", c.dbname)
		g.audit.event("session_revoked", "user", c.User, "database", c.dbname, "addr", c.Addr, "reason", "auth_hba_file changed")
		c.Kill(wire.Fatal(wire.CodeInvalidAuthSpec, "connection no longer allowed by the access rules (pg_hba)"))
	}
}

// sameMethodFamily reports whether a session authenticated with method
// still satisfies rule method m: password methods are interchangeable
// (md5 switches to SCRAM for SCRAM secrets), cert and trust stand alone.
func sameMethodFamily(method string, m policy.Method) bool {
	password := func(s string) bool {
		return s == string(policy.MethodMD5) || s == string(policy.MethodSCRAM) || s == string(policy.MethodPassword)
	}
	switch {
	case m == policy.MethodTrust:
		return true // whatever the client proved is enough
	case password(string(m)):
		return password(method) || method == string(policy.MethodCert)
	}
	return method == string(m)
}

func hbaRequest(c *client) policy.Request {
	return policy.Request{Local: c.unix, TLS: c.tls != nil, Addr: c.ip, Database: c.dbname, User: c.User}
}

// altPort maps the default TLS-ALPN port to certmagic's "unset".
func altPort(p int) int {
	if p == 443 {
		return 0
	}
	return p
}
