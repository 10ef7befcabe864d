package pool

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

// Getting a server: from the idle list, by opening one, or by waiting in
// line; health checks before a server is handed out; and waiting out a
// server that cannot be reached for the moment.

// Acquire returns a server for exclusive use: an idle one that is still
// alive, a new one when the pool has room, or the next one released, in
// arrival order. The wait ends with ctx (which carries query_wait_timeout).
func (p *Pool) Acquire(ctx context.Context) (*Server, error) {
	return p.acquire(ctx, nil, nil)
}

// AcquireDedicated opens a new server logged in with auth (typically the
// client's own relayed authentication) once the pool has room; params are
// added to its startup packet. The server counts against the pool's size
// and is closed on Release, never reused.
func (p *Pool) AcquireDedicated(ctx context.Context, auth Authenticator, params map[string]string) (*Server, error) {
	return p.acquire(ctx, auth, params)
}

// acquire gets a server, waiting out a server that cannot be reached for
// the moment (down, restarting): the client keeps its place, pgbun tries
// again every server_login_retry, and only query_wait_timeout (or the
// client's context) ends the wait, as in PgBouncer. A relayed login's
// failure is the client's own and ends it at once.
func (p *Pool) acquire(ctx context.Context, dedicated Authenticator, params map[string]string) (*Server, error) {
	start := time.Now()
	for {
		s, err := p.acquireOnce(ctx, dedicated, params)
		if err == nil || dedicated != nil || !transient(err) {
			return s, err
		}
		if err := p.awaitRetry(ctx, start, err); err != nil {
			return nil, err
		}
	}
}

// awaitRetry waits until the next attempt to reach the server, unless
// query_wait_timeout (counted from start) or ctx ends first.
func (p *Pool) awaitRetry(ctx context.Context, start time.Time, cause error) error {
	p.mu.Lock()
	at, wait := p.retryAt, p.set.WaitTimeout
	p.mu.Unlock()
	if wait > 0 && at.After(start.Add(wait)) {
		return fmt.Errorf("%w: %w", ErrWaitTimeout, cause)
	}
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ctx.Err(), cause)
	case <-t.C:
		return nil
	}
}

// transient reports a failure to reach the server that says nothing about
// the client or its credentials: the server refused or dropped the
// connection, did not answer in time, or is starting up or shutting down
// (SQLSTATE 57P03). Waiting clients outlast such failures.
func transient(err error) bool {
	var le *LoginError
	if errors.As(err, &le) {
		return le.Err.Code == wire.CodeCannotConnectNow
	}
	if errors.Is(err, errServerDown) {
		return true
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

// errServerDown is open's answer while the pool waits to try the server
// again.
var errServerDown = errors.New("server unreachable, waiting for server_login_retry")

func (p *Pool) acquireOnce(ctx context.Context, dedicated Authenticator, params map[string]string) (*Server, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if dedicated == nil && len(p.waiters) == 0 && !p.paused {
			if s := p.takeIdleLocked(); s != nil {
				p.active++
				p.stats.Acquired++
				set := p.checkSettingsLocked()
				p.mu.Unlock()
				if p.healthy(s, set) {
					return s, nil
				}
				p.putBack(s, false)
				continue
			}
		}
		if len(p.waiters) == 0 && !p.paused && p.total() < p.set.Size {
			p.opening++
			p.mu.Unlock()
			return p.open(ctx, dedicated, params)
		}
		if dedicated != nil && len(p.idle) > 0 && !p.paused {
			// An idle shared server holds the slot a dedicated login needs.
			s := p.idle[0]
			p.idle = p.idle[1:]
			p.opening++
			p.mu.Unlock()
			s.Close()
			return p.open(ctx, dedicated, params)
		}
		s, err := p.wait(ctx)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return p.open(ctx, dedicated, params)
		}
		if dedicated != nil {
			// A shared server was handed over but this client needs its own
			// login: trade the server for its slot.
			p.mu.Lock()
			p.active--
			p.opening++
			p.mu.Unlock()
			s.Close()
			return p.open(ctx, dedicated, params)
		}
		p.mu.Lock()
		set := p.checkSettingsLocked()
		p.mu.Unlock()
		if p.healthy(s, set) {
			return s, nil
		}
		p.putBack(s, false)
	}
}

// timedOut is handed to a waiter whose WaitTimeout passed.
var timedOut = new(Server)

// wait queues the caller (p.mu held on entry, released) until a server or
// a slot is handed over, the pool's WaitTimeout passes, or ctx ends.
func (p *Pool) wait(ctx context.Context) (*Server, error) {
	w := &waiter{since: time.Now(), ch: make(chan *Server, 1)}
	p.waiters = append(p.waiters, w)
	p.stats.Waited++
	p.mu.Unlock()
	var s *Server
	select {
	case s = <-w.ch:
	case <-ctx.Done():
		p.mu.Lock()
		if p.removeWaiterLocked(w) {
			p.stats.WaitTime += time.Since(w.since)
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: %w", ErrWaitTimeout, ctx.Err())
		}
		p.mu.Unlock()
		s = <-w.ch // granted just as the wait ended: honour the grant
	}
	p.mu.Lock()
	p.stats.WaitTime += time.Since(w.since)
	p.mu.Unlock()
	if s == timedOut {
		return nil, fmt.Errorf("%w: waited %s", ErrWaitTimeout, time.Since(w.since).Round(time.Millisecond))
	}
	return s, nil
}

