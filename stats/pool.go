package stats

import (
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
)

// Pool counts what went through one pool. Sessions add to it with
// atomics, a few times per transaction.
type Pool struct {
	Xacts, Queries      atomic.Uint64
	Recv, Sent          atomic.Uint64 // bytes from and to clients
	XactNs, QueryNs     atomic.Uint64
	ClientParses, Binds atomic.Uint64
	ServerParses        atomic.Uint64
	PreparedHits        atomic.Uint64
	PreparedMisses      atomic.Uint64
	Logins              atomic.Uint64 // clients that logged in through the pool
}

// Ended records a round trip answered by ReadyForQuery: a query, and a
// transaction when the server is idle again (status 'I'). started is when
// the round trip began, xactStarted when the transaction did (unix
// nanoseconds, 0 = unknown).
func (ps *Pool) Ended(status byte, started, xactStarted, now int64) {
	ps.Queries.Add(1)
	if started > 0 && now > started {
		ps.QueryNs.Add(uint64(now - started))
	}
	if status == 'I' {
		ps.Xacts.Add(1)
		if xactStarted > 0 && now > xactStarted {
			ps.XactNs.Add(uint64(now - xactStarted))
		}
	}
}

// AddTo adds the pool's counters, with what its server side counted
// (sn), to c.
func (ps *Pool) AddTo(c *snapshot.Counters, sn pool.Snapshot) {
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
	c.ClientLogins += ps.Logins.Load()
}

// combine returns a+sign*b, field by field.
func combine(a, b snapshot.Counters, sign int) snapshot.Counters {
	u := func(x, y uint64) uint64 {
		if sign < 0 {
			return x - y
		}
		return x + y
	}
	d := func(x, y time.Duration) time.Duration { return x + time.Duration(sign)*y }
	return snapshot.Counters{
		ServerAssignments: u(a.ServerAssignments, b.ServerAssignments),
		Transactions:      u(a.Transactions, b.Transactions),
		Queries:           u(a.Queries, b.Queries),
		Received:          u(a.Received, b.Received),
		Sent:              u(a.Sent, b.Sent),
		XactTime:          d(a.XactTime, b.XactTime),
		QueryTime:         d(a.QueryTime, b.QueryTime),
		WaitTime:          d(a.WaitTime, b.WaitTime),
		ClientParses:      u(a.ClientParses, b.ClientParses),
		ServerParses:      u(a.ServerParses, b.ServerParses),
		Binds:             u(a.Binds, b.Binds),
		ClientLogins:      u(a.ClientLogins, b.ClientLogins),
	}
}
