package pool_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/pool"
)

// bare makes a pool that never opens a server (size 0) under the
// manager's limiters for its database and user, as the gateway does.
func bare(m *pool.Manager, key pool.Key, set pool.Settings) *pool.Pool {
	return pool.New(key, nil, set, nil, m.DBLimiter(key.Database, 0), m.UserLimiter(key.User, 0))
}

// isClosed tells whether p was shut down: with a context that has already
// ended, Acquire on a size-0 pool fails with ErrClosed when the pool is
// closed and with ErrWaitTimeout when it is open.
func isClosed(t *testing.T, p *pool.Pool) bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Acquire(ctx)
	switch {
	case errors.Is(err, pool.ErrClosed):
		return true
	case errors.Is(err, pool.ErrWaitTimeout):
		return false
	}
	t.Errorf("Acquire on a size-0 pool: %v", err)
	return false
}

func idleFor(d time.Duration) func(*pool.Pool) time.Duration {
	return func(*pool.Pool) time.Duration { return d }
}

// far is a time after every idle period the tests use.
func far() time.Time { return time.Now().Add(24 * time.Hour) }

func TestReapAfterIdle(t *testing.T) {
	m := pool.NewManager()
	key := pool.Key{Database: "db", User: "u"}
	builds := 0
	build := func() *pool.Pool { builds++; return bare(m, key, pool.Settings{}) }

	p := m.Attach(key, build)
	m.Detach(p)
	t0 := time.Now()
	if got := m.Reap(t0.Add(59*time.Minute), idleFor(time.Hour)); len(got) != 0 {
		t.Fatalf("reaped %d pools before the idle period passed", len(got))
	}
	if ps := m.Pools(); len(ps) != 1 || ps[0] != p {
		t.Fatalf("Pools() = %v", ps)
	}
	if isClosed(t, p) {
		t.Fatal("a pool kept by Reap was closed")
	}
	got := m.Reap(t0.Add(time.Hour), idleFor(time.Hour))
	if len(got) != 1 || got[0] != p {
		t.Fatalf("Reap returned %v, want the idle pool", got)
	}
	if ps := m.Pools(); len(ps) != 0 {
		t.Fatalf("reaped pool still listed: %v", ps)
	}
	if !isClosed(t, p) {
		t.Fatal("reaped pool not closed")
	}

	q := m.Attach(key, build)
	if q == p || builds != 2 {
		t.Fatalf("Attach after Reap: same pool %v, builds %d", q == p, builds)
	}
	if isClosed(t, q) {
		t.Fatal("new pool closed")
	}
	m.Detach(q)
}

func TestReapKeepsHeldPools(t *testing.T) {
	m := pool.NewManager()
	key := pool.Key{Database: "db", User: "u"}
	builds := 0
	build := func() *pool.Pool { builds++; return bare(m, key, pool.Settings{}) }

	p := m.Attach(key, build)
	if p2 := m.Attach(key, build); p2 != p || builds != 1 {
		t.Fatalf("second Attach: same pool %v, builds %d", p2 == p, builds)
	}
	m.Detach(p)
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 0 {
		t.Fatal("a pool with a holder left was reaped")
	}
	m.Detach(p)
	m.Detach(p) // one too many: must not count against a later holder
	p3 := m.Attach(key, build)
	if p3 != p {
		t.Fatal("pool replaced while in the manager")
	}
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 0 {
		t.Fatal("an extra Detach made a held pool reapable")
	}
	if isClosed(t, p) {
		t.Fatal("held pool closed")
	}
	m.Detach(p3)
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 1 {
		t.Fatalf("reaped %d pools once the last holder left", len(got))
	}

	// Detach of a pool already reaped leaves the new pool's holder alone.
	q := m.Attach(key, build)
	if q == p || builds != 2 {
		t.Fatalf("Attach after Reap: same pool %v, builds %d", q == p, builds)
	}
	m.Detach(p)
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 0 {
		t.Fatal("Detach of a reaped pool released the new one")
	}
	m.Detach(q)
}

func TestReapGet(t *testing.T) {
	m := pool.NewManager()
	key := pool.Key{Database: "db", User: "authq"}
	p := m.Get(key, func() *pool.Pool { return bare(m, key, pool.Settings{}) })
	if got := m.Reap(far(), idleFor(time.Hour)); len(got) != 1 || got[0] != p {
		t.Fatalf("an idle pool obtained by Get was not reaped: %v", got)
	}

	// Get counts as a use: the idle period starts over.
	p = m.Get(key, func() *pool.Pool { return bare(m, key, pool.Settings{}) })
	m.Detach(p) // not attached: nothing to end
	time.Sleep(10 * time.Millisecond)
	before := time.Now()
	if m.Get(key, nil) != p {
		t.Fatal("Get made a second pool")
	}
	// Counted from the first Get, an hour has passed; from the second,
	// not quite.
	if got := m.Reap(before.Add(time.Hour-time.Nanosecond), idleFor(time.Hour)); len(got) != 0 {
		t.Fatal("Get did not restart the idle period")
	}
	if got := m.Reap(time.Now().Add(time.Hour), idleFor(time.Hour)); len(got) != 1 {
		t.Fatal("pool not reaped an hour after its last use")
	}
}

