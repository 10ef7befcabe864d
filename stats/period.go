package stats

import (
	"log/slog"
	"sync"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// Period keeps, per database, the counters at the start of the current
// stats period and the difference over the last complete one.
type Period struct {
	mu     sync.Mutex
	start  time.Time
	base   map[string]snapshot.Counters
	last   map[string]snapshot.Counters
	length time.Duration
}

// Roll closes the current period at now, given the running totals, and
// starts the next. The first call only starts one.
func (p *Period) Roll(now time.Time, totals map[string]snapshot.Counters) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.base != nil {
		p.last = make(map[string]snapshot.Counters, len(totals))
		for db, t := range totals {
			p.last[db] = combine(t, p.base[db], -1)
		}
		p.length = now.Sub(p.start)
	}
	p.base, p.start = totals, now
}

// Last returns the differences over the last complete period, by
// database, and its length (zero before one has completed).
func (p *Period) Last() (map[string]snapshot.Counters, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.length
}

// Log writes PgBouncer's periodic stats line per database (log_stats)
// for the last complete period.
func (p *Period) Log(log *slog.Logger) {
	last, length := p.Last()
	secs := length.Seconds()
	if secs <= 0 {
		return
	}
	avg := func(d time.Duration, n uint64) int64 {
		if n == 0 {
			return 0
		}
		return d.Microseconds() / int64(n)
	}
	for db, c := range last {
		log.Info("stats", "database", db,
			"xacts_per_s", uint64(float64(c.Transactions)/secs), "queries_per_s", uint64(float64(c.Queries)/secs),
			"in_bytes_per_s", uint64(float64(c.Received)/secs), "out_bytes_per_s", uint64(float64(c.Sent)/secs),
			"xact_us", avg(c.XactTime, c.Transactions), "query_us", avg(c.QueryTime, c.Queries),
			"wait_us", avg(c.WaitTime, c.ServerAssignments))
	}
}

// Labels counts events by a label. Safe for concurrent use.
type Labels struct {
	mu sync.Mutex
	m  map[string]uint64
}

// Add counts one event labelled key.
func (c *Labels) Add(key string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]uint64)
	}
	c.m[key]++
	c.mu.Unlock()
}

// Copy returns the counts so far.
func (c *Labels) Copy() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}
