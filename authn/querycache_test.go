package authn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueryCache(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	c := NewQueryCache(QueryCacheConfig{Size: 2, TTL: time.Minute, NegativeTTL: 5 * time.Second}, clock)
	var calls atomic.Int32
	secret := "md5" + "0123456789abcdef0123456789abcdef"
	fetch := func(_ context.Context, user string) (string, bool, error) {
		calls.Add(1)
		if user == "nobody" {
			return "", false, nil
		}
		return secret, true, nil
	}
	ctx := context.Background()
	l, err := c.Get(ctx, "k1", "alice", fetch)
	if err != nil || !l.Found || l.Cached || l.Secret.Kind != SecretMD5 {
		t.Fatalf("first lookup: %+v %v", l, err)
	}
	if l, _ = c.Get(ctx, "k1", "alice", fetch); !l.Cached || calls.Load() != 1 {
		t.Fatalf("second lookup not from cache: %+v calls=%d", l, calls.Load())
	}
	now = now.Add(61 * time.Second)
	if l, _ = c.Get(ctx, "k1", "alice", fetch); l.Cached || calls.Load() != 2 {
		t.Fatalf("expired entry used: %+v", l)
	}
	// Unknown users are cached for the shorter negative TTL.
	c.Get(ctx, "k2", "nobody", fetch)
	if l, _ = c.Get(ctx, "k2", "nobody", fetch); !l.Cached || l.Found {
		t.Fatalf("negative entry: %+v", l)
	}
	now = now.Add(6 * time.Second)
	if l, _ = c.Get(ctx, "k2", "nobody", fetch); l.Cached {
		t.Fatal("negative entry outlived its TTL")
	}
	// Refresh: not within a second of the last fetch; then reports change.
	if _, changed, _ := c.Refresh(ctx, "k1", "alice", fetch); changed {
		t.Fatal("refresh reported a change for the same secret")
	}
	before := calls.Load()
	c.Refresh(ctx, "k1", "alice", fetch)
	if calls.Load() != before {
		t.Fatal("refresh fetched again within a second")
	}
	now = now.Add(2 * time.Second)
	secret = "md5" + "fedcba9876543210fedcba9876543210"
	if l, changed, _ := c.Refresh(ctx, "k1", "alice", fetch); !changed || !l.Found {
		t.Fatalf("changed secret not reported: %+v", l)
	}
	// Bounded: Size 2.
	c.Get(ctx, "k3", "carol", fetch)
	if c.Len() > 2 {
		t.Fatalf("cache holds %d entries, size 2", c.Len())
	}
	// Errors are not cached.
	boom := errors.New("boom")
	if _, err := c.Get(ctx, "k9", "x", func(context.Context, string) (string, bool, error) { return "", false, boom }); !errors.Is(err, boom) {
		t.Fatalf("error: %v", err)
	}
	if _, err := c.Get(ctx, "k9", "x", fetch); err != nil {
		t.Fatal("an error was cached")
	}
}

// TestQueryCacheSharesFetches: concurrent lookups of one user run one query.
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
			if l, err := c.Get(context.Background(), "k", "u", fetch); err != nil || !l.Found {
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