func (p *Pool) total() int { return p.active + p.opening + len(p.idle) }

// livenessAfter is how long a server must have been idle before it is
// peeked at on acquisition: a server released a moment ago was alive then,
// and a busy pool should not pay a system call per transaction for it
// (housekeeping peeks at idle servers every housekeepingPeriod anyway).
const livenessAfter = 10 * time.Millisecond

// checkSettings are what healthy needs from the pool's settings.
type checkSettings struct {
	query    string
	delay    time.Duration
	disabled bool
}

func (p *Pool) checkSettingsLocked() checkSettings {
	return checkSettings{query: p.set.CheckQuery, delay: p.set.CheckDelay, disabled: p.set.CheckDisabled}
}

// healthy checks a server taken from the idle list: its socket must be
// quiet (PostgreSQL says goodbye before it closes a connection), and after
// server_check_delay idle the check query must pass (a delay of 0 checks
// every time, as in PgBouncer).
func (p *Pool) healthy(s *Server, set checkSettings) bool {
	idle := time.Since(s.LastUsed)
	check := !set.disabled && idle >= set.delay
	if idle < livenessAfter && !check {
		return true
	}
	if !s.alive() {
		p.noteUnhealthy()
		return false
	}
	if !check {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	p.mu.Lock()
	p.stats.Checked++
	p.mu.Unlock()
	if err := s.Exec(ctx, set.query); err != nil || s.Status != 'I' {
		p.noteUnhealthy()
		return false
	}
	s.LastUsed = time.Now()
	return true
}

func (p *Pool) noteUnhealthy() {
	p.mu.Lock()
	p.stats.Unhealthy++
	p.mu.Unlock()
}

// open dials with a slot already counted in p.opening.
func (p *Pool) open(ctx context.Context, dedicated Authenticator, params map[string]string) (*Server, error) {
	auth := dedicated
	p.mu.Lock()
	if p.closed {
		p.opening--
		p.mu.Unlock()
		return nil, ErrClosed
	}
	dialer, creds, gen := p.dialer, p.creds, p.gen
	if dedicated == nil && p.downErr != nil && time.Now().Before(p.retryAt) {
		err := fmt.Errorf("%w: %w", errServerDown, p.downErr)
		p.opening--
		p.grantNextLocked()
		p.mu.Unlock()
		return nil, err
	}
	if dedicated == nil {
		if until := p.loginErrAt.Add(p.set.LoginRetry); p.loginErr != nil && time.Now().Before(until) {
			err := &LoginRetryError{Until: until, Err: p.loginErr}
			p.opening--
			p.grantNextLocked()
			p.mu.Unlock()
			return nil, err
		}
	}
	p.mu.Unlock()
	tokens, err := p.takeTokens(ctx)
	if err != nil {
		p.mu.Lock()
		p.opening--
		p.grantNextLocked()
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrWaitTimeout, err)
	}
	if auth == nil && creds != nil {
		auth = creds()
	}
	s, err := dialer.Dial(ctx, auth, params)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opening--
	if err != nil {
		for _, l := range tokens {
			l.release()
		}
		p.stats.LoginFailed++
		// A client that gave up (ctx) says nothing about the server; a
		// relayed login failing is that client's own affair.
		switch {
		case dedicated != nil || ctx.Err() != nil:
		case transient(err):
			// Clients wait while the server is away; one attempt per
			// server_login_retry (at least a tenth of a second).
			p.downErr, p.retryAt = err, time.Now().Add(max(p.set.LoginRetry, 100*time.Millisecond))
			p.logger().Warn("closing because: connect failed", "database", p.Key.Database, "user", p.Key.User,
				"err", err, "retry", max(p.set.LoginRetry, 100*time.Millisecond))
		default:
			p.loginErr, p.loginErrAt = err, time.Now()
		}
		p.grantNextLocked()
		return nil, err
	}
	s.tokens = tokens
	s.gen = gen
	if gen != p.gen {
		p.oldOut++ // made the old way while a Recycle happened
	}
	if dedicated == nil {
		p.loginErr, p.downErr = nil, nil
	}
	s.pool, s.dedicated = p, dedicated != nil
	if p.set.LogConnections {
		p.logger().Info(fmt.Sprintf("new connection to server (from %s)", s.conn.LocalAddr()),
			"database", p.Key.Database, "user", p.Key.User, "server", s.Addr)
	}
	p.active++
	p.stats.Opened++
	p.stats.Acquired++
	if p.closed {
		p.active--
		go s.Close()
		return nil, ErrClosed
	}
	return s, nil
}
