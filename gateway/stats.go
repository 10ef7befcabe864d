package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
)

// poolStats are a pool's traffic counters, which its sessions keep.
type poolStats = session.Counters

// isAuthPool reports whether key is a pool auth_query runs on.
func isAuthPool(k pool.Key) bool { return k.Lookup != "" }

// dbOfPool is the database name statistics use for a pool.
func dbOfPool(k pool.Key) string { return k.Database }

// poolInfo is what the gateway keeps beside each client pool, for as
// long as the pool lives.
type poolInfo struct {
	origin poolOrigin
	stats  poolStats
	// modeName is the pool mode SHOW POOLS shows; nil until an
	// authenticated client has used the pool, which until then is shown
	// nowhere.
	modeName atomic.Pointer[string]
}

func (in *poolInfo) setMode(m config.PoolMode) {
	s := string(m)
	in.modeName.Store(&s)
}

// mode returns the pool's mode, and false while no authenticated client
// has used the pool.
func (in *poolInfo) mode() (string, bool) {
	if m := in.modeName.Load(); m != nil {
		return *m, true
	}
	return "", false
}

// infoFor returns the gateway's record of p, making it with origin.
func (g *Gateway) infoFor(p *pool.Pool, origin poolOrigin) *poolInfo {
	if v, ok := g.pinfo.Load(p); ok {
		return v.(*poolInfo)
	}
	v, _ := g.pinfo.LoadOrStore(p, &poolInfo{origin: origin})
	return v.(*poolInfo)
}

// info returns the gateway's record of p, or nil (an auth_query pool).
func (g *Gateway) info(p *pool.Pool) *poolInfo {
	if v, ok := g.pinfo.Load(p); ok {
		return v.(*poolInfo)
	}
	return nil
}

// periodStats keeps, per database, the counters at the start of the
// current stats period and the difference over the last complete one, for
// SHOW STATS averages and log_stats.
type periodStats struct {
	mu     sync.Mutex
	start  time.Time
	base   map[string]snapshot.Counters
	last   map[string]snapshot.Counters
	length time.Duration
}

// totals adds up the counters of every pool, by database.
func (g *Gateway) totals() map[string]snapshot.Counters {
	out := make(map[string]snapshot.Counters)
	for _, p := range g.pools.Pools() {
		if isAuthPool(p.Key) {
			continue
		}
		in := g.info(p)
		if in == nil {
			continue
		}
		db := dbOfPool(p.Key)
		c := out[db]
		addPoolCounters(&c, p.Snapshot(), &in.stats)
		out[db] = c
	}
	g.retired.addTo(out)
	return out
}

// rollPeriod closes the current stats period.
func (g *Gateway) rollPeriod(now time.Time) map[string]snapshot.Counters {
	tot := g.totals()
	p := &g.period
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.base != nil {
		p.last = make(map[string]snapshot.Counters, len(tot))
		for db, t := range tot {
			p.last[db] = sub(t, p.base[db])
		}
		p.length = now.Sub(p.start)
	}
	p.base, p.start = tot, now
	return p.last
}

func sub(a, b snapshot.Counters) snapshot.Counters {
	return snapshot.Counters{
		ServerAssignments: a.ServerAssignments - b.ServerAssignments,
		Transactions:      a.Transactions - b.Transactions,
		Queries:           a.Queries - b.Queries,
		Received:          a.Received - b.Received,
		Sent:              a.Sent - b.Sent,
		XactTime:          a.XactTime - b.XactTime,
		QueryTime:         a.QueryTime - b.QueryTime,
		WaitTime:          a.WaitTime - b.WaitTime,
		ClientParses:      a.ClientParses - b.ClientParses,
		ServerParses:      a.ServerParses - b.ServerParses,
		Binds:             a.Binds - b.Binds,
	}
}

// logStats writes PgBouncer's periodic stats line per database
// (log_stats), from the period just closed.
func (g *Gateway) logStats(last map[string]snapshot.Counters, length time.Duration) {
	secs := length.Seconds()
	if secs <= 0 {
		return
	}
	for db, c := range last {
		avg := func(d time.Duration, n uint64) int64 {
			if n == 0 {
				return 0
			}
			return d.Microseconds() / int64(n)
		}
		g.log.Info("stats", "database", db,
			"xacts_per_s", uint64(float64(c.Transactions)/secs), "queries_per_s", uint64(float64(c.Queries)/secs),
			"in_bytes_per_s", uint64(float64(c.Received)/secs), "out_bytes_per_s", uint64(float64(c.Sent)/secs),
			"xact_us", avg(c.XactTime, c.Transactions), "query_us", avg(c.QueryTime, c.Queries),
			"wait_us", avg(c.WaitTime, c.ServerAssignments))
	}
}

// runStats closes a stats period every stats_period.
func (g *Gateway) runStats() {
	defer g.wg.Done()
	for {
		period := g.state.Load().cfg.General.StatsPeriod
		if period <= 0 {
			period = time.Minute
		}
		select {
		case <-g.bg.Done():
			return
		case now := <-time.After(period):
			last := g.rollPeriod(now)
			if g.state.Load().cfg.General.LogStats {
				g.period.mu.Lock()
				length := g.period.length
				g.period.mu.Unlock()
				g.logStats(last, length)
			}
		}
	}
}

// counterMap counts events by a label. Safe for concurrent use.
type counterMap struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (c *counterMap) Add(key string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]uint64)
	}
	c.m[key]++
	c.mu.Unlock()
}

func (c *counterMap) copy() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// Events returns process-wide counters (metrics).
func (g *Gateway) Events() snapshot.Events {
	e := snapshot.Events{
		Logins:        g.logins.copy(),
		TLSHandshakes: g.tlsHandshakes.copy(),
		TLSFailures:   g.tlsFailures.Load(),
		Throttled:     g.throttled.Load(),
		Reloads:       g.reloads.copy(),
		Parked:        g.sessions.Parked(),
	}
	g.retired.mu.Lock()
	e.ServerConnects, e.ServerFailures = g.retired.events.connects, g.retired.events.failures
	e.PreparedHits, e.PreparedMisses = g.retired.events.preparedHits, g.retired.events.preparedMisses
	g.retired.mu.Unlock()
	for _, p := range g.pools.Pools() {
		sn := p.Snapshot()
		e.ServerConnects += sn.Stats.Opened
		e.ServerFailures += sn.Stats.LoginFailed
		if in := g.info(p); in != nil {
			e.PreparedHits += in.stats.PreparedHits.Load()
			e.PreparedMisses += in.stats.PreparedMisses.Load()
		}
	}
	return e
}
