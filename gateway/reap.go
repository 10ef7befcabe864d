package gateway

import (
	"sync"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
)

// reapPeriod is how often pools with neither clients nor servers are
// looked for.
const reapPeriod = time.Second

// unconfirmedPoolIdle is how long a pool no authenticated client has used
// is kept once it is empty: under auth_type=server a login attaches to its
// pool before PostgreSQL has accepted it, and a login that failed leaves
// nothing behind for longer than one reaper pass.
const unconfirmedPoolIdle = time.Nanosecond

// runReaper frees empty pools until the gateway closes.
func (g *Gateway) runReaper() {
	defer g.wg.Done()
	t := time.NewTicker(reapPeriod)
	defer t.Stop()
	for {
		select {
		case <-g.bg.Done():
			return
		case now := <-t.C:
			g.reapPools(now)
		}
	}
}

// reapPools frees the pools that have had no clients, no servers and no
// waiters for their idle period, with what the gateway kept for them.
func (g *Gateway) reapPools(now time.Time) {
	gen := &g.state.Load().cfg.General
	idleFor := func(p *pool.Pool) time.Duration {
		if isAuthPool(p.Key) {
			// An auth_query pool is made again by the next lookup; it is
			// kept empty only while server_login_retry protects its
			// database from a login that just failed.
			return max(gen.ServerLoginRetry, time.Second)
		}
		in := g.info(p)
		if in == nil {
			return unconfirmedPoolIdle
		}
		if _, ok := in.mode(); !ok {
			return unconfirmedPoolIdle
		}
		if in.origin.entry == "*" {
			return gen.AutodbIdleTimeout
		}
		return gen.PoolIdleTimeout
	}
	for _, p := range g.pools.Reap(now, idleFor) {
		g.forgetPool(p)
	}
}

// forgetPool drops what the gateway kept for a freed pool. Its counters
// stay in the process-wide totals and, for a configured database, in that
// database's, so SHOW STATS and metrics never go backwards; a database the
// fallback made disappears with its last pool.
func (g *Gateway) forgetPool(p *pool.Pool) {
	k := p.Key
	v, ok := g.pinfo.LoadAndDelete(p)
	if ok {
		in := v.(*poolInfo)
		keepDB := in.origin.entry != "*"
		g.retired.add(dbOfPool(k), keepDB, p.Snapshot(), &in.stats)
	} else {
		g.retired.add(dbOfPool(k), false, p.Snapshot(), &poolStats{})
	}
	// SCRAM keys learned for a user are needed only by that user's
	// pools; the next login teaches them again.
	for _, q := range g.pools.Pools() {
		if q.Key.User == k.User {
			return
		}
	}
	g.learned.Delete(k.User)
}

// retiredStats holds, per configured database, the counters of its pools
// that were freed.
type retiredStats struct {
	mu     sync.Mutex
	byDB   map[string]snapshot.Counters
	events struct{ connects, failures, preparedHits, preparedMisses uint64 }
}

func (r *retiredStats) add(db string, keepDB bool, sn pool.Snapshot, ps *poolStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if keepDB {
		if r.byDB == nil {
			r.byDB = make(map[string]snapshot.Counters)
		}
		c := r.byDB[db]
		addPoolCounters(&c, sn, ps)
		r.byDB[db] = c
	}
	r.events.connects += sn.Stats.Opened
	r.events.failures += sn.Stats.LoginFailed
	r.events.preparedHits += ps.PreparedHits.Load()
	r.events.preparedMisses += ps.PreparedMisses.Load()
}

// addTo adds the retired counters of every database to tot.
func (r *retiredStats) addTo(tot map[string]snapshot.Counters) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for db, c := range r.byDB {
		tot[db] = addCounters(tot[db], c)
	}
}

// addPoolCounters adds one pool's counters to c.
func addPoolCounters(c *snapshot.Counters, sn pool.Snapshot, ps *poolStats) {
	c.ServerAssignments += sn.Stats.Acquired
	c.WaitTime += sn.Stats.WaitTime
	c.Transactions += ps.Xacts.Load()
	c.Queries += ps.Queries.Load()
	c.Received += ps.Recv.Load()
	c.Sent += ps.Sent.Load()
	c.XactTime += time.Duration(ps.XactNs.Load())
	c.QueryTime += time.Duration(ps.QueryNs.Load())
	c.ClientParses += ps.ClientParses.Load()
	c.ServerParses += ps.ServerParses.Load()
	c.Binds += ps.Binds.Load()
}

func addCounters(a, b snapshot.Counters) snapshot.Counters {
	return snapshot.Counters{
		ServerAssignments: a.ServerAssignments + b.ServerAssignments,
		Transactions:      a.Transactions + b.Transactions,
		Queries:           a.Queries + b.Queries,
		Received:          a.Received + b.Received,
		Sent:              a.Sent + b.Sent,
		XactTime:          a.XactTime + b.XactTime,
		QueryTime:         a.QueryTime + b.QueryTime,
		WaitTime:          a.WaitTime + b.WaitTime,
		ClientParses:      a.ClientParses + b.ClientParses,
		ServerParses:      a.ServerParses + b.ServerParses,
		Binds:             a.Binds + b.Binds,
	}
}
