package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// collector turns a Source's snapshots into metrics at scrape time. It
// keeps no state between scrapes, so concurrent scrapes are safe whenever
// the Source is.
type collector struct {
	src Source
	now func() time.Time // decides which lockouts are still in force
}

var _ prometheus.Collector = (*collector)(nil)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{ch: ch}
	e.gauge(descBuildInfo, 1, label(c.src.Version()))
	e.gauge(descReady, boolValue(c.src.Ready()))
	c.collectPools(e)
	c.collectStats(e)
	c.collectEvents(e)
	c.collectCerts(e)
	c.collectLockouts(e)
}

// poolKey identifies a pool series after label sanitising.
type poolKey struct{ db, user string }

// Client and server states in the order of SHOW POOLS's columns; the
// names are those SHOW CLIENTS and SHOW SERVERS print.
var (
	clientStates = [...]string{"active", "waiting", "active_cancel_req", "waiting_cancel_req"}
	serverStates = [...]string{"active", "active_cancel", "being_canceled", "idle", "used", "tested", "login"}
)

// poolCounts are one pool's connection counts, indexed like clientStates
// and serverStates.
type poolCounts struct {
	clients [len(clientStates)]int
	servers [len(serverStates)]int
	maxWait time.Duration
}

func (c *collector) collectPools(e emitter) {
	pools := c.src.Pools()
	byKey := make(map[poolKey]*poolCounts, len(pools))
	for i := range pools {
		p := &pools[i]
		k := poolKey{label(p.Database), label(p.User)}
		pc := byKey[k]
		if pc == nil {
			pc = new(poolCounts)
			byKey[k] = pc
		}
		for j, n := range [...]int{p.ClActive, p.ClWaiting, p.ClActiveCancel, p.ClWaitingCancel} {
			pc.clients[j] += n
		}
		for j, n := range [...]int{p.SvActive, p.SvActiveCancel, p.SvBeingCanceled, p.SvIdle, p.SvUsed, p.SvTested, p.SvLogin} {
			pc.servers[j] += n
		}
		pc.maxWait = max(pc.maxWait, p.MaxWait)
	}
	for k, pc := range byKey {
		for j, st := range clientStates {
			e.gauge(descPoolClients, float64(pc.clients[j]), k.db, k.user, st)
		}
		for j, st := range serverStates {
			e.gauge(descPoolServers, float64(pc.servers[j]), k.db, k.user, st)
		}
		e.gauge(descPoolMaxWait, pc.maxWait.Seconds(), k.db, k.user)
	}
}

func (c *collector) collectStats(e emitter) {
	stats := c.src.Stats()
	byDB := make(map[string]*snapshot.Counters, len(stats))
	for i := range stats {
		db := label(stats[i].Database)
		sum := byDB[db]
		if sum == nil {
			sum = new(snapshot.Counters)
			byDB[db] = sum
		}
		addCounters(sum, &stats[i].Total)
	}
	for db, t := range byDB {
		e.counter(descServerAssignments, float64(t.ServerAssignments), db)
		e.counter(descTransactions, float64(t.Transactions), db)
		e.counter(descQueries, float64(t.Queries), db)
		e.counter(descReceived, float64(t.Received), db)
		e.counter(descSent, float64(t.Sent), db)
		e.counter(descXactTime, t.XactTime.Seconds(), db)
		e.counter(descQueryTime, t.QueryTime.Seconds(), db)
		e.counter(descWaitTime, t.WaitTime.Seconds(), db)
		e.counter(descClientParses, float64(t.ClientParses), db)
		e.counter(descServerParses, float64(t.ServerParses), db)
		e.counter(descBinds, float64(t.Binds), db)
		e.counter(descClientLogins, float64(t.ClientLogins), db)
	}
}