func TestReapNever(t *testing.T) {
	m := pool.NewManager()
	keep := pool.Key{Database: "db", User: "keep"}
	neg := pool.Key{Database: "db", User: "negative"}
	warm := pool.Key{Database: "db", User: "warm"}
	drop := pool.Key{Database: "db", User: "drop"}
	for _, k := range []pool.Key{keep, neg, drop} {
		m.Detach(m.Attach(k, func() *pool.Pool { return bare(m, k, pool.Settings{}) }))
	}
	// min_pool_size: the pool is meant to keep servers (none are made
	// here: it has no credentials).
	w := m.Attach(warm, func() *pool.Pool { return bare(m, warm, pool.Settings{MinSize: 2}) })
	m.Detach(w)
	got := m.Reap(far(), func(p *pool.Pool) time.Duration {
		switch p.Key {
		case keep:
			return 0
		case neg:
			return -time.Second
		}
		return time.Nanosecond
	})
	if len(got) != 1 || got[0].Key != drop {
		t.Fatalf("reaped %v, want only %v", got, drop)
	}
	if n := len(m.Pools()); n != 3 {
		t.Fatalf("%d pools left, want 3", n)
	}
	if isClosed(t, w) {
		t.Fatal("min_pool_size pool closed")
	}
}

func TestReapKeepsWaitedPool(t *testing.T) {
	m := pool.NewManager()
	key := pool.Key{Database: "db", User: "u"}
	p := m.Get(key, func() *pool.Pool { return bare(m, key, pool.Settings{}) })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Acquire(ctx) // size 0: waits until cancelled
		errc <- err
	}()
	waitFor(t, func() bool { return p.Snapshot().Waiting == 1 })
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 0 {
		t.Fatal("a pool with a client waiting was reaped")
	}
	cancel()
	if err := <-errc; !errors.Is(err, pool.ErrWaitTimeout) {
		t.Fatalf("waiter got %v", err)
	}
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 1 {
		t.Fatal("pool not reaped once its waiter left")
	}
}

// TestReapKeepsOpeningPool: a login in progress counts as a server.
func TestReapKeepsOpeningPool(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c // never answers: the login hangs until closed
		}
	}()
	m := pool.NewManager()
	key := pool.Key{Database: "db", User: "u"}
	p := m.Get(key, func() *pool.Pool {
		d := &pool.Dialer{Hosts: []string{"127.0.0.1"}, Port: ln.Addr().(*net.TCPAddr).Port, Timeout: 10 * time.Second}
		return pool.New(key, d, pool.Settings{Size: 1}, creds(pass), m.DBLimiter(key.Database, 0))
	})
	errc := make(chan error, 1)
	go func() {
		// A server that drops the login is retried (transient failure)
		// until the client's context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := p.Acquire(ctx)
		errc <- err
	}()
	c := <-accepted
	waitFor(t, func() bool { return p.Snapshot().Opening == 1 })
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 0 {
		t.Fatal("a pool opening a server was reaped")
	}
	c.Close()
	if err := <-errc; err == nil {
		t.Fatal("login on a silent server succeeded")
	}
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 1 {
		t.Fatal("pool not reaped once its login failed")
	}
}

// TestReapKeepsServers: servers in use or idle keep a pool, and their
// limiter tokens keep the limiters.
func TestReapKeepsServers(t *testing.T) {
	m := pool.NewManager()
	key := pool.Key{Database: "reapdb", User: user}
	lim := m.DBLimiter(key.Database, 0)
	p := m.Attach(key, func() *pool.Pool {
		return pool.New(key, dialer(t, config.SSLRequire), pool.Settings{Size: 2, Lifetime: time.Hour}, creds(pass),
			m.DBLimiter(key.Database, 0), m.UserLimiter(key.User, 0))
	})
	defer m.Close()
	s := acquire(t, p)
	m.Detach(p)
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 0 {
		t.Fatal("a pool with a server in use was reaped")
	}
	p.Release(s, true)
	if sn := p.Snapshot(); sn.Idle != 1 {
		t.Fatalf("server not kept idle: %+v", sn)
	}
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 0 {
		t.Fatal("a pool with an idle server was reaped")
	}
	if m.DBLimiter(key.Database, 0) != lim {
		t.Fatal("limiter of a kept pool dropped")
	}
	s = acquire(t, p)
	p.Release(s, false) // closed
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 1 {
		t.Fatal("pool not reaped once its last server closed")
	}
	if m.DBLimiter(key.Database, 0) == lim {
		t.Fatal("limiter of a reaped pool kept")
	}

	// A server of a pool closed outside the manager still holds a token of
	// the limiter: the limiter stays until the server is gone.
	lim = m.DBLimiter(key.Database, 0)
	other := pool.New(key, dialer(t, config.SSLRequire), pool.Settings{Size: 1, Lifetime: time.Hour}, creds(pass), lim)
	s = acquire(t, other)
	other.Close()
	m.Reap(far(), idleFor(time.Nanosecond))
	if m.DBLimiter(key.Database, 0) != lim {
		t.Fatal("limiter dropped while a server holds one of its tokens")
	}
	other.Release(s, true)
	if lim.InUse() != 0 {
		t.Fatalf("in use %d after release", lim.InUse())
	}
	m.Reap(far(), idleFor(time.Nanosecond))
	if m.DBLimiter(key.Database, 0) == lim {
		t.Fatal("unused limiter kept")
	}
}

