package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Key identifies a pool.
type Key struct {
	Database string // the name clients connect to; for a lookup pool, the database it logs in to
	User     string // the user the servers log in as
	// Lookup is set for a pool that serves pgbun's own credential lookups
	// (auth_query) rather than clients: the configuration entry whose
	// hosts it dials. Empty for client pools.
	Lookup string
}

// Settings are a pool's limits and timers, resolved from configuration.
type Settings struct {
	Size           int           // servers open at once (in use + idle + opening)
	MinSize        int           // servers kept open when credentials allow
	ReserveSize    int           // extra servers for clients that waited ReserveTimeout
	ReserveTimeout time.Duration //
	ResetQuery     string        // run before a server goes back to the pool; "" = none
	Lifetime       time.Duration // close servers older than this on release; 0 = use each once
	IdleTimeout    time.Duration // close servers idle longer than this; 0 = never
	LoginRetry     time.Duration // after a failed login, fail fast for this long
	// WaitTimeout ends a client's wait in line (query_wait_timeout),
	// checked by housekeeping so that waiting costs no timer; 0 = wait
	// until the caller's context ends.
	WaitTimeout time.Duration
	// CheckQuery runs on a server idle for more than CheckDelay before it
	// is handed out ("" sends an empty query); CheckDisabled turns it off.
	CheckQuery    string
	CheckDelay    time.Duration
	CheckDisabled bool
	// LogConnections logs every server connection opened
	// (log_connections), as PgBouncer words it.
	LogConnections bool
}

// ErrClosed is returned by Acquire on a pool that was shut down.
var ErrClosed = errors.New("pool is closed")

// ErrWaitTimeout is returned when a client waited for a server until its
// context (query_wait_timeout) ended.
var ErrWaitTimeout = errors.New("timed out waiting for a server")

// LoginRetryError is returned while a pool waits out server_login_retry
// after a failed login: the client gets the cause at once instead of
// adding load to a server that refuses logins.
type LoginRetryError struct {
	Until time.Time
	Err   error
}

func (e *LoginRetryError) Error() string {
	return fmt.Sprintf("server login failed recently, next attempt after %s: %v", e.Until.Format(time.TimeOnly), e.Err)
}

func (e *LoginRetryError) Unwrap() error { return e.Err }

// Pool holds the servers of one (database, user) pair. Safe for
// concurrent use.
type Pool struct {
	Key    Key
	dialer *Dialer
	creds  func() Authenticator // stored credentials, nil when unknown yet
	limits []*Limiter           // max_db_connections, max_user_connections
	log    *slog.Logger         // the manager's; nil discards (see logger)

	mu         sync.Mutex
	set        Settings
	idle       []*Server // most recently used last
	active     int       // handed out
	opening    int       // being dialled (slots taken)
	waiters    []*waiter // FIFO
	loginErr   error
	loginErrAt time.Time
	// downErr is the last transient failure to reach the server (see
	// transient), and retryAt when to try again: until then no one dials,
	// and clients wait rather than fail.
	downErr error
	retryAt time.Time
	closed  bool
	stats   Stats
	paused  bool // PAUSE: servers are not handed out, and closed when they come back
	gen     int  // servers of an older generation are closed when released
	oldOut  int  // servers of an older generation still in use or opening
}

// Stats counts a pool's events since it was made.
type Stats struct {
	Acquired    uint64        // servers handed out
	Opened      uint64        // logins that succeeded
	LoginFailed uint64        // logins that failed
	Waited      uint64        // acquisitions that had to queue
	WaitTime    time.Duration // total time spent queued
	Checked     uint64        // health checks run
	Unhealthy   uint64        // idle servers found dead or failing their check
}

// Snapshot is a pool's state at one moment.
type Snapshot struct {
	Key                            Key
	Active, Idle, Opening, Waiting int
	MaxWait                        time.Duration // longest current wait
	Settings                       Settings
	Stats                          Stats
}

type waiter struct {
	since time.Time
	ch    chan *Server // buffered; nil value = a slot to open a server
}

// New makes a pool. creds returns an Authenticator for logins made on no
// particular client's behalf (shared servers, min_pool_size); it may
// return nil while no credentials are known. limits cap servers across
// pools.
func New(key Key, d *Dialer, set Settings, creds func() Authenticator, limits ...*Limiter) *Pool {
	p := &Pool{Key: key, dialer: d, set: set, creds: creds}
	for _, l := range limits {
		if l != nil {
			p.limits = append(p.limits, l)
			l.add(p)
		}
	}
	return p
}

// logger is where the pool reports; it discards when the manager has no
// logger.
func (p *Pool) logger() *slog.Logger {
	if p.log == nil {
		return discard
	}
	return p.log
}

