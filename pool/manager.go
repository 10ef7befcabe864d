package pool

import (
	"context"
	"sync"
	"time"
)

// housekeepingPeriod is how often idle servers are checked against their
// timeouts and min_pool_size is topped up (PgBouncer checks about as often).
const housekeepingPeriod = time.Second

// Manager holds every pool and runs their housekeeping. Safe for
// concurrent use.
type Manager struct {
	mu    sync.Mutex
	pools map[Key]*Pool
	// Logf reports housekeeping failures (e.g. a min_pool_size login);
	// nil discards them.
	Logf func(format string, args ...any)
}

// NewManager returns an empty Manager.
func NewManager() *Manager {
	return &Manager{pools: make(map[Key]*Pool)}
}

// Get returns the pool for key, making it with build when absent.
func (m *Manager) Get(key Key, build func() *Pool) *Pool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.pools[key]; ok {
		return p
	}
	p := build()
	m.pools[key] = p
	return p
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

// Run does housekeeping until ctx ends: idle timeouts, lifetimes and
// min_pool_size. Logins for min_pool_size run one per pool at a time.
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
