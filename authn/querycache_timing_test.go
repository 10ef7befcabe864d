package authn

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestQueryCacheTimingHidesNames times lookups on the real clock: known
// and unknown names, answered from the cache or by a fetch, must take the
// same time. The fetch sleeps a millisecond, as a query on a nearby
// server takes; the groups are sampled in turn so that load on the
// machine falls on all of them alike, and their medians must lie within
// 10% of each other. Without the hold-back a hit takes microseconds and
// a miss over a millisecond, far outside that.
func TestQueryCacheTimingHidesNames(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	c := NewQueryCache(QueryCacheConfig{TTL: time.Hour, NegativeTTL: 5 * time.Second}, nil)
	fetch := func(_ context.Context, user string) (string, bool, error) {
		time.Sleep(time.Millisecond)
		if user == "known" {
			return md5A, true, nil
		}
		return "", false, nil
	}
	ctx := context.Background()
	const perGroup = 150 // 300 hits, 300 misses
	users := [2]string{"known", "unknown"}
	// Warm up: the hits' entries, and 32 fetches measured.
	for i := range perGroup {
		for _, u := range users {
			if _, err := c.Get(ctx, fmt.Sprint("hit", u, i), u, fetch); err != nil {
				t.Fatal(err)
			}
		}
	}
	type group struct {
		user string
		hit  bool
	}
	groups := []group{{"known", true}, {"unknown", true}, {"known", false}, {"unknown", false}}
	took := make(map[group][]time.Duration)
	for i := range perGroup {
		for _, g := range groups {
			key := fmt.Sprint("miss", g.user, i)
			if g.hit {
				key = fmt.Sprint("hit", g.user, i)
			}
			start := time.Now()
			l, err := c.Get(ctx, key, g.user, fetch)
			took[g] = append(took[g], time.Since(start))
			if err != nil || l.Cached != g.hit || l.Found != (g.user == "known") {
				t.Fatalf("%+v: %+v %v", g, l, err)
			}
		}
	}
	medians := make(map[group]time.Duration)
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for _, g := range groups {
		d := took[g]
		slices.Sort(d)
		m := d[len(d)/2]
		medians[g] = m
		lo, hi = min(lo, m), max(hi, m)
	}
	t.Logf("medians: known hit %v, unknown hit %v, known miss %v, unknown miss %v",
		medians[groups[0]], medians[groups[1]], medians[groups[2]], medians[groups[3]])
	if hi > lo+lo/10 {
		t.Fatalf("medians differ by more than 10%%: %v", medians)
	}
}
