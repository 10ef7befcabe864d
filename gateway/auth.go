package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/login"
	"github.com/pgbun/pgbun/policy"
)

// authenticate verifies the client: by auth_type, or with auth_type=hba
// by the method of the first matching auth_hba_file rule. Password logins
// pass the failed-login throttle before anything else, auth_query lookups
// included, so a locked-out source or user costs the database nothing.
// auth_type=server defers to the server (see connectServer).
func (g *Gateway) authenticate(c *client, st *state, t target) error {
	method, opts, err := g.loginMethod(c, st)
	if err != nil {
		return err
	}
	switch method {
	case config.AuthServer:
		if t.db == nil {
			// No server to relay to: a password exchange that fails like
			// a wrong password, so the database looks like any other.
			c.method = "scram-sha-256"
			return g.passwordLogin(c, st, t, config.AuthSCRAM)
		}
		c.method = string(method)
		return nil
	case config.AuthAny:
		c.method = string(method)
		return nil
	case config.AuthCert:
		return g.authCert(c, st, opts["map"])
	case authPeer:
		return g.authPeer(c, st, opts["map"])
	}
	if err := checkClientCert(c, st, opts); err != nil {
		return err
	}
	if method == config.AuthTrust {
		c.method = "trust"
		l, err := g.lookupUser(c, st, t)
		if err != nil {
			return err
		}
		if !l.exists && (st.users != nil || l.fetch != nil) {
			return &login.Failure{Client: wire.Fatal(wire.CodeInvalidAuthSpec, `"trust" authentication failed`), Reason: "unknown user"}
		}
		return nil
	}
	return g.passwordLogin(c, st, t, method)
}

// passwordLogin runs a password method inside a throttled attempt: the
// throttle is asked first, the user's secret looked up second, and only a
// proof that fails counts against the user. The exchange itself is the
// login package's; the throttle, a stale cached secret and the bound on
// login CPU come in as its hooks.
func (g *Gateway) passwordLogin(c *client, st *state, t target, method config.AuthType) error {
	attempt, err := g.beginAttempt(c, st)
	if err != nil {
		return err
	}
	l, err := g.lookupUser(c, st, t)
	if err != nil {
		endAttempt(attempt, err)
		return err
	}
	lc := c.loginConn()
	hooks := login.Hooks{
		Confirm: func() error { return g.confirmAttempt(c, attempt) },
		Refetch: func() (authn.Secret, bool) { return g.refetch(c, st, &l) },
		CPU:     g.loginCPU,
	}
	verified := l.sec
	switch method {
	case config.AuthPlain:
		c.method = "password"
		verified, err = login.Cleartext(lc, l.sec, l.known, hooks)
	case config.AuthMD5:
		// The secret decides the exchange. A user nobody knows gets the
		// one most of auth_file's users get, so that the exchange tells
		// as little as it can about who exists; under auth_query, SCRAM,
		// which PostgreSQL stores by default.
		md5 := l.known && l.sec.Kind != authn.SecretSCRAM || !l.known && l.fetch == nil && !st.mockSCRAM
		if md5 {
			c.method = "md5"
			verified, err = login.MD5(lc, l.sec, l.known, hooks)
		} else {
			err = g.scramLogin(c, lc, l, hooks)
		}
	case config.AuthSCRAM:
		err = g.scramLogin(c, lc, l, hooks)
	default:
		err = fmt.Errorf("auth_type %q cannot authenticate clients", method)
	}
	endAttempt(attempt, err)
	if err != nil {
		return err
	}
	g.learn(c.User, verified)
	return nil
}

// scramLogin runs SCRAM-SHA-256 and keeps the pass-through keys a
// verified SCRAM secret yields, for the user's servers.
func (g *Gateway) scramLogin(c *client, lc *login.Conn, l userLookup, hooks login.Hooks) error {
	c.method = "scram-sha-256"
	keys, err := login.SCRAM(lc, g.keyring, l.sec, l.known, hooks)
	if keys != nil {
		g.learned.Store(c.User, authn.ServerCredentials{Keys: keys})
	}
	return err
}

// authPeer is the hba method peer, which has no auth_type of its own.
const authPeer config.AuthType = "peer"

// loginMethod returns how c must authenticate, and the hba rule's options.
func (g *Gateway) loginMethod(c *client, st *state) (config.AuthType, map[string]string, error) {
	method := st.cfg.General.AuthType
	if method != config.AuthHBA {
		return method, nil, nil
	}
	rule, ok := st.hba.Match(hbaRequest(c))
	if !ok || rule.Method == policy.MethodReject {
		where := "no rule matches"
		if ok {
			where = fmt.Sprintf("rejected by %s:%d", rule.File, rule.Line)
		}
		host := c.Addr
		if c.ip.IsValid() {
			host = c.ip.String()
		}
		g.audit.event("policy_reject", "user", c.User, "database", c.dbname, "addr", c.Addr, "tls", tlsVersion(c), "rule", where)
		return "", nil, &login.Failure{
			Client: wire.Fatal(wire.CodeInvalidAuthSpec, "no pg_hba.conf entry for host %q, user %q, database %q, %s",
				host, c.User, c.dbname, map[bool]string{true: "SSL encryption", false: "no encryption"}[c.tls != nil]),
			Reason: where,
		}
	}
	switch rule.Method {
	case policy.MethodTrust:
		return config.AuthTrust, rule.Options, nil
	case policy.MethodMD5:
		return config.AuthMD5, rule.Options, nil
	case policy.MethodPassword:
		return config.AuthPlain, rule.Options, nil
	case policy.MethodSCRAM:
		return config.AuthSCRAM, rule.Options, nil
	case policy.MethodCert:
		return config.AuthCert, rule.Options, nil
	case policy.MethodPeer:
		return authPeer, rule.Options, nil
	}
	return "", nil, fmt.Errorf("%s:%d: method %q cannot authenticate clients", rule.File, rule.Line, rule.Method)
}

