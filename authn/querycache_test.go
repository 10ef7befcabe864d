package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a QueryCache clock that moves only when told to: by a
// fetch that takes time, by a sleep (exactly as long as asked), or by a
// yield (yieldStep).
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	timers []time.Duration // timer sleeps asked for
	yields int
}

const yieldStep = 10 * time.Microsecond

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if d <= 0 {
		f.yields++
		d = yieldStep
	} else {
		f.timers = append(f.timers, d)
	}
	f.t = f.t.Add(d)
	return nil
}

func newFakeCache(cfg QueryCacheConfig) (*QueryCache, *fakeClock) {
	f := &fakeClock{t: time.Unix(1000, 0)}
	c := NewQueryCache(cfg, f.Now)
	c.sleep = f.Sleep
	return c, f
}

// directory is a fake auth_query source: users and their secrets, each
// fetch taking took on the fake clock.
type directory struct {
	clock *fakeClock
	mu    sync.Mutex
	users map[string]string
	took  time.Duration
	calls atomic.Int32
}

func (d *directory) fetch(_ context.Context, user string) (string, bool, error) {
	d.calls.Add(1)
	d.clock.Advance(d.took)
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.users[user]
	return s, ok, nil
}

func (d *directory) set(user, secret string) {
	d.mu.Lock()
	d.users[user] = secret
	d.mu.Unlock()
}

const (
	md5A = "md5" + "0123456789abcdef0123456789abcdef"
	md5B = "md5" + "fedcba9876543210fedcba9876543210"
)

// TestQueryCacheOneLifetime: found and not-found answers live for the same
// TTL, so the cache's state for a name says nothing about its existence.
func TestQueryCacheOneLifetime(t *testing.T) {
	c, clk := newFakeCache(QueryCacheConfig{TTL: time.Minute, NegativeTTL: 5 * time.Second})
	dir := &directory{clock: clk, users: map[string]string{"alice": md5A}}
	ctx := context.Background()
	l, err := c.Get(ctx, "k-alice", "alice", dir.fetch)
	if err != nil || !l.Found || l.Cached || l.Secret.Kind != SecretMD5 {
		t.Fatalf("first lookup of alice: %+v %v", l, err)
	}
	if l, err = c.Get(ctx, "k-nobody", "nobody", dir.fetch); err != nil || l.Found || l.Cached {
		t.Fatalf("first lookup of nobody: %+v %v", l, err)
	}
	for _, at := range []time.Duration{time.Second, 6 * time.Second, 59 * time.Second} {
		clk.Advance(at - clk.Now().Sub(time.Unix(1000, 0)))
		for _, u := range []string{"alice", "nobody"} {
			if l, _ := c.Get(ctx, "k-"+u, u, dir.fetch); !l.Cached || l.Found != (u == "alice") {
				t.Fatalf("%v after the fetch, %s: %+v", at, u, l)
			}
		}
	}
	if n := dir.calls.Load(); n != 2 {
		t.Fatalf("%d fetches within the TTL, want 2", n)
	}
	clk.Advance(time.Minute)
	for _, u := range []string{"alice", "nobody"} {
		if l, _ := c.Get(ctx, "k-"+u, u, dir.fetch); l.Cached {
			t.Fatalf("%s's entry outlived the TTL: %+v", u, l)
		}
	}
	if n := dir.calls.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}

	// TTL 0 caches nothing, found or not.
	c.SetConfig(QueryCacheConfig{TTL: 0, NegativeTTL: 5 * time.Second})
	for _, u := range []string{"alice", "nobody", "alice", "nobody"} {
		if l, _ := c.Get(ctx, "k-"+u, u, dir.fetch); l.Cached {
			t.Fatalf("TTL 0: %s from the cache", u)
		}
	}
	if c.Len() != 0 {
		t.Fatalf("TTL 0: %d entries", c.Len())
	}
}