var discard = slog.New(slog.DiscardHandler)

// TryAcquire returns an idle, healthy server at once, or nil when none is
// idle or clients are already queued (Acquire then waits in line). It is
// the allocation-free fast path of a busy transaction pool.
func (p *Pool) TryAcquire() *Server {
	for {
		p.mu.Lock()
		if p.closed || p.paused || len(p.waiters) > 0 {
			p.mu.Unlock()
			return nil
		}
		s := p.takeIdleLocked()
		if s == nil {
			p.mu.Unlock()
			return nil
		}
		p.active++
		p.stats.Acquired++
		set := p.checkSettingsLocked()
		p.mu.Unlock()
		if p.healthy(s, set) {
			return s
		}
		p.putBack(s, false)
	}
}

// takeTokens takes a token from each limiter, in order.
func (p *Pool) takeTokens(ctx context.Context) ([]*Limiter, error) {
	var got []*Limiter
	for _, l := range p.limits {
		if err := l.acquire(ctx, p); err != nil {
			for _, g := range got {
				g.release()
			}
			return nil, err
		}
		got = append(got, l)
	}
	return got, nil
}

// takeIdleLocked pops the most recently used idle server that is still
// within its lifetime.
func (p *Pool) takeIdleLocked() *Server {
	for len(p.idle) > 0 {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if p.expired(s, time.Now()) {
			go s.Close()
			continue
		}
		return s
	}
	return nil
}

func (p *Pool) expired(s *Server, now time.Time) bool {
	return p.set.Lifetime > 0 && now.Sub(s.Created) > p.set.Lifetime
}

// capacityLocked is the pool's size, plus the reserve once the first
// waiter has waited reserve_pool_timeout.
func (p *Pool) capacityLocked() int {
	c := p.set.Size
	if p.set.ReserveSize > 0 && len(p.waiters) > 0 && time.Since(p.waiters[0].since) >= p.set.ReserveTimeout {
		c += p.set.ReserveSize
	}
	return c
}

// grantNextLocked gives free slots to waiters, in order.
func (p *Pool) grantNextLocked() {
	for len(p.waiters) > 0 && !p.closed && !p.paused && p.total() < p.capacityLocked() {
		if p.total() >= p.set.Size {
			p.logger().Info("taking connection from reserve_pool", "database", p.Key.Database, "user", p.Key.User)
		}
		w := p.waiters[0]
		p.waiters[0] = nil // the backing array must not keep a served waiter alive
		p.waiters = p.waiters[1:]
		p.opening++
		w.ch <- nil
	}
}

func (p *Pool) removeWaiterLocked(w *waiter) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = slices.Delete(p.waiters, i, i+1) // zeroes the freed slot
			return true
		}
	}
	return false
}

// Release gives a server back. clean says its owner left it between
// messages with nothing in flight; the pool then rolls back an open
// transaction and runs the reset query before reusing it. Anything else —
// a dirty or dedicated server, a failed reset, an expired lifetime, a
// closed pool — closes the server and frees its slot.
func (p *Pool) Release(s *Server, clean bool) {
	p.putBack(s, clean && !s.dedicated && p.reset(s))
}

// putBack returns a server in use to the first waiter, to the idle list,
// or closes it when reuse is false or the server is too old.
func (p *Pool) putBack(s *Server, reuse bool) {
	// A pool of the same database or user waits for a token this server
	// holds: it is worth more there than idle here. Asked before taking
	// p.mu: a limiter looks at pools' idle servers under its own lock.
	wanted := s.wantedElsewhere()
	p.mu.Lock()
	p.active--
	now := time.Now()
	// With nobody waiting, servers beyond the pool's size (reserve servers,
	// or a size lowered by a reload) are not kept.
	surplus := len(p.waiters) == 0 && (p.total() >= p.set.Size || wanted)
	outdated := s.gen != p.gen
	if outdated {
		p.oldOut--
	}
	if !reuse || p.closed || p.paused || outdated || p.set.Lifetime == 0 || p.expired(s, now) || surplus {
		p.grantNextLocked()
		p.mu.Unlock()
		s.Close()
		return
	}
	s.LastUsed = now
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters[0] = nil // the backing array must not keep a served waiter alive
		p.waiters = p.waiters[1:]
		p.active++
		p.stats.Acquired++
		p.mu.Unlock()
		w.ch <- s
		return
	}
	p.idle = append(p.idle, s)
	p.mu.Unlock()
}

// resetTimeout bounds the rollback, reset and check queries.
const resetTimeout = 30 * time.Second

