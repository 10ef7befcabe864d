package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/login"
	"github.com/pgbun/pgbun/session"
)

// errHandled ends a connection that needs no further answer (a
// CancelRequest, or a TLS client that cannot be spoken to).
var errHandled = errors.New("connection handled")

// serve carries one client from accept to disconnect. Each step is one
// call; any step's error ends the connection with that error sent to the
// client (when it is a *wire.Error) and logged. Once logged in, the client
// belongs to the session engine until its session ends; a
// transaction-pooled session may move to another goroutine while it is
// idle, and whichever goroutine ends it calls teardown.
func (g *Gateway) serve(c *client) {
	handedOff := false
	defer func() {
		if r := recover(); r != nil {
			g.log.Error("panic serving client", "client", c.Addr, "panic", r, "stack", string(debug.Stack()))
		}
		if !handedOff {
			g.teardown(c)
		}
	}()
	g.nclients.Add(1)
	c.holds |= holdClientCount

	st := g.state.Load()
	gen := &st.cfg.General
	ticket, err := g.admission.Admit(c.ip)
	if err != nil {
		g.refuse(c, err)
		return
	}
	c.ticket = ticket
	if gen.ClientLoginTimeout > 0 {
		c.Raw.SetDeadline(time.Now().Add(gen.ClientLoginTimeout))
	}

	if err := g.admit(c, st); err != nil {
		g.reject(c, "admit", err)
		return
	}
	if max := gen.MaxClientConn; max > 0 && g.nclients.Load() > int64(max) {
		g.reject(c, "admit", wire.Fatal(wire.CodeTooManyConnections, "no more connections allowed (max_client_conn)"))
		return
	}
	if isConsoleDB(c.dbname) {
		g.reject(c, "login", g.serveConsole(c, st, ticket.Authenticated))
		return
	}
	// Until the client has authenticated, its names are only resolved
	// against the configuration: nothing is made for them, and an unknown
	// database answers like a wrong password.
	tgt, err := g.resolve(c, st)
	if err != nil {
		g.reject(c, "route", err)
		return
	}
	if c.Settings, err = clientSettings(c, st); err != nil {
		g.reject(c, "admit", err)
		return
	}
	if err := g.authenticate(c, st, tgt); err != nil {
		g.reject(c, "login", err)
		return
	}
	// With auth_type=server the client proves itself to PostgreSQL, on the
	// server connectServer opens for it: it is authenticated only then.
	relayed := c.method == string(config.AuthServer)
	rt, err := g.attach(c, st, tgt)
	if err != nil {
		g.reject(c, "route", err)
		return
	}
	if !relayed {
		if err := g.authenticated(c, ticket, rt); err != nil {
			g.reject(c, "admit", err)
			return
		}
	}
	srv, err := g.connectServer(c, st, rt)
	if err != nil {
		g.reject(c, "server", err)
		return
	}
	if relayed {
		if err := g.authenticated(c, ticket, rt); err != nil {
			rt.pool.Release(srv, false)
			g.reject(c, "admit", err)
			return
		}
	}
	g.cancels.register(c, st.cfg.General.PeerID)
	c.holds |= holdCancel
	if err := g.welcome(c, st, srv); err != nil {
		rt.pool.Release(srv, srv.Status == 'I')
		g.reject(c, "login", err)
		return
	}
	g.loggedIn(c, st, rt)

	handedOff = true // the session ends the client, here or on another goroutine
	g.sessions.Run(&c.Client, srv, sessionConfig(st, rt), func(end session.End) {
		g.closeSession(c, end)
		g.teardown(c)
	})
}

// loggedIn records a finished login: the login deadline and scratch
// buffers go (an idle client should hold as little as it can), the client
// is shown as logged in, audited, counted and logged.
func (g *Gateway) loggedIn(c *client, st *state, rt *route) {
	c.Raw.SetDeadline(time.Time{})
	c.buf, c.out = nil, nil
	c.ready.Store(true)
	rt.stats.Logins.Add(1)
	g.audit.event("login_ok", "user", c.User, "database", c.dbname, "addr", c.Addr, "method", c.method, "tls", tlsVersion(c))
	g.logins.Add(c.method + "/ok")
	if st.cfg.General.LogConnections {
		g.log.Info("login", "client", c.Addr, "user", c.User, "database", c.dbname, "method", c.method,
			"tls", tlsVersion(c), "pool_mode", string(rt.settings.Mode))
	}
}