func addCounters(sum, c *snapshot.Counters) {
	sum.ServerAssignments += c.ServerAssignments
	sum.Transactions += c.Transactions
	sum.Queries += c.Queries
	sum.Received += c.Received
	sum.Sent += c.Sent
	sum.XactTime += c.XactTime
	sum.QueryTime += c.QueryTime
	sum.WaitTime += c.WaitTime
	sum.ClientParses += c.ClientParses
	sum.ServerParses += c.ServerParses
	sum.Binds += c.Binds
	sum.ClientLogins += c.ClientLogins
}

// Label values that always appear, at zero if need be, so that rate() and
// absent() work from pgbun's first scrape rather than from the first event.
var (
	reloadResults = []string{"ok", "failed"}
	lockoutKinds  = []string{"address", "user"}
)

func (c *collector) collectEvents(e emitter) {
	ev := c.src.Events()
	e.counter(descServerConnects, float64(ev.ServerConnects))
	e.counter(descServerConnectFailures, float64(ev.ServerFailures))
	e.counter(descThrottled, float64(ev.Throttled))
	e.counter(descTLSFailures, float64(ev.TLSFailures))
	e.gauge(descParked, float64(ev.Parked))
	e.counter(descPrepared, float64(ev.PreparedHits), "hit")
	e.counter(descPrepared, float64(ev.PreparedMisses), "miss")

	reloads := sumByLabel(ev.Reloads, reloadResults)
	for result, n := range reloads {
		e.counter(descReloads, n, result)
	}
	for version, n := range sumByLabel(ev.TLSHandshakes, nil) {
		e.counter(descTLSHandshakes, n, version)
	}

	type login struct{ method, result string }
	logins := make(map[login]float64, len(ev.Logins))
	for key, n := range ev.Logins {
		method, result := splitLoginKey(key)
		logins[login{label(method), label(result)}] += float64(n)
	}
	for k, n := range logins {
		e.counter(descLogins, n, k.method, k.result)
	}
}

// splitLoginKey splits an Events.Logins key, "method/result". The result
// names contain no slash, so the last one separates them; a key without
// one is counted under result "unknown" rather than dropped.
func splitLoginKey(key string) (method, result string) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return key, "unknown"
	}
	return key[:i], key[i+1:]
}

// sumByLabel sanitises the keys of m and adds up the counts of keys that
// become equal; each of always is present, at zero if m lacks it.
func sumByLabel(m map[string]uint64, always []string) map[string]float64 {
	out := make(map[string]float64, len(m)+len(always))
	for _, k := range always {
		out[k] = 0
	}
	for k, n := range m {
		out[label(k)] += float64(n)
	}
	return out
}

func (c *collector) collectCerts(e emitter) {
	type certKey struct{ name, source, serial string }
	earliest := make(map[certKey]time.Time)
	for _, ct := range c.src.Certs() {
		if ct.NotAfter.IsZero() {
			continue // no expiry known: a Unix time of year 1 would only mislead alerts
		}
		names := ct.Names
		if len(names) == 0 {
			names = []string{ct.Subject}
		}
		for _, n := range names {
			k := certKey{label(n), label(ct.Source), label(ct.Serial)}
			// The same certificate may list a name twice or be reported by
			// two holders; the earliest expiry is the one to alert on.
			if t, ok := earliest[k]; !ok || ct.NotAfter.Before(t) {
				earliest[k] = ct.NotAfter
			}
		}
	}
	for k, t := range earliest {
		e.gauge(descCertNotAfter, unixSeconds(t), k.name, k.source, k.serial)
	}
}

func (c *collector) collectLockouts(e emitter) {
	now := c.now()
	byKind := make(map[string]float64, len(lockoutKinds))
	for _, k := range lockoutKinds {
		byKind[k] = 0
	}
	for _, l := range c.src.Lockouts() {
		if l.Until.After(now) {
			byKind[label(l.Kind)]++
		}
	}
	for kind, n := range byKind {
		e.gauge(descLockouts, n, kind)
	}
}

// unixSeconds is t as fractional seconds since the Unix epoch.
func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