func (p *Pool) reset(s *Server) bool {
	p.mu.Lock()
	q := p.set.ResetQuery
	p.mu.Unlock()
	if s.Status == 'I' && q == "" {
		return true // transaction pooling's usual case: nothing to do
	}
	ctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
	defer cancel()
	if s.Status != 'I' {
		if err := s.Exec(ctx, "ROLLBACK"); err != nil || s.Status != 'I' {
			return false
		}
	}
	if q != "" {
		if err := s.Exec(ctx, q); err != nil || s.Status != 'I' {
			return false
		}
		s.Aux = nil
	}
	return true
}

func (p *Pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// closeOneIdle closes the least recently used idle server, if any, to
// give its limiter tokens to another pool.
func (p *Pool) closeOneIdle() bool {
	p.mu.Lock()
	if len(p.idle) == 0 {
		p.mu.Unlock()
		return false
	}
	s := p.idle[0]
	p.idle = p.idle[1:]
	p.grantNextLocked()
	p.mu.Unlock()
	s.Close()
	return true
}

// Snapshot reports the pool's state.
func (p *Pool) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	sn := Snapshot{
		Key: p.Key, Active: p.active, Idle: len(p.idle), Opening: p.opening,
		Waiting: len(p.waiters), Settings: p.set, Stats: p.stats,
	}
	if len(p.waiters) > 0 {
		sn.MaxWait = time.Since(p.waiters[0].since)
	}
	return sn
}

// Configure replaces the pool's settings; servers adapt as they are
// released and by housekeeping.
func (p *Pool) Configure(set Settings) {
	p.mu.Lock()
	p.set = set
	p.grantNextLocked()
	p.mu.Unlock()
}

// Close shuts the pool: idle servers are closed now, servers in use when
// released, and waiters fail with ErrClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	p.leaveLimiters()
	for _, w := range waiters {
		p.mu.Lock()
		p.opening++ // the waiter's open fails on the closed pool and gives it back
		p.mu.Unlock()
		w.ch <- nil
	}
	for _, s := range idle {
		s.Close()
	}
}

// closeIfUnused closes the pool when it has no server of any kind (idle,
// in use, being opened or checked, dedicated), no client waiting and no
// min_pool_size to keep, and reports whether it did. The check and the
// closing are one step under p.mu: no server can be opened in between.
func (p *Pool) closeIfUnused() bool {
	p.mu.Lock()
	if p.total() > 0 || len(p.waiters) > 0 || p.set.MinSize > 0 {
		p.mu.Unlock()
		return false
	}
	p.closed = true
	p.mu.Unlock()
	p.leaveLimiters()
	return true
}

// leaveLimiters unregisters a closed pool from its limiters: they no
// longer take its idle servers, nor count it as a user.
func (p *Pool) leaveLimiters() {
	for _, l := range p.limits {
		l.remove(p)
	}
}

// maintain closes idle servers past their idle timeout or lifetime or
// found dead, grants reserve slots to clients that waited long enough, and
// reports how many servers should be opened to reach MinSize.
func (p *Pool) maintain(now time.Time) (toOpen int) {
	p.mu.Lock()
	var drop []*Server
	keep := p.idle[:0]
	for _, s := range p.idle {
		if p.expired(s, now) || (p.set.IdleTimeout > 0 && now.Sub(s.LastUsed) > p.set.IdleTimeout) || !s.alive() {
			drop = append(drop, s)
			continue
		}
		keep = append(keep, s)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.grantNextLocked()
	if t := p.set.WaitTimeout; t > 0 {
		for len(p.waiters) > 0 && now.Sub(p.waiters[0].since) >= t {
			w := p.waiters[0]
			p.waiters = p.waiters[1:]
			w.ch <- timedOut
		}
	}
	total := p.total()
	retrying := p.loginErr != nil && now.Before(p.loginErrAt.Add(p.set.LoginRetry)) ||
		p.downErr != nil && now.Before(p.retryAt)
	if !p.closed && !retrying && total < p.set.MinSize && total < p.set.Size {
		toOpen = min(p.set.MinSize, p.set.Size) - total
	}
	p.mu.Unlock()
	for _, s := range drop {
		s.Close()
	}
	return toOpen
}

// warm opens one server for min_pool_size and parks it idle. It only runs
// when stored credentials are known.
func (p *Pool) warm(ctx context.Context) error {
	p.mu.Lock()
	creds := p.creds
	p.mu.Unlock()
	if creds == nil || creds() == nil {
		return nil
	}
	p.mu.Lock()
	if p.closed || p.total() >= min(p.set.MinSize, p.set.Size) {
		p.mu.Unlock()
		return nil
	}
	p.opening++
	p.mu.Unlock()
	s, err := p.open(ctx, nil, nil)
	if err != nil {
		return err
	}
	p.putBack(s, true) // fresh from login: nothing to reset
	return nil
}