// beginAttempt consults the failed-login throttle before any password
// work; a locked-out source or user is refused even with the right
// password.
func (g *Gateway) beginAttempt(c *client, st *state) (*policy.Attempt, error) {
	ctx, cancel := context.WithTimeout(c.Context(), authQueryTimeout(st))
	defer cancel()
	attempt, err := g.throttle.BeginWait(ctx, c.ip, c.User)
	if err != nil {
		return nil, g.throttledError(c, err)
	}
	return attempt, nil
}

// confirmAttempt asks the throttle again just before a proof is checked:
// guesses at one user from many addresses may have locked it out while
// this attempt waited for the client's answer.
func (g *Gateway) confirmAttempt(c *client, attempt *policy.Attempt) error {
	if err := attempt.Confirm(); err != nil {
		return g.throttledError(c, err)
	}
	return nil
}

// throttledError turns the throttle's refusal into what the client sees.
func (g *Gateway) throttledError(c *client, err error) error {
	var locked *policy.LockedError
	if !errors.As(err, &locked) {
		return err
	}
	g.throttled.Add(1)
	g.audit.event("throttled", "user", c.User, "addr", c.Addr, "key", locked.Key,
		"retry_after", locked.RetryAfter.Round(time.Second).String())
	return &login.Failure{
		Client: wire.Fatal(wire.CodeInvalidAuthSpec, "too many failed login attempts; try again in %s",
			max(time.Second, locked.RetryAfter.Round(time.Second))),
		Reason: "throttled: " + err.Error(),
	}
}

// endAttempt tells the throttle how an attempt ended: a wrong password
// counts, a client that went away before answering does not.
func endAttempt(a *policy.Attempt, err error) {
	var le *login.Failure
	switch {
	case err == nil:
		a.Succeeded()
	case errors.As(err, &le) && le.Client.Code == wire.CodeInvalidPassword:
		a.Failed()
	default:
		a.Abandoned()
	}
}

// checkClientCert enforces an hba rule's clientcert= option: a verified
// client certificate, whose name must also match the user for
// verify-full.
func checkClientCert(c *client, st *state, opts map[string]string) error {
	mode := opts["clientcert"]
	if mode == "" {
		return nil
	}
	if c.certCN == "" {
		return &login.Failure{Client: wire.Fatal(wire.CodeInvalidAuthSpec, "connection requires a valid client certificate"), Reason: "clientcert: no verified certificate"}
	}
	if mode == "verify-full" && !st.ident.Allows(opts["map"], c.certCN, c.User) {
		return &login.Failure{
			Client: wire.Fatal(wire.CodeInvalidAuthSpec, "certificate authentication failed for user %q", c.User),
			Reason: fmt.Sprintf("clientcert=verify-full: certificate name %q does not map to the user", c.certCN),
		}
	}
	return nil
}

// authCert accepts a client whose verified certificate's common name is
// the user, or maps to it through the ident map named.
func (g *Gateway) authCert(c *client, st *state, mapName string) error {
	c.method = "cert"
	if c.tls == nil || c.certCN == "" {
		return &login.Failure{Client: wire.Fatal(wire.CodeInvalidAuthSpec, "connection requires a valid client certificate"), Reason: "no verified client certificate"}
	}
	if !st.ident.Allows(mapName, c.certCN, c.User) {
		return &login.Failure{
			Client: wire.Fatal(wire.CodeInvalidAuthSpec, "certificate authentication failed for user %q", c.User),
			Reason: fmt.Sprintf("certificate name %q does not map to the user", c.certCN),
		}
	}
	return nil
}

// authPeer accepts a Unix-socket client whose operating-system user is the
// database user, or maps to it through the ident map named.
func (g *Gateway) authPeer(c *client, st *state, mapName string) error {
	c.method = "peer"
	osUser, err := login.PeerUser(c.Raw)
	if err != nil {
		return &login.Failure{Client: wire.Fatal(wire.CodeInvalidAuthSpec, "Peer authentication failed for user %q", c.User), Reason: err.Error()}
	}
	if !st.ident.Allows(mapName, osUser, c.User) {
		return &login.Failure{
			Client: wire.Fatal(wire.CodeInvalidAuthSpec, "Peer authentication failed for user %q", c.User),
			Reason: fmt.Sprintf("system user %q does not map to the user", osUser),
		}
	}
	return nil
}

// learn keeps what a verified login taught about logging in to the server
// as user, for users whose secret came from auth_query (auth_file
// secrets are looked up directly). SCRAM keys are stored by scramLogin.
func (g *Gateway) learn(user string, sec authn.Secret) {
	if sec.Kind == authn.SecretPlain || sec.Kind == authn.SecretMD5 {
		g.learned.Store(user, sec.ServerCredentials())
	}
}
