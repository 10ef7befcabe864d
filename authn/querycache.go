package authn

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"
)

// Fetch looks a user's secret up at its source (auth_query). found is
// false when the source has no such user or the secret is unusable (NULL,
// an expired role).
type Fetch func(ctx context.Context, user string) (secret string, found bool, err error)

// QueryCacheConfig bounds a QueryCache.
type QueryCacheConfig struct {
	// Size is how many users are kept (auth_cache_size); <= 0 means 10000.
	Size int
	// TTL is how long an answer of auth_query is used without asking
	// again (auth_cache_ttl): a secret and "no such user" alike, so what
	// the cache holds for a name never depends on whether it exists.
	// 0 = nothing is cached.
	TTL time.Duration
	// NegativeTTL is how old a cached "no such user" must be before
	// Refresh fetches it again after a failed login
	// (auth_negative_cache_ttl): a role created since is found on a later
	// try, while failed logins under made-up names cost at most one query
	// per name per NegativeTTL. Refresh never fetches an entry younger
	// than a second, so values below that (0 included) mean a second.
	NegativeTTL time.Duration
}

// QueryCache keeps the answers of auth_query, so a login costs no query
// while its answer is fresh, without letting a client learn which names
// exist:
//
//   - every answer, found or not, is kept for TTL; fetch errors are never
//     cached;
//   - a lookup answered from the cache returns no sooner than a fetch
//     would have: the cache measures its successful fetches (the median
//     of the last 32, found and not-found alike) and holds a hit until
//     that long has passed since the lookup began, or until the lookup's
//     context ends. Before any fetch is measured a hit does not wait;
//   - Refresh, which refetches after a failed login, is rate-limited per
//     name (once a second for a found user, once per NegativeTTL for an
//     unknown one) and, when it declines to fetch, takes a fetch's time
//     too, so a flood of failed logins does not become a flood of queries
//     and whether a refetch happened cannot be timed either.
//
// Concurrent lookups of one user share one fetch, and those that joined
// it return as soon as it completes. Safe for concurrent use; it keeps no
// goroutines running.
type QueryCache struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, cached]
	cfg QueryCacheConfig
	sf  singleflight.Group

	// Successful fetch durations, a ring of the last len(took), and
	// their median, the time a cache hit takes.
	took  [32]time.Duration
	ntook int // samples in took, at most len(took)
	next  int // where the next sample goes
	pad   time.Duration

	// now and sleep are the clock; tests replace both. sleep blocks for
	// d or until ctx is done (returning ctx's error); d <= 0 only yields
	// the processor.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

type cached struct {
	secret  Secret
	found   bool
	fetched time.Time
}

// Lookup is what a cache lookup produced.
type Lookup struct {
	Secret Secret
	Found  bool
	// Cached says the answer came from the cache rather than from a fetch
	// made for this lookup (a fresh fetch is not worth repeating).
	Cached bool
}

// NewQueryCache returns an empty cache; now may be nil (time.Now).
func NewQueryCache(cfg QueryCacheConfig, now func() time.Time) *QueryCache {
	if cfg.Size <= 0 {
		cfg.Size = 10000
	}
	if now == nil {
		now = time.Now
	}
	l, _ := simplelru.NewLRU[string, cached](cfg.Size, nil)
	return &QueryCache{lru: l, cfg: cfg, now: now, sleep: preciseSleep}
}

// SetConfig applies new bounds; entries stay (a smaller size evicts).
func (c *QueryCache) SetConfig(cfg QueryCacheConfig) {
	if cfg.Size <= 0 {
		cfg.Size = 10000
	}
	c.mu.Lock()
	c.cfg = cfg
	c.lru.Resize(cfg.Size)
	c.mu.Unlock()
}

// Get returns key's secret, fetching it for user when the cache has no
// fresh answer. key scopes the entry (pgbun uses the auth database and
// user, since each database may have its own auth_query). An answer from
// the cache is held back until a fetch's time has passed; if ctx ends
// first, Get returns ctx's error.
func (c *QueryCache) Get(ctx context.Context, key, user string, fetch Fetch) (Lookup, error) {
	start := c.now()
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	ttl, pad := c.cfg.TTL, c.pad
	c.mu.Unlock()
	if ok && start.Sub(e.fetched) < ttl {
		if err := c.waitUntil(ctx, start.Add(pad)); err != nil {
			return Lookup{}, err
		}
		return Lookup{Secret: e.secret, Found: e.found, Cached: true}, nil
	}
	return c.fetch(ctx, key, user, fetch, start)
}

