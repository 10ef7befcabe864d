package authn

import (
	"context"
	"fmt"
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
	Size        int           // users kept (auth_cache_size); <= 0 means 10000
	TTL         time.Duration // how long a found secret is trusted (auth_cache_ttl); 0 = not cached
	NegativeTTL time.Duration // how long "no such user" is trusted (auth_negative_cache_ttl); 0 = not cached
}

// QueryCache keeps secrets fetched with auth_query, so a login costs no
// query while the secret is fresh. Concurrent lookups of one user share
// one fetch; unknown users are remembered briefly, so a flood of made-up
// names does not become a flood of queries. Fetch errors are never
// cached. Safe for concurrent use; it starts no goroutines.
type QueryCache struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, cached]
	cfg QueryCacheConfig
	sf  singleflight.Group
	now func() time.Time
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
	return &QueryCache{lru: l, cfg: cfg, now: now}
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
// user, since each database may have its own auth_query).
func (c *QueryCache) Get(ctx context.Context, key, user string, fetch Fetch) (Lookup, error) {
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	ttl := c.cfg.TTL
	if ok && !e.found {
		ttl = c.cfg.NegativeTTL
	}
	c.mu.Unlock()
	if ok && c.now().Sub(e.fetched) < ttl {
		return Lookup{Secret: e.secret, Found: e.found, Cached: true}, nil
	}
	return c.fetch(ctx, key, user, fetch)
}

// minRefresh is how soon after a fetch an entry may be fetched again by
// Refresh: failed logins must not turn into a stream of queries.
const minRefresh = time.Second

// Refresh fetches key again, bypassing the cache, and reports whether the
// secret changed: called once when a login fails against a cached secret,
// in case the password was changed since it was fetched. An entry fetched
// less than a second ago is not fetched again.
func (c *QueryCache) Refresh(ctx context.Context, key, user string, fetch Fetch) (Lookup, bool, error) {
	c.mu.Lock()
	old, had := c.lru.Peek(key)
	c.mu.Unlock()
	if had && c.now().Sub(old.fetched) < minRefresh {
		return Lookup{Secret: old.secret, Found: old.found, Cached: true}, false, nil
	}
	l, err := c.fetch(ctx, key, user, fetch)
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

func (c *QueryCache) fetch(ctx context.Context, key, user string, fetch Fetch) (Lookup, error) {
	v, err, _ := c.sf.Do(key, func() (any, error) {
		text, found, err := fetch(ctx, user)
		if err != nil {
			return nil, fmt.Errorf("auth_query for %q: %w", user, err)
		}
		e := cached{found: found, fetched: c.now()}
		if found {
			e.secret = ParseSecret(text)
		}
		c.mu.Lock()
		if (found && c.cfg.TTL > 0) || (!found && c.cfg.NegativeTTL > 0) {
			c.lru.Add(key, e)
		} else {
			c.lru.Remove(key)
		}
		c.mu.Unlock()
		return e, nil
	})
	if err != nil {
		return Lookup{}, err
	}
	e := v.(cached)
	return Lookup{Secret: e.secret, Found: e.found}, nil
}
