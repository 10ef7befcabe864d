package gateway

import (
	"time"

	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/stats"
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
		g.retired.Add(dbOfPool(k), keepDB, p.Snapshot(), &in.stats)
	} else {
		g.retired.Add(dbOfPool(k), false, p.Snapshot(), &stats.Pool{})
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
