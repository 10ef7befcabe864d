package pool

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// housekeepingPeriod is how often idle servers are checked against their
// timeouts and liveness, waiters are granted reserve servers, and
// min_pool_size is topped up.
const housekeepingPeriod = 250 * time.Millisecond

// Manager holds every pool, the limiters shared between pools, and runs
// housekeeping. Pools that nobody uses are removed by Reap, and limiters
// that no pool uses with them. Safe for concurrent use.
type Manager struct {
	mu       sync.Mutex
	pools    map[Key]*entry
	dbLimit  map[string]*Limiter
	usrLimit map[string]*Limiter
	// building counts builds in progress: a build may hold a limiter it
	// asked for before the pool it makes is registered with it, so Reap
	// leaves limiters alone meanwhile.
	building int
	// Log receives what pools report: housekeeping failures (a
	// min_pool_size login) and events PgBouncer logs too (a reserve
	// server taken). Set it before the first pool is made; nil discards.
	Log *slog.Logger
}

// entry is a pool with the manager's bookkeeping, guarded by Manager.mu.
type entry struct {
	pool    *Pool
	holders int       // Attach calls not yet matched by Detach
	since   time.Time // last use: made, Get, Attach, or the last Detach
}

// NewManager returns an empty Manager.
func NewManager() *Manager {
	return &Manager{
		pools:    make(map[Key]*entry),
		dbLimit:  make(map[string]*Limiter),
		usrLimit: make(map[string]*Limiter),
	}
}

// Get returns the pool for key, making it with build when absent. build
// runs without the manager's lock (it may ask for limiters); when two
// callers race, the first pool stored wins and the other is closed.
//
// The caller does not hold the pool: once idle long enough it may be
// removed and closed by Reap, after which its Acquire fails with
// ErrClosed and Get makes a new pool. Get counts as a use, so the pool's
// idle time starts over. Client sessions use Attach instead.
func (m *Manager) Get(key Key, build func() *Pool) *Pool {
	return m.lookup(key, build, false)
}

// Attach is Get for a client session: the caller becomes a holder of the
// returned pool until it calls Detach, exactly once per Attach. A held
// pool is never removed or closed by Reap, so between Attach and Detach
// it stays the manager's pool for key and Acquire never fails with
// ErrClosed because of Reap.
func (m *Manager) Attach(key Key, build func() *Pool) *Pool {
	return m.lookup(key, build, true)
}

// Detach ends a holding taken by Attach. When the last holder leaves, the
// pool's idle time starts. Detach of a pool with no holders, or of a
// pool the manager no longer holds, does nothing; a second Detach for
// one Attach would however end another caller's holding, so each Attach
// must be matched by exactly one Detach.
func (m *Manager) Detach(p *Pool) {
	m.mu.Lock()
	if e := m.pools[p.Key]; e != nil && e.pool == p && e.holders > 0 {
		e.holders--
		if e.holders == 0 {
			e.since = time.Now()
		}
	}
	m.mu.Unlock()
}

// lookup returns the pool for key, made with build when absent, and
// counts a use of it (and a holder when hold is set) in the same critical
// section as the lookup, so that Reap cannot take it in between.
func (m *Manager) lookup(key Key, build func() *Pool, hold bool) *Pool {
	m.mu.Lock()
	if e, ok := m.pools[key]; ok {
		e.use(hold)
		m.mu.Unlock()
		return e.pool
	}
	m.building++
	m.mu.Unlock()
	np := m.build(build)
	np.log = m.Log
	m.mu.Lock()
	e, ok := m.pools[key]
	if !ok {
		e = &entry{pool: np}
		m.pools[key] = e
	}
	e.use(hold)
	m.mu.Unlock()
	if ok {
		np.Close()
	}
	return e.pool
}

// build runs build without the lock, counted in m.building until it
// returns (the pool it made is then registered with its limiters).
func (m *Manager) build(build func() *Pool) *Pool {
	defer func() {
		m.mu.Lock()
		m.building--
		m.mu.Unlock()
	}()
	return build()
}

