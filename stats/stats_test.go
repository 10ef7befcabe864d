package stats

import (
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
)

// TestPeriodAndRetired: a period reports what changed since the previous
// roll, pools freed meanwhile included, so a database's figures never go
// backwards when its pool is freed.
func TestPeriodAndRetired(t *testing.T) {
	var ps Pool
	ps.Ended('T', 100, 50, 300) // a query inside a transaction
	ps.Ended('I', 400, 50, 700) // the query that ends it
	ps.Recv.Add(10)
	sn := pool.Snapshot{}
	sn.Stats.Acquired = 2
	totals := func(live bool, r *Retired) map[string]snapshot.Counters {
		out := map[string]snapshot.Counters{}
		if live {
			c := out["db"]
			ps.AddTo(&c, sn)
			out["db"] = c
		}
		r.AddTo(out)
		return out
	}
	var r Retired
	var p Period
	t0 := time.Unix(1000, 0)
	p.Roll(t0, totals(true, &r))
	if last, length := p.Last(); last != nil || length != 0 {
		t.Fatalf("before a complete period: %v %v", last, length)
	}
	first := totals(true, &r)["db"]
	if first.Queries != 2 || first.Transactions != 1 || first.QueryTime != 500 || first.XactTime != 650 || first.ServerAssignments != 2 {
		t.Fatalf("pool counters: %+v", first)
	}
	// The pool is freed: its counters move to the retired totals.
	r.Add("db", true, sn, &ps)
	r.Add("gone", false, sn, &ps)
	p.Roll(t0.Add(time.Minute), totals(false, &r))
	last, length := p.Last()
	if length != time.Minute {
		t.Fatalf("period length %v", length)
	}
	if d := last["db"]; d != (snapshot.Counters{}) {
		t.Fatalf("freeing a pool changed the period's figures: %+v", d)
	}
	if _, ok := totals(false, &r)["gone"]; ok {
		t.Fatal("a database that does not stay kept a row")
	}
	if ev := r.Events(); ev.PreparedHits != 0 || ev.ServerConnects != 0 {
		t.Fatalf("events: %+v", ev)
	}
	ps.PreparedHits.Add(3)
	r.Add("db", true, sn, &ps)
	if ev := r.Events(); ev.PreparedHits != 3 {
		t.Fatalf("events: %+v", ev)
	}
}

func TestLabels(t *testing.T) {
	var l Labels
	l.Add("a")
	l.Add("a")
	l.Add("b")
	m := l.Copy()
	l.Add("a")
	if m["a"] != 2 || m["b"] != 1 || len(m) != 2 {
		t.Fatalf("copy: %v", m)
	}
}
