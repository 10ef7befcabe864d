package pool

import (
	"context"
	"sync"
	"time"
)

// housekeepingPeriod is how often idle servers are checked against their
// timeouts and liveness, waiters are granted reserve servers, and
// min_pool_size is topped up.
const housekeepingPeriod = 250 * time.Millisecond

// Manager holds every pool, the limiters shared between pools, and runs
// housekeeping. Safe for concurrent use.
type Manager struct {
	mu       sync.Mutex
	pools    map[Key]*Pool
	dbLimit  map[string]*Limiter
	usrLimit map[string]*Limiter
	// Logf reports housekeeping failures (e.g. a min_pool_size login);
	// nil discards them.
	Logf func(format string, args ...any)
}

// NewManager returns an empty Manager.
func NewManager() *Manager {
	return &Manager{
		pools:    make(map[Key]*Pool),
		dbLimit:  make(map[string]*Limiter),
		usrLimit: make(map[string]*Limiter),
	}
}

// Get returns the pool for key, making it with build when absent. build
// runs without the manager's lock (it may ask for limiters); when two
// callers race, the first pool stored wins and the other is closed.
func (m *Manager) Get(key Key, build func() *Pool) *Pool {
	m.mu.Lock()
	p, ok := m.pools[key]
	m.mu.Unlock()
	if ok {
		return p
	}
	np := build()
	m.mu.Lock()
	if p, ok = m.pools[key]; !ok {
		m.pools[key] = np
	}
	m.mu.Unlock()
	if ok {
		np.Close()
		return p
	}
	return np
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

// Pools returns every pool, in no particular order.
func (m *Manager) Pools() []*Pool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Pool, 0, len(m.pools))
	for _, p := range m.pools {
		out = append(out, p)
	}
	return out
}

// Run does housekeeping until ctx ends: idle timeouts, lifetimes,
// liveness, reserve servers and min_pool_size. Logins for min_pool_size
// run one per pool at a time.
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
					if err := p.warm(ctx); err != nil && m.Logf != nil && ctx.Err() == nil {
						m.Logf("min_pool_size login for %s/%s failed: %v", p.Key.Database, p.Key.User, err)
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