// minRefresh is how soon after a fetch an entry may be fetched again by
// Refresh: failed logins must not turn into a stream of queries.
const minRefresh = time.Second

// Refresh fetches key again, bypassing the cache, and reports whether the
// answer changed: called once when a login fails against a cached answer,
// in case the password was changed, or the role created, since it was
// fetched. A found user's entry is not fetched again within a second of
// its fetch, an unknown user's within NegativeTTL (and a second); the
// cached answer is then returned, as late as a hit of Get.
func (c *QueryCache) Refresh(ctx context.Context, key, user string, fetch Fetch) (Lookup, bool, error) {
	start := c.now()
	c.mu.Lock()
	old, had := c.lru.Peek(key)
	minAge := minRefresh
	if had && !old.found {
		minAge = max(minAge, c.cfg.NegativeTTL)
	}
	pad := c.pad
	c.mu.Unlock()
	if had && start.Sub(old.fetched) < minAge {
		if err := c.waitUntil(ctx, start.Add(pad)); err != nil {
			return Lookup{}, false, err
		}
		return Lookup{Secret: old.secret, Found: old.found, Cached: true}, false, nil
	}
	l, err := c.fetch(ctx, key, user, fetch, start)
	if err != nil {
		return l, false, err
	}
	changed := !had || old.found != l.Found || !old.secret.Equal(l.Secret)
	return l, changed, nil
}

// Forget drops key, e.g. when its source configuration changed.
func (c *QueryCache) Forget(key string) {
	c.mu.Lock()
	c.lru.Remove(key)
	c.mu.Unlock()
}

// Len reports how many users are cached.
func (c *QueryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// fetch runs fetch for key, sharing it with concurrent callers. The
// caller that runs it records how long it took since start, when the
// lookup began.
func (c *QueryCache) fetch(ctx context.Context, key, user string, fetch Fetch, start time.Time) (Lookup, error) {
	v, err, _ := c.sf.Do(key, func() (any, error) {
		text, found, err := fetch(ctx, user)
		if err != nil {
			return nil, fmt.Errorf("auth_query for %q: %w", user, err)
		}
		e := cached{found: found}
		if found && text != "" {
			// A role with no password exists but has no secret: the zero
			// Secret, which no password verifies.
			e.secret = ParseSecret(text)
		}
		e.fetched = c.now()
		c.mu.Lock()
		if c.cfg.TTL > 0 {
			c.lru.Add(key, e)
		} else {
			c.lru.Remove(key)
		}
		c.record(e.fetched.Sub(start))
		c.mu.Unlock()
		return e, nil
	})
	if err != nil {
		return Lookup{}, err
	}
	e := v.(cached)
	return Lookup{Secret: e.secret, Found: e.found}, nil
}

// record adds a fetch duration and recomputes the median (the lower one
// of an even count, so one slow fetch out of two, such as the first that
// also opened a connection, is not what hits wait for); c.mu is held.
func (c *QueryCache) record(d time.Duration) {
	c.took[c.next] = max(d, 0)
	c.next = (c.next + 1) % len(c.took)
	c.ntook = min(c.ntook+1, len(c.took))
	var s [len(c.took)]time.Duration
	n := copy(s[:], c.took[:c.ntook])
	slices.Sort(s[:n])
	c.pad = s[(n-1)/2]
}

// waitUntil returns at deadline (measured on c.now), or with ctx's error
// if ctx ends first. The real sleep returns within microseconds of when
// asked (see preciseSleep); should a sleep end early, the rest is slept
// too.
func (c *QueryCache) waitUntil(ctx context.Context, deadline time.Time) error {
	for {
		left := deadline.Sub(c.now())
		if left <= 0 {
			return nil
		}
		if err := c.sleep(ctx, left); err != nil {
			return err
		}
	}
}

// timerSleep sleeps on a timer for d, or yields the processor for
// d <= 0; it ends early with ctx's error once ctx is done.
func timerSleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		runtime.Gosched()
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