func TestQueryCacheBounded(t *testing.T) {
	c, clk := newFakeCache(QueryCacheConfig{Size: 2, TTL: time.Minute})
	dir := &directory{clock: clk, users: map[string]string{"a": md5A}}
	for _, u := range []string{"a", "b", "c"} {
		c.Get(context.Background(), u, u, dir.fetch)
	}
	if c.Len() != 2 {
		t.Fatalf("cache holds %d entries, size 2", c.Len())
	}
	c.Forget("c")
	if c.Len() != 1 {
		t.Fatalf("Forget left %d entries", c.Len())
	}
}

func TestQueryCacheErrorsNotCached(t *testing.T) {
	c, clk := newFakeCache(QueryCacheConfig{TTL: time.Minute, NegativeTTL: 5 * time.Second})
	dir := &directory{clock: clk, users: map[string]string{"x": md5A}, took: time.Millisecond}
	ctx := context.Background()
	boom := errors.New("boom")
	failing := func(context.Context, string) (string, bool, error) {
		clk.Advance(10 * time.Second) // a failed fetch is not a measure of fetches
		return "", false, boom
	}
	if _, err := c.Get(ctx, "k", "x", failing); !errors.Is(err, boom) {
		t.Fatalf("error: %v", err)
	}
	if l, err := c.Get(ctx, "k", "x", dir.fetch); err != nil || l.Cached || !l.Found {
		t.Fatalf("after an error: %+v %v", l, err)
	}
	// A failed refetch keeps the entry as it was.
	clk.Advance(2 * time.Second)
	if _, _, err := c.Refresh(ctx, "k", "x", failing); !errors.Is(err, boom) {
		t.Fatalf("refresh error: %v", err)
	}
	if c.pad != time.Millisecond {
		t.Fatalf("hit delay %v after failed fetches, want the 1ms of the successful one", c.pad)
	}
	if l, _ := c.Get(ctx, "k", "x", dir.fetch); !l.Cached || !l.Found {
		t.Fatalf("entry lost to a failed refetch: %+v", l)
	}
}

// TestQueryCacheRefreshFound: a found user is refetched after a failed
// login at most once a second, and a changed secret is reported.
func TestQueryCacheRefreshFound(t *testing.T) {
	c, clk := newFakeCache(QueryCacheConfig{TTL: time.Minute, NegativeTTL: 5 * time.Second})
	dir := &directory{clock: clk, users: map[string]string{"alice": md5A}}
	ctx := context.Background()
	c.Get(ctx, "k", "alice", dir.fetch)
	if l, changed, _ := c.Refresh(ctx, "k", "alice", dir.fetch); changed || !l.Cached || dir.calls.Load() != 1 {
		t.Fatalf("refetched at once: %+v changed=%v calls=%d", l, changed, dir.calls.Load())
	}
	clk.Advance(time.Second)
	if _, changed, _ := c.Refresh(ctx, "k", "alice", dir.fetch); changed || dir.calls.Load() != 2 {
		t.Fatalf("no refetch after a second, or a change reported: changed=%v calls=%d", changed, dir.calls.Load())
	}
	dir.set("alice", md5B)
	c.Refresh(ctx, "k", "alice", dir.fetch)
	if dir.calls.Load() != 2 {
		t.Fatal("refetched within a second of the last fetch")
	}
	clk.Advance(2 * time.Second)
	l, changed, err := c.Refresh(ctx, "k", "alice", dir.fetch)
	if err != nil || !changed || !l.Found || l.Cached || !l.Secret.Equal(ParseSecret(md5B)) {
		t.Fatalf("changed secret not reported: %+v changed=%v %v", l, changed, err)
	}
	if l, _ := c.Get(ctx, "k", "alice", dir.fetch); !l.Cached || !l.Secret.Equal(ParseSecret(md5B)) {
		t.Fatalf("refetched secret not cached: %+v", l)
	}
}