func (e *entry) use(hold bool) {
	if hold {
		e.holders++
	}
	e.since = time.Now()
}

// Reap removes and closes every pool that has no holder (see Attach), no
// server of any kind (idle, in use, being opened or checked, dedicated),
// no client waiting and no min_pool_size, and that has gone unused for at
// least idleFor(p) before now; idleFor returning 0 or less keeps p.
// idleFor is called without the manager's lock. Limiters that no open
// pool uses and that count no server and no waiter are dropped as well
// (unless a pool is being built meanwhile: the next Reap drops them);
// DBLimiter and UserLimiter then start a new one. Reap returns the pools
// removed, so that the caller can drop what it keeps per pool; a pool
// made since for the same Key is another *Pool.
func (m *Manager) Reap(now time.Time, idleFor func(*Pool) time.Duration) []*Pool {
	m.mu.Lock()
	var cand []*entry
	for _, e := range m.pools {
		if e.holders == 0 {
			cand = append(cand, e)
		}
	}
	m.mu.Unlock()
	wait := make([]time.Duration, len(cand))
	for i, e := range cand {
		wait[i] = idleFor(e.pool)
	}
	var reaped []*Pool
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, e := range cand {
		// Used, attached or replaced since the first look: check again.
		if wait[i] <= 0 || m.pools[e.pool.Key] != e || e.holders > 0 || now.Sub(e.since) < wait[i] {
			continue
		}
		if !e.pool.closeIfUnused() {
			continue
		}
		delete(m.pools, e.pool.Key)
		reaped = append(reaped, e.pool)
	}
	if m.building == 0 {
		dropUnused(m.dbLimit)
		dropUnused(m.usrLimit)
	}
	return reaped
}

func dropUnused(set map[string]*Limiter) {
	for name, l := range set {
		if l.unused() {
			delete(set, name)
		}
	}
}

// DBLimiter returns the limiter shared by every pool of database db,
// setting its cap to max (max_db_connections).
func (m *Manager) DBLimiter(db string, max int) *Limiter {
	return m.limiter(m.dbLimit, db, max)
}

// UserLimiter returns the limiter shared by every pool of user, setting
// its cap to max (max_user_connections).
func (m *Manager) UserLimiter(user string, max int) *Limiter {
	return m.limiter(m.usrLimit, user, max)
}

func (m *Manager) limiter(set map[string]*Limiter, name string, max int) *Limiter {
	m.mu.Lock()
	l, ok := set[name]
	if !ok {
		l = NewLimiter(max)
		set[name] = l
	}
	m.mu.Unlock()
	if ok {
		l.SetMax(max)
	}
	return l
}

// Pools returns every pool the manager holds (none removed by Reap), in
// no particular order.
func (m *Manager) Pools() []*Pool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Pool, 0, len(m.pools))
	for _, e := range m.pools {
		out = append(out, e.pool)
	}
	return out
}

// Run does housekeeping until ctx ends: idle timeouts, lifetimes,
// liveness, reserve servers and min_pool_size. Logins for min_pool_size
// run one per pool at a time. It works on the pools Pools lists at each
// tick; a pool removed by Reap meanwhile is closed and opens nothing.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(housekeepingPeriod)
	defer t.Stop()
	warming := make(map[*Pool]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, p := range m.Pools() {
				if p.maintain(now) == 0 {
					continue
				}
				mu.Lock()
				busy := warming[p]
				warming[p] = true
				mu.Unlock()
				if busy {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := p.warm(ctx); err != nil && ctx.Err() == nil {
						p.logger().Warn("min_pool_size login failed", "database", p.Key.Database, "user", p.Key.User, "err", err)
					}
					mu.Lock()
					delete(warming, p)
					mu.Unlock()
				}()
			}
		}
	}
}

// Close closes every pool.
func (m *Manager) Close() {
	for _, p := range m.Pools() {
		p.Close()
	}
}
