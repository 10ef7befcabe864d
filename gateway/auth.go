package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgbun/pgbun/policy"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
)

// Authentication request codes pgbun sends.
const (
	authOK           = 0
	authCleartext    = 3
	authMD5          = 5
	authSASL         = 10
	authSASLContinue = 11
	authSASLFinal    = 12
)

// loginError is an authentication failure: what the client sees, and a
// reason for the log only.
type loginError struct {
	client *wire.Error
	reason string
}

func (e *loginError) Error() string { return e.client.Message + ": " + e.reason }
func (e *loginError) Unwrap() error { return e.client }

// passwordFailed is the one answer for every failed password login,
// whatever the cause, so the answer tells nothing about which users exist.
func passwordFailed(user, reason string) error {
	return &loginError{
		client: wire.Fatal(wire.CodeInvalidPassword, "password authentication failed for user %q", user),
		reason: reason,
	}
}

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
		if !l.known && (st.users != nil || l.fetch != nil) {
			return &loginError{client: wire.Fatal(wire.CodeInvalidAuthSpec, "no such user: %q", c.User), reason: "unknown user"}
		}
		return nil
	}
	return g.passwordLogin(c, st, t, method)
}

// passwordLogin runs a password method inside a throttled attempt: the
// throttle is asked first, the user's secret looked up second, and only a
// proof that fails counts against the user.
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
	switch method {
	case config.AuthPlain:
		err = g.authCleartext(c, st, attempt, &l)
	case config.AuthMD5:
		if l.known && l.sec.Kind != authn.SecretSCRAM {
			err = g.authMD5(c, st, attempt, &l)
		} else {
			err = g.authSCRAM(c, st, attempt, l)
		}
	case config.AuthSCRAM:
		err = g.authSCRAM(c, st, attempt, l)
	default:
		err = fmt.Errorf("auth_type %q cannot authenticate clients", method)
	}
	endAttempt(attempt, err)
	if err != nil {
		return err
	}
	g.learn(c.User, l.sec)
	return nil
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
		return "", nil, &loginError{
			client: wire.Fatal(wire.CodeInvalidAuthSpec, "no pg_hba.conf entry for host %q, user %q, database %q, %s",
				host, c.User, c.dbname, map[bool]string{true: "SSL encryption", false: "no encryption"}[c.tls != nil]),
			reason: where,
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
	return &loginError{
		client: wire.Fatal(wire.CodeInvalidAuthSpec, "too many failed login attempts; try again in %s",
			max(time.Second, locked.RetryAfter.Round(time.Second))),
		reason: "throttled: " + err.Error(),
	}
}

// endAttempt tells the throttle how an attempt ended: a wrong password
// counts, a client that went away before answering does not.
func endAttempt(a *policy.Attempt, err error) {
	var le *loginError
	switch {
	case err == nil:
		a.Succeeded()
	case errors.As(err, &le) && le.client.Code == wire.CodeInvalidPassword:
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
		return &loginError{client: wire.Fatal(wire.CodeInvalidAuthSpec, "connection requires a valid client certificate"), reason: "clientcert: no verified certificate"}
	}
	if mode == "verify-full" && !st.ident.Allows(opts["map"], c.certCN, c.User) {
		return &loginError{
			client: wire.Fatal(wire.CodeInvalidAuthSpec, "certificate authentication failed for user %q", c.User),
			reason: fmt.Sprintf("clientcert=verify-full: certificate name %q does not map to the user", c.certCN),
		}
	}
	return nil
}

// authCert accepts a client whose verified certificate's common name is
// the user, or maps to it through the ident map named.
func (g *Gateway) authCert(c *client, st *state, mapName string) error {
	c.method = "cert"
	if c.tls == nil || c.certCN == "" {
		return &loginError{client: wire.Fatal(wire.CodeInvalidAuthSpec, "connection requires a valid client certificate"), reason: "no verified client certificate"}
	}
	if !st.ident.Allows(mapName, c.certCN, c.User) {
		return &loginError{
			client: wire.Fatal(wire.CodeInvalidAuthSpec, "certificate authentication failed for user %q", c.User),
			reason: fmt.Sprintf("certificate name %q does not map to the user", c.certCN),
		}
	}
	return nil
}

// authPeer accepts a Unix-socket client whose operating-system user is the
// database user, or maps to it through the ident map named.
func (g *Gateway) authPeer(c *client, st *state, mapName string) error {
	c.method = "peer"
	osUser, err := peerUser(c.Raw)
	if err != nil {
		return &loginError{client: wire.Fatal(wire.CodeInvalidAuthSpec, "Peer authentication failed for user %q", c.User), reason: err.Error()}
	}
	if !st.ident.Allows(mapName, osUser, c.User) {
		return &loginError{
			client: wire.Fatal(wire.CodeInvalidAuthSpec, "Peer authentication failed for user %q", c.User),
			reason: fmt.Sprintf("system user %q does not map to the user", osUser),
		}
	}
	return nil
}

// learn keeps what a verified login taught about logging in to the server
// as user, for users whose secret came from auth_query (auth_file
// secrets are looked up directly). SCRAM keys are stored by authSCRAM.
func (g *Gateway) learn(user string, sec authn.Secret) {
	if sec.Kind == authn.SecretPlain || sec.Kind == authn.SecretMD5 {
		g.learned.Store(user, sec.ServerCredentials())
	}
}