// TestQueryCacheRefreshUnknown: a cached "no such user" is refetched at
// most once per NegativeTTL, and a role created since is then found.
func TestQueryCacheRefreshUnknown(t *testing.T) {
	c, clk := newFakeCache(QueryCacheConfig{TTL: time.Minute, NegativeTTL: 5 * time.Second})
	dir := &directory{clock: clk, users: map[string]string{}}
	ctx := context.Background()
	c.Get(ctx, "k", "bob", dir.fetch)
	// A flood of failed logins over 20 s: one refetch per 5 s.
	for range 200 {
		clk.Advance(100 * time.Millisecond)
		if l, changed, err := c.Refresh(ctx, "k", "bob", dir.fetch); err != nil || changed || l.Found {
			t.Fatalf("refresh of an unknown user: %+v changed=%v %v", l, changed, err)
		}
	}
	if n := dir.calls.Load(); n != 1+4 {
		t.Fatalf("%d fetches over 20s of refreshes, want 1 + 4", n)
	}
	// The role is created: found on the first refetch allowed.
	dir.set("bob", md5A)
	calls := dir.calls.Load()
	for {
		clk.Advance(100 * time.Millisecond)
		l, changed, err := c.Refresh(ctx, "k", "bob", dir.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if l.Found {
			if !changed || dir.calls.Load() != calls+1 {
				t.Fatalf("new role: changed=%v after %d fetches", changed, dir.calls.Load()-calls)
			}
			break
		}
		if dir.calls.Load() != calls {
			t.Fatal("a refetch missed the new role")
		}
	}
	if l, _ := c.Get(ctx, "k", "bob", dir.fetch); !l.Found || !l.Cached {
		t.Fatalf("new role not cached: %+v", l)
	}

	// NegativeTTL below a second: still at most once a second.
	c.SetConfig(QueryCacheConfig{TTL: time.Minute, NegativeTTL: 0})
	c.Get(ctx, "k2", "carol", dir.fetch)
	calls = dir.calls.Load()
	for range 30 {
		clk.Advance(100 * time.Millisecond)
		c.Refresh(ctx, "k2", "carol", dir.fetch)
	}
	if n := dir.calls.Load() - calls; n != 3 {
		t.Fatalf("NegativeTTL 0: %d refetches in 3s, want 3", n)
	}
}

// TestQueryCacheHitTakesFetchTime: a hit returns once the median of the
// last 32 fetch durations has passed since the lookup began.
func TestQueryCacheHitTakesFetchTime(t *testing.T) {
	c, clk := newFakeCache(QueryCacheConfig{TTL: time.Hour, NegativeTTL: 5 * time.Second})
	dir := &directory{clock: clk, users: map[string]string{"alice": md5A}}
	ctx := context.Background()

	// A fetch that takes no time: hits do not wait.
	c.Get(ctx, "k-alice", "alice", dir.fetch)
	start := clk.Now()
	if l, _ := c.Get(ctx, "k-alice", "alice", dir.fetch); !l.Cached || clk.Now() != start {
		t.Fatalf("hit waited %v after zero-time fetches", clk.Now().Sub(start))
	}

	// Of two fetches, a slow first one (one that also opened a
	// connection) is not what hits wait for.
	fc, fclk := newFakeCache(QueryCacheConfig{TTL: time.Hour})
	fdir := &directory{clock: fclk, users: map[string]string{}, took: 30 * time.Millisecond}
	fc.Get(ctx, "a", "a", fdir.fetch)
	if fc.pad != 30*time.Millisecond {
		t.Fatalf("one fetch of 30ms: hits wait %v", fc.pad)
	}
	fdir.took = time.Millisecond
	fc.Get(ctx, "b", "b", fdir.fetch)
	if fc.pad != time.Millisecond {
		t.Fatalf("fetches of 30ms and 1ms: hits wait %v", fc.pad)
	}

	// 8 slow fetches, then 32 of found and unknown users taking 1-3 ms:
	// the slow ones drop out of the window.
	dir.took = 100 * time.Millisecond
	for i := range 8 {
		c.Get(ctx, fmt.Sprint("slow", i), "nobody", dir.fetch)
	}
	for i := range 32 {
		dir.took = time.Duration(1+i%3) * time.Millisecond // median 2ms
		u := "nobody"
		if i%2 == 0 {
			u = "alice"
		}
		c.Get(ctx, fmt.Sprint("k", i), u, dir.fetch)
	}
	const median = 2 * time.Millisecond
	dir.took = 0
	for _, key := range []string{"k0", "k1"} { // found, unknown
		clk.mu.Lock()
		clk.timers, clk.yields = nil, 0
		clk.mu.Unlock()
		start := clk.Now()
		l, err := c.Get(ctx, key, "?", dir.fetch)
		took := clk.Now().Sub(start)
		if err != nil || !l.Cached {
			t.Fatalf("%s: %+v %v", key, l, err)
		}
		if took < median || took >= median+yieldStep {
			t.Fatalf("%s: hit took %v, want the fetch median %v", key, took, median)
		}
		// One sleep for the whole median, no yielding.
		if len(clk.timers) != 1 || clk.timers[0] != median || clk.yields != 0 {
			t.Fatalf("%s: timers %v, %d yields", key, clk.timers, clk.yields)
		}
	}

	// A lookup that already took longer does not wait at all.
	clk.mu.Lock()
	clk.timers, clk.yields = nil, 0
	clk.mu.Unlock()
	start = clk.Now()
	if err := c.waitUntil(ctx, start.Add(-time.Nanosecond)); err != nil || clk.Now() != start || clk.yields != 0 {
		t.Fatalf("wait for a past deadline: %v, %v, %d yields", err, clk.Now().Sub(start), clk.yields)
	}

	// Refresh declining to fetch takes the same time.
	c.Refresh(ctx, "k0", "alice", dir.fetch) // the entry is old: fetches
	start = clk.Now()
	if l, _, _ := c.Refresh(ctx, "k0", "alice", dir.fetch); !l.Cached || clk.Now().Sub(start) < median {
		t.Fatalf("declined refresh took %v, want %v", clk.Now().Sub(start), median)
	}
}

func TestQueryCacheWaitEndsWithContext(t *testing.T) {
	c, clk := newFakeCache(QueryCacheConfig{TTL: time.Minute, NegativeTTL: 5 * time.Second})
	dir := &directory{clock: clk, users: map[string]string{}, took: time.Millisecond}
	c.Get(context.Background(), "k", "nobody", dir.fetch)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l, err := c.Get(ctx, "k", "nobody", dir.fetch); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %+v %v", l, err)
	}
	if _, _, err := c.Refresh(ctx, "k", "nobody", dir.fetch); !errors.Is(err, context.Canceled) {
		t.Fatalf("Refresh with a cancelled context: %v", err)
	}

	// The real timer ends with the context too.
	rc := NewQueryCache(QueryCacheConfig{TTL: time.Minute}, nil)
	slow := func(context.Context, string) (string, bool, error) {
		time.Sleep(200 * time.Millisecond)
		return "", false, nil
	}
	rc.Get(context.Background(), "k", "nobody", slow)
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer tcancel()
	start := time.Now()
	_, err := rc.Get(tctx, "k", "nobody", slow)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get past its deadline: %v", err)
	}
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Fatalf("wait outlived its context: %v", d)
	}
}

// TestQueryCacheSharesFetches: concurrent lookups of one user run one query,
// and all return when it completes.
func TestQueryCacheSharesFetches(t *testing.T) {
	c := NewQueryCache(QueryCacheConfig{TTL: time.Minute}, nil)
	var calls atomic.Int32
	release := make(chan struct{})
	fetch := func(context.Context, string) (string, bool, error) {
		calls.Add(1)
		<-release
		return "secret", true, nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l, err := c.Get(context.Background(), "k", "u", fetch); err != nil || !l.Found || l.Cached {
				t.Error(l, err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent lookups", n)
	}
}
