package gateway

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
)

// poolStats counts what went through one pool. Sessions add to it with
// atomics, a few times per transaction.
type poolStats struct {
	xacts, queries      atomic.Uint64
	recv, sent          atomic.Uint64 // bytes from and to clients
	xactNs, queryNs     atomic.Uint64
	clientParses, binds atomic.Uint64
	serverParses        atomic.Uint64
	preparedHits        atomic.Uint64
	preparedMisses      atomic.Uint64
}

// isAuthPool reports whether key is a pool auth_query runs on.
func isAuthPool(k pool.Key) bool { return strings.HasPrefix(k.Database, "auth_query:") }

// dbOfPool is the database name statistics use for a pool.
func dbOfPool(k pool.Key) string { return k.Database }

// statsFor returns the counters of the pool key names.
func (g *Gateway) statsFor(key pool.Key) *poolStats {
	if v, ok := g.stats.Load(key); ok {
		return v.(*poolStats)
	}
	v, _ := g.stats.LoadOrStore(key, new(poolStats))
	return v.(*poolStats)
}

// ended records a round trip answered by ReadyForQuery: a query, and a
// transaction when the server is idle again. started is when the round
// trip began, xactStarted when the transaction did.
func (ps *poolStats) ended(status byte, started, xactStarted, now int64) {
	ps.queries.Add(1)
	if started > 0 && now > started {
		ps.queryNs.Add(uint64(now - started))
	}
	if status == 'I' {
		ps.xacts.Add(1)
		if xactStarted > 0 && now > xactStarted {
			ps.xactNs.Add(uint64(now - xactStarted))
		}
	}
}

// countingWriter counts the bytes written through it into n.
type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
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
		sn := p.Snapshot()
		db := dbOfPool(p.Key)
		c := out[db]
		ps := g.statsFor(p.Key)
		c.ServerAssignments += sn.Stats.Acquired
		c.WaitTime += sn.Stats.WaitTime
		c.Transactions += ps.xacts.Load()
		c.Queries += ps.queries.Load()
		c.Received += ps.recv.Load()
		c.Sent += ps.sent.Load()
		c.XactTime += time.Duration(ps.xactNs.Load())
		c.QueryTime += time.Duration(ps.queryNs.Load())
		c.ClientParses += ps.clientParses.Load()
		c.ServerParses += ps.serverParses.Load()
		c.Binds += ps.binds.Load()
		out[db] = c
	}
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
		Parked:        g.parker.count(),
	}
	for _, p := range g.pools.Pools() {
		sn := p.Snapshot()
		e.ServerConnects += sn.Stats.Opened
		e.ServerFailures += sn.Stats.LoginFailed
		ps := g.statsFor(p.Key)
		e.PreparedHits += ps.preparedHits.Load()
		e.PreparedMisses += ps.preparedMisses.Load()
	}
	return e
}
