package admin

import (
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// counters is one set of statistics in PgBouncer's units: counts, bytes
// and microseconds.
type counters struct {
	assignments, xacts, queries, recv, sent uint64
	xactTime, queryTime, waitTime           uint64 // µs
	clientParses, serverParses, binds       uint64
	logins                                  uint64
}

func micros(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(d / time.Microsecond)
}

// totals converts cumulative counters.
func totals(c snapshot.Counters) counters {
	return counters{
		assignments: c.ServerAssignments, xacts: c.Transactions, queries: c.Queries,
		recv: c.Received, sent: c.Sent,
		xactTime: micros(c.XactTime), queryTime: micros(c.QueryTime), waitTime: micros(c.WaitTime),
		clientParses: c.ClientParses, serverParses: c.ServerParses, binds: c.Binds,
		logins: c.ClientLogins,
	}
}

// rates are the per-second figures of one stats period, kept apart from
// the time sums the average durations are made of, so that several
// databases add up (SHOW TOTALS).
type rates struct {
	perSec counters // counts and bytes per second; times unused
	sum    counters // the period's own counters, for average durations
}

// periodRates computes PgBouncer's averages of one period: counts and
// bytes per second, and durations per transaction, per query and (wait)
// per server assignment.
func periodRates(st snapshot.Stats) rates {
	p := totals(st.Period)
	r := rates{sum: p}
	if st.Seconds <= 0 {
		return r
	}
	per := func(n uint64) uint64 { return uint64(float64(n) / st.Seconds) }
	r.perSec = counters{
		assignments: per(p.assignments), xacts: per(p.xacts), queries: per(p.queries),
		recv: per(p.recv), sent: per(p.sent),
		clientParses: per(p.clientParses), serverParses: per(p.serverParses), binds: per(p.binds),
		logins: per(p.logins),
	}
	return r
}

func (r *rates) add(o rates) {
	a, b := &r.perSec, o.perSec
	a.assignments += b.assignments
	a.xacts += b.xacts
	a.queries += b.queries
	a.recv += b.recv
	a.sent += b.sent
	a.clientParses += b.clientParses
	a.serverParses += b.serverParses
	a.binds += b.binds
	a.logins += b.logins
	s, t := &r.sum, o.sum
	s.assignments += t.assignments
	s.xacts += t.xacts
	s.queries += t.queries
	s.xactTime += t.xactTime
	s.queryTime += t.queryTime
	s.waitTime += t.waitTime
}

// averages returns the figures PgBouncer prints as avg_*: rates, and
// average transaction, query and wait durations in µs.
func (r *rates) averages() counters {
	avg := r.perSec
	div := func(total, n uint64) uint64 {
		if n == 0 {
			return 0
		}
		return total / n
	}
	avg.xactTime = div(r.sum.xactTime, r.sum.xacts)
	avg.queryTime = div(r.sum.queryTime, r.sum.queries)
	avg.waitTime = div(r.sum.waitTime, r.sum.assignments)
	return avg
}

// cells lists c in PgBouncer's column order.
func (c counters) cells() []cell {
	return []cell{
		unum(c.assignments), unum(c.xacts), unum(c.queries), unum(c.recv), unum(c.sent),
		unum(c.xactTime), unum(c.queryTime), unum(c.waitTime),
		unum(c.clientParses), unum(c.serverParses), unum(c.binds), unum(c.logins),
	}
}

// numericCols makes numeric columns, PgBouncer's type for statistics.
func numericCols(names ...string) []column {
	cols := make([]column, len(names))
	for i, n := range names {
		cols[i] = column{n, kNumeric}
	}
	return cols
}

var statsCols = append([]column{{"database", kText}}, numericCols(
	"total_server_assignment_count", "total_xact_count", "total_query_count",
	"total_received", "total_sent", "total_xact_time", "total_query_time", "total_wait_time",
	"total_client_parse_count", "total_server_parse_count", "total_bind_count", "total_client_login_count",
	"avg_server_assignment_count", "avg_xact_count", "avg_query_count",
	"avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time",
	"avg_client_parse_count", "avg_server_parse_count", "avg_bind_count", "avg_client_login_count",
)...)

var statsTotalsCols = append([]column{{"database", kText}}, numericCols(
	"server_assignment_count", "xact_count", "query_count", "bytes_received", "bytes_sent",
	"xact_time", "query_time", "wait_time", "client_parse_count", "server_parse_count", "bind_count",
	"client_login_count",
)...)

// PgBouncer names the last three columns of STATS_AVERAGES with an avg_
// prefix, unlike the others.
var statsAveragesCols = append([]column{{"database", kText}}, numericCols(
	"server_assignment_count", "xact_count", "query_count", "bytes_received", "bytes_sent",
	"xact_time", "query_time", "wait_time", "avg_client_parse_count", "avg_server_parse_count", "avg_bind_count",
	"client_login_count",
)...)

func (s *session) showStats() error {
	rs := s.result(statsCols)
	for _, st := range s.src.Stats() {
		r := periodRates(st)
		vals := append([]cell{txt(st.Database)}, totals(st.Total).cells()...)
		rs.row(append(vals, r.averages().cells()...)...)
	}
	return rs.done()
}

func (s *session) showStatsTotals() error {
	rs := s.result(statsTotalsCols)
	for _, st := range s.src.Stats() {
		rs.row(append([]cell{txt(st.Database)}, totals(st.Total).cells()...)...)
	}
	return rs.done()
}

func (s *session) showStatsAverages() error {
	rs := s.result(statsAveragesCols)
	for _, st := range s.src.Stats() {
		r := periodRates(st)
		rs.row(append([]cell{txt(st.Database)}, r.averages().cells()...)...)
	}
	return rs.done()
}

var totalsCols = []column{{"name", kText}, {"value", kNumeric}}

// totalsNames are SHOW TOTALS' row names after "total_" and "avg_":
// PgBouncer's internal counter names, not SHOW STATS' column names.
var totalsNames = []string{
	"server_assignment_count", "xact_count", "query_count", "client_bytes", "server_bytes",
	"xact_time", "query_time", "wait_time", "ps_client_parse_count", "ps_server_parse_count", "ps_bind_count",
	"client_login_count",
}

// showTotals is SHOW STATS summed over every database, one row a figure.
func (s *session) showTotals() error {
	var sum snapshot.Counters
	var r rates
	for _, st := range s.src.Stats() {
		addCounters(&sum, st.Total)
		r.add(periodRates(st))
	}
	rs := s.result(totalsCols)
	for i, v := range totals(sum).cells() {
		rs.row(txt("total_"+totalsNames[i]), v)
	}
	for i, v := range r.averages().cells() {
		rs.row(txt("avg_"+totalsNames[i]), v)
	}
	return rs.done()
}

func addCounters(a *snapshot.Counters, b snapshot.Counters) {
	a.ServerAssignments += b.ServerAssignments
	a.Transactions += b.Transactions
	a.Queries += b.Queries
	a.Received += b.Received
	a.Sent += b.Sent
	a.XactTime += b.XactTime
	a.QueryTime += b.QueryTime
	a.WaitTime += b.WaitTime
	a.ClientParses += b.ClientParses
	a.ServerParses += b.ServerParses
	a.Binds += b.Binds
	a.ClientLogins += b.ClientLogins
}