// closeSession tells the client why its session ended, if it should know,
// and logs the disconnection.
func (g *Gateway) closeSession(c *client, end session.End) {
	if k := c.Killed(); k != nil {
		end.Err = k
	}
	if g.state.Load().cfg.General.LogDisconnections {
		g.log.Info(closingBecause(end.Reason, c), "client", c.Addr, "user", c.User, "database", c.dbname)
	}
	if end.Err != nil {
		c.fail(end.Err)
	}
}

// teardown gives back what the client holds, newest first, and closes its
// connection. It runs once, on the goroutine that ends the client.
func (g *Gateway) teardown(c *client) {
	if c.holds&holdCancel != 0 {
		g.cancels.unregister(c)
	}
	if c.holds&holdCounts != 0 {
		g.counts.leave(c.dbname, c.User)
	}
	if c.holds&holdPool != 0 {
		g.pools.Detach(c.pool.Load())
	}
	c.ticket.Close()
	if c.holds&holdClientCount != 0 {
		g.nclients.Add(-1)
	}
	c.holds = 0
	c.Close()
	g.untrack(c)
}

// refuse turns a client away at accept, before reading anything: it gets
// a FATAL error (libpq shows it whatever it sent first) and the socket
// closes.
func (g *Gateway) refuse(c *client, err error) {
	reason := err.Error()
	c.fail(wire.Fatal(wire.CodeTooManyConnections, "too many connections from your address (%s)", reason))
	g.audit.event("connection_refused", "addr", c.Addr, "reason", reason)
	g.log.Warn("connection refused at accept", "client", c.Addr, "reason", reason)
}

// reject ends a connection that failed before forwarding began.
func (g *Gateway) reject(c *client, step string, err error) {
	if errors.Is(err, errHandled) {
		return
	}
	var we *wire.Error
	if errors.As(err, &we) {
		// Logged first, told second: whoever watches the log sees why by
		// the time the client does.
		defer c.fail(we)
	}
	var le *login.Failure
	if errors.As(err, &le) && step == "login" {
		result := "failed"
		switch {
		case strings.HasPrefix(le.Reason, "throttled"):
			result = "throttled"
		case strings.HasPrefix(le.Reason, "rejected by") || le.Reason == "no rule matches":
			result = "rejected"
		}
		g.logins.Add(orUnknown(c.method) + "/" + result)
		g.audit.event("login_failed", "user", c.User, "database", c.dbname, "addr", c.Addr,
			"method", c.method, "tls", tlsVersion(c), "reason", le.Reason)
	}
	gen := &g.state.Load().cfg.General
	if we != nil && !gen.LogPoolerErrors && !gen.LogDisconnections {
		return
	}
	// PgBouncer's wording, which its users' tooling looks for: the
	// client's error when it got one.
	why := "client unexpected eof"
	switch {
	case we != nil:
		why = we.Message
	case isTimeout(err):
		why = "client_login_timeout"
	case !isQuietDisconnect(err):
		why = err.Error()
	}
	args := []any{"step", step, "client", c.Addr}
	if c.User != "" {
		args = append(args, "user", c.User, "database", c.dbname)
	}
	if le != nil && le.Reason != "" {
		args = append(args, "reason", le.Reason)
	} else if we != nil && err != error(we) {
		args = append(args, "err", err)
	}
	msg := closingBecause(why, c)
	switch {
	case isTimeout(err):
		g.log.Info(msg, args...)
	case isQuietDisconnect(err):
		g.log.Debug(msg, args...) // a client that hung up or probed the port
	default:
		g.log.Warn(msg, args...)
	}
}

// closingBecause is the log message for a client connection that ends,
// as PgBouncer words it: why, and how long the client was connected.
func closingBecause(why string, c *client) string {
	return fmt.Sprintf("closing because: %s (age=%ds)", why, int64(time.Since(c.started).Seconds()))
}

func orUnknown(method string) string {
	if method == "" {
		return "none"
	}
	return method
}

// isQuietDisconnect tells a client that simply went away (or probed the
// port) from a failure worth a warning.
func isQuietDisconnect(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	return false
}

// isTimeout reports a deadline expiry.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func tlsVersion(c *client) string {
	if c.tls == nil {
		return "off"
	}
	switch c.tls.Version {
	case 0x0304:
		return "TLSv1.3"
	case 0x0303:
		return "TLSv1.2"
	case 0x0302:
		return "TLSv1.1"
	case 0x0301:
		return "TLSv1.0"
	}
	return fmt.Sprintf("0x%04x", c.tls.Version)
}