// TestReapLimiters: a limiter goes with the last pool using it, and is
// kept for a pool being built.
func TestReapLimiters(t *testing.T) {
	m := pool.NewManager()
	a := pool.Key{Database: "db", User: "a"}
	b := pool.Key{Database: "db", User: "b"}
	m.Detach(m.Attach(a, func() *pool.Pool { return bare(m, a, pool.Settings{}) }))
	pb := m.Attach(b, func() *pool.Pool { return bare(m, b, pool.Settings{}) })
	db, ua, ub := m.DBLimiter("db", 0), m.UserLimiter("a", 0), m.UserLimiter("b", 0)
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 1 || got[0].Key != a {
		t.Fatalf("reaped %v", got)
	}
	if m.DBLimiter("db", 0) != db || m.UserLimiter("b", 0) != ub {
		t.Fatal("a limiter still used by a pool was dropped")
	}
	if m.UserLimiter("a", 0) == ua {
		t.Fatal("the user limiter of the reaped pool was kept")
	}
	m.Detach(pb)

	// A build asks for its limiters before its pool registers with them:
	// a Reap in between must not drop them.
	c := pool.Key{Database: "db", User: "c"}
	asked, proceed := make(chan struct{}), make(chan struct{})
	built := make(chan *pool.Pool)
	var dbl *pool.Limiter
	go func() {
		built <- m.Attach(c, func() *pool.Pool {
			dbl = m.DBLimiter("db", 0)
			ul := m.UserLimiter("c", 0)
			close(asked)
			<-proceed
			return pool.New(c, nil, pool.Settings{}, nil, dbl, ul)
		})
	}()
	<-asked
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 1 || got[0] != pb {
		t.Fatalf("reaped %v", got)
	}
	close(proceed)
	pc := <-built
	if m.DBLimiter("db", 0) != dbl {
		t.Fatal("a limiter handed to a build in progress was dropped")
	}
	m.Detach(pc)
	if got := m.Reap(far(), idleFor(time.Nanosecond)); len(got) != 1 {
		t.Fatal("last pool not reaped")
	}
	if m.DBLimiter("db", 0) == dbl {
		t.Fatal("limiter kept with no pool left")
	}
}

// TestReapRacesAttach: a pool returned by Attach is never closed before
// its Detach, however Reap runs meanwhile.
func TestReapRacesAttach(t *testing.T) {
	m := pool.NewManager()
	key := pool.Key{Database: "race", User: "u"}
	var mu sync.Mutex
	var built []*pool.Pool
	build := func() *pool.Pool {
		p := bare(m, key, pool.Settings{})
		mu.Lock()
		built = append(built, p)
		mu.Unlock()
		return p
	}
	stop := make(chan struct{})
	reaperDone := make(chan struct{})
	var reaped atomic.Int64
	go func() {
		defer close(reaperDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			reaped.Add(int64(len(m.Reap(far(), idleFor(time.Nanosecond)))))
		}
	}()
	const workers, rounds = 4, 500
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				p := m.Attach(key, build)
				if isClosed(t, p) {
					t.Error("Attach returned a closed pool")
				}
				if !slices.Contains(m.Pools(), p) {
					t.Error("a held pool is not listed")
				}
				if isClosed(t, p) {
					t.Error("a held pool was closed")
				}
				m.Detach(p)
				runtime.Gosched() // let the holder count reach 0 now and then
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-reaperDone
	reaped.Add(int64(len(m.Reap(far(), idleFor(time.Nanosecond)))))
	t.Logf("%d pools built, %d reaped", len(built), reaped.Load())
	if n := len(m.Pools()); n != 0 {
		t.Fatalf("%d pools left", n)
	}
	for _, p := range built {
		if !isClosed(t, p) {
			t.Fatal("a pool built during the race was neither reaped nor closed")
		}
	}
	if reaped.Load() > int64(len(built)) {
		t.Fatalf("reaped %d pools of %d built", reaped.Load(), len(built))
	}
}
