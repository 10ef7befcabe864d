package stats

import (
	"sync"

	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
)

// Retired holds the counters of pools that were freed: per database for
// the databases that stay (a configured entry), and process-wide for the
// event totals.
type Retired struct {
	mu     sync.Mutex
	byDB   map[string]snapshot.Counters
	events RetiredEvents
}

// RetiredEvents are the process-wide event counts of freed pools.
type RetiredEvents struct {
	ServerConnects, ServerFailures uint64
	PreparedHits, PreparedMisses   uint64
}

// Add folds a freed pool of database db into the totals; keepDB says the
// database stays (its SHOW STATS row must not lose the pool's counts).
func (r *Retired) Add(db string, keepDB bool, sn pool.Snapshot, ps *Pool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if keepDB {
		if r.byDB == nil {
			r.byDB = make(map[string]snapshot.Counters)
		}
		c := r.byDB[db]
		ps.AddTo(&c, sn)
		r.byDB[db] = c
	}
	r.events.ServerConnects += sn.Stats.Opened
	r.events.ServerFailures += sn.Stats.LoginFailed
	r.events.PreparedHits += ps.PreparedHits.Load()
	r.events.PreparedMisses += ps.PreparedMisses.Load()
}

// AddTo adds the retired counters of every database to tot.
func (r *Retired) AddTo(tot map[string]snapshot.Counters) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for db, c := range r.byDB {
		tot[db] = combine(tot[db], c, 1)
	}
}

// Events returns the event counts of the pools freed so far.
func (r *Retired) Events() RetiredEvents {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events
}