// authSCRAM runs SCRAM-SHA-256 (or -PLUS when the client is on TLS with
// a certificate that allows channel binding). Unknown users and secrets
// that cannot verify SCRAM get the same exchange against a mock secret,
// and the same failure as a wrong password.
func (g *Gateway) authSCRAM(c *client, st *state, attempt *policy.Attempt, l userLookup) error {
	var binding []byte
	if c.served != nil {
		binding = authn.TLSServerEndpoint(c.served)
	}
	sec := l.sec
	c.method = "scram-sha-256"
	var ex *authn.SCRAMServer
	g.loginCPU(func() { ex = g.keyring.NewSCRAMServerFor(c.User, sec, l.known, binding) })

	if err := c.send(wire.AppendAuthSASL(c.out[:0], ex.Mechanisms())); err != nil {
		return err
	}
	body, err := c.readPasswordMessage()
	if err != nil {
		return err
	}
	mech, data, err := parseSASLInitial(body)
	if err != nil {
		return err
	}
	serverFirst, err := ex.First(mech, data)
	if err != nil {
		return scramFailure(c, err)
	}
	if err := c.send(appendAuth(c.out[:0], authSASLContinue, serverFirst)); err != nil {
		return err
	}
	if body, err = c.readPasswordMessage(); err != nil {
		return err
	}
	if err := g.confirmAttempt(c, attempt); err != nil {
		return err
	}
	var serverFinal []byte
	g.loginCPU(func() { serverFinal, err = ex.Final(body) })
	if err != nil {
		// The salt is already spent, so a changed password cannot be
		// checked now; fetching it makes the client's next try work.
		g.refetch(c, st, &l)
		return scramFailure(c, err)
	}
	// Only a secret identical to the server's own yields keys that log in
	// there; one derived from a plaintext password has its own salt.
	if sec.Kind == authn.SecretSCRAM {
		if keys := ex.PassThroughKeys(); keys != nil {
			g.learned.Store(c.User, authn.ServerCredentials{Keys: keys})
		}
	}
	return c.send(appendAuth(c.out[:0], authSASLFinal, serverFinal))
}

// scramFailure turns an authn error into what the client sees.
func scramFailure(c *client, err error) error {
	var ae *authn.Error
	if errors.As(err, &ae) {
		if ae.Code == wire.CodeInvalidPassword {
			return passwordFailed(c.User, ae.Reason)
		}
		return &loginError{client: wire.Fatal(ae.Code, "%s", ae.Message), reason: ae.Reason}
	}
	return &loginError{client: wire.Fatal(wire.CodeProtocolViolation, "malformed SCRAM message"), reason: err.Error()}
}

// authMD5 runs PostgreSQL's md5 challenge against a plaintext or md5 secret.
func (g *Gateway) authMD5(c *client, st *state, attempt *policy.Attempt, l *userLookup) error {
	sec := l.sec
	c.method = "md5"
	salt := authn.NewMD5Salt()
	if err := c.send(appendAuth(c.out[:0], authMD5, salt[:])); err != nil {
		return err
	}
	body, err := c.readPasswordMessage()
	if err != nil {
		return err
	}
	resp, _, ok := wire.CString(body)
	if !ok {
		return wire.Fatal(wire.CodeProtocolViolation, "invalid password packet")
	}
	if err := g.confirmAttempt(c, attempt); err != nil {
		return err
	}
	if authn.VerifyMD5(c.User, sec, salt, resp) {
		return nil
	}
	// A cached secret may be stale: md5 can be checked again at once.
	if fresh, ok := g.refetch(c, st, l); ok && authn.VerifyMD5(c.User, fresh, salt, resp) {
		l.sec, l.known = fresh, true
		return nil
	}
	return passwordFailed(c.User, "md5 response mismatch")
}

// authCleartext asks for the password itself (auth_type=plain).
func (g *Gateway) authCleartext(c *client, st *state, attempt *policy.Attempt, l *userLookup) error {
	sec, known := l.sec, l.known
	c.method = "password"
	if err := c.send(appendAuth(c.out[:0], authCleartext, nil)); err != nil {
		return err
	}
	body, err := c.readPasswordMessage()
	if err != nil {
		return err
	}
	pw, _, ok := wire.CString(body)
	if !ok {
		return wire.Fatal(wire.CodeProtocolViolation, "invalid password packet")
	}
	if err := g.confirmAttempt(c, attempt); err != nil {
		return err
	}
	if known && authn.VerifyPassword(c.User, sec, pw) {
		return nil
	}
	if fresh, ok := g.refetch(c, st, l); ok && authn.VerifyPassword(c.User, fresh, pw) {
		l.sec, l.known = fresh, true
		return nil
	}
	if !known {
		return passwordFailed(c.User, "unknown user")
	}
	return passwordFailed(c.User, "password mismatch")
}

// readPasswordMessage reads the client's next 'p' message.
func (c *client) readPasswordMessage() ([]byte, error) {
	typ, body, err := c.readMessage()
	if err != nil {
		if errors.Is(err, wire.ErrTooLong) {
			return nil, wire.Fatal(wire.CodeProtocolViolation, "invalid authentication message: too long")
		}
		return nil, err
	}
	if typ != 'p' {
		return nil, wire.Fatal(wire.CodeProtocolViolation, "expected password response, got message type %d", typ)
	}
	return body, nil
}

// parseSASLInitial splits a SASLInitialResponse body.
func parseSASLInitial(body []byte) (mech string, data []byte, err error) {
	mech, data, ok := wire.ParseSASLInitialResponse(body)
	if !ok {
		return "", nil, wire.Fatal(wire.CodeProtocolViolation, "malformed SASLInitialResponse")
	}
	return mech, data, nil
}

// appendAuth appends an authentication request with the given code.
func appendAuth(dst []byte, code uint32, data []byte) []byte {
	return wire.AppendAuth(dst, code, data)
}
