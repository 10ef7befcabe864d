package gateway

import (
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/stats"
)

// isAuthPool reports whether key is a pool auth_query runs on.
func isAuthPool(k pool.Key) bool { return k.Lookup != "" }

// dbOfPool is the database name statistics use for a pool.
func dbOfPool(k pool.Key) string { return k.Database }

// poolInfo is what the gateway keeps beside each client pool, for as
// long as the pool lives.
type poolInfo struct {
	origin poolOrigin
	stats  stats.Pool
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
		in.stats.AddTo(&c, p.Snapshot())
		out[db] = c
	}
	g.retired.AddTo(out)
	return out
}

// rollPeriod closes the current stats period.
func (g *Gateway) rollPeriod(now time.Time) { g.period.Roll(now, g.totals()) }

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
			g.rollPeriod(now)
			if g.state.Load().cfg.General.LogStats {
				g.period.Log(g.log)
			}
		}
	}
}

// Events returns process-wide counters (metrics).
func (g *Gateway) Events() snapshot.Events {
	e := snapshot.Events{
		Logins:        g.logins.Copy(),
		TLSHandshakes: g.tlsHandshakes.Copy(),
		TLSFailures:   g.tlsFailures.Load(),
		Throttled:     g.throttled.Load(),
		Reloads:       g.reloads.Copy(),
		Parked:        g.sessions.Parked(),
	}
	r := g.retired.Events()
	e.ServerConnects, e.ServerFailures = r.ServerConnects, r.ServerFailures
	e.PreparedHits, e.PreparedMisses = r.PreparedHits, r.PreparedMisses
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
