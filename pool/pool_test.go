package pool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/pgtest"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/tlsconf"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{}, &pg)) }

const (
	user = "poolrole"
	pass = "pool-pass"
)

var roleOnce sync.Once

func setupRole(t *testing.T) {
	t.Helper()
	var err error
	roleOnce.Do(func() {
		ctx := context.Background()
		if err = pg.CreateRole(ctx, user, pass, pgtest.SCRAM); err == nil {
			err = pg.CreateDatabase(ctx, "pooldb", user)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func dialer(t *testing.T, mode config.SSLMode) *pool.Dialer {
	t.Helper()
	setupRole(t)
	srv, err := tlsconf.ForServers(config.ServerTLS{SSLMode: mode, CAFile: pg.CAFile()})
	if err != nil {
		t.Fatal(err)
	}
	return &pool.Dialer{
		Hosts:   []string{"localhost"},
		Port:    pg.Port(),
		TLS:     srv,
		Timeout: 10 * time.Second,
		Startup: map[string]string{"user": user, "database": "pooldb", "application_name": "pooltest"},
	}
}

func creds(password string) func() pool.Authenticator {
	return func() pool.Authenticator {
		return pool.CredentialAuth(user, authn.ServerCredentials{Password: password})
	}
}

func newPool(t *testing.T, set pool.Settings) *pool.Pool {
	t.Helper()
	p := pool.New(pool.Key{Database: "pooldb", User: user}, dialer(t, config.SSLVerifyFull), set, creds(pass))
	t.Cleanup(p.Close)
	return p
}

func acquire(t *testing.T, p *pool.Pool) *pool.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func exec(t *testing.T, s *pool.Server, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestReuseAndReset(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 1, ResetQuery: "DISCARD ALL", Lifetime: time.Hour})
	s := acquire(t, p)
	if s.TLS() == nil {
		t.Fatal("verify-full server connection is not TLS")
	}
	exec(t, s, "SET application_name = 'dirty'")
	if s.Params["application_name"] != "dirty" {
		t.Fatalf("ParameterStatus not tracked: %v", s.Params["application_name"])
	}
	exec(t, s, "BEGIN")
	if s.Status != 'T' {
		t.Fatalf("status %c after BEGIN", s.Status)
	}
	id := s.ID
	p.Release(s, true) // rolls back, then DISCARD ALL
	s = acquire(t, p)
	if s.ID != id {
		t.Fatal("clean server not reused")
	}
	if s.Status != 'I' || s.Params["application_name"] != "pooltest" {
		t.Fatalf("not reset: status %c, application_name %q", s.Status, s.Params["application_name"])
	}
	p.Release(s, false)
	s = acquire(t, p)
	if s.ID == id {
		t.Fatal("a server released dirty was reused")
	}
	p.Release(s, true)
}

// TestFIFO: waiters are served in arrival order as servers come back.
func TestFIFO(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 1, Lifetime: time.Hour})
	held := acquire(t, p)
	order := make(chan int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := acquire(t, p)
			order <- i
			time.Sleep(20 * time.Millisecond)
			p.Release(s, true)
		}()
		// Let each waiter queue before the next one.
		waitFor(t, func() bool { return p.Snapshot().Waiting == i+1 })
	}
	p.Release(held, true)
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("waiter %d served before waiter %d", got, want)
		}
		want++
	}
	if sn := p.Snapshot(); sn.Stats.Opened != 1 || sn.Stats.Waited != 3 {
		t.Fatalf("stats %+v", sn.Stats)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWaitTimeout(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 1, Lifetime: time.Hour})
	s := acquire(t, p)
	defer p.Release(s, true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx); !errors.Is(err, pool.ErrWaitTimeout) {
		t.Fatalf("got %v", err)
	}
	if sn := p.Snapshot(); sn.Waiting != 0 {
		t.Fatalf("timed-out waiter still queued: %+v", sn)
	}
}

// TestLoginRetry: after a failed login the pool answers with the same
// error, without new logins, until server_login_retry has passed.
func TestLoginRetry(t *testing.T) {
	setupRole(t)
	p := pool.New(pool.Key{Database: "pooldb", User: user}, dialer(t, config.SSLRequire),
		pool.Settings{Size: 2, LoginRetry: 400 * time.Millisecond, Lifetime: time.Hour}, creds("wrong"))
	defer p.Close()
	ctx := context.Background()
	_, err := p.Acquire(ctx)
	var le *pool.LoginError
	if !errors.As(err, &le) || le.Err.Code != wire.CodeInvalidPassword {
		t.Fatalf("first login: %v", err)
	}
	_, err = p.Acquire(ctx)
	var re *pool.LoginRetryError
	if !errors.As(err, &re) || !errors.As(err, &le) {
		t.Fatalf("second login inside the retry window: %v", err)
	}
	if p.Snapshot().Stats.LoginFailed != 1 {
		t.Fatalf("server was hammered: %+v", p.Snapshot().Stats)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err = p.Acquire(ctx); !errors.As(err, &le) || errors.As(err, &re) {
		t.Fatalf("after the window: %v", err)
	}
}

func TestLifetimeAndIdleTimeout(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 2, Lifetime: 300 * time.Millisecond})
	s := acquire(t, p)
	id := s.ID
	time.Sleep(350 * time.Millisecond)
	p.Release(s, true)
	s = acquire(t, p)
	if s.ID == id {
		t.Fatal("server past server_lifetime reused")
	}
	p.Release(s, true)

	// server_lifetime = 0: each server is used once (PgBouncer's meaning).
	once := newPool(t, pool.Settings{Size: 1})
	s = acquire(t, once)
	id = s.ID
	once.Release(s, true)
	if s = acquire(t, once); s.ID == id {
		t.Fatal("server_lifetime=0 reused a server")
	}
	once.Release(s, true)

	m := pool.NewManager()
	idle := m.Get(pool.Key{Database: "idle"}, func() *pool.Pool {
		return pool.New(pool.Key{Database: "idle"}, dialer(t, config.SSLRequire),
			pool.Settings{Size: 2, Lifetime: time.Hour, IdleTimeout: 200 * time.Millisecond}, creds(pass))
	})
	defer m.Close()
	s = acquire(t, idle)
	idle.Release(s, true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	waitFor(t, func() bool { return idle.Snapshot().Idle == 0 })
	cancel()
	<-done
}

// TestMinPoolSize: housekeeping opens servers up to min_pool_size.
func TestMinPoolSize(t *testing.T) {
	m := pool.NewManager()
	defer m.Close()
	p := m.Get(pool.Key{Database: "warm"}, func() *pool.Pool {
		return pool.New(pool.Key{Database: "warm"}, dialer(t, config.SSLRequire),
			pool.Settings{Size: 5, MinSize: 3, Lifetime: time.Hour}, creds(pass))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	waitFor(t, func() bool { return p.Snapshot().Idle == 3 })
	cancel()
	<-done
}

func TestCloseFailsWaiters(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 1, Lifetime: time.Hour})
	s := acquire(t, p)
	errc := make(chan error, 1)
	go func() {
		_, err := p.Acquire(context.Background())
		errc <- err
	}()
	waitFor(t, func() bool { return p.Snapshot().Waiting == 1 })
	p.Close()
	if err := <-errc; !errors.Is(err, pool.ErrClosed) {
		t.Fatalf("waiter got %v", err)
	}
	p.Release(s, true)
	if sn := p.Snapshot(); sn.Active != 0 || sn.Idle != 0 {
		t.Fatalf("after close: %+v", sn)
	}
}

func TestCancel(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 1, Lifetime: time.Hour})
	s := acquire(t, p)
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		errc <- s.Exec(ctx, "select pg_sleep(15)")
	}()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	err := <-errc
	if we, ok := wire.AsError(err); !ok || we.Code != wire.CodeQueryCanceled {
		t.Fatalf("query ended with %v", err)
	}
	p.Release(s, true)
}

// TestServerTLSModes checks each server_tls_sslmode against the cluster.
func TestServerTLSModes(t *testing.T) {
	setupRole(t)
	ctx := context.Background()
	for _, tc := range []struct {
		mode config.SSLMode
		host string
		ok   bool
		tls  bool
	}{
		{config.SSLDisable, "127.0.0.1", true, false},
		{config.SSLAllow, "127.0.0.1", true, false},
		{config.SSLPrefer, "127.0.0.1", true, true},
		{config.SSLRequire, "127.0.0.1", true, true},
		{config.SSLVerifyCA, "127.0.0.1", true, true},
		{config.SSLVerifyFull, "localhost", true, true},
		{config.SSLVerifyFull, "127.0.0.2", false, false}, // not in the certificate
	} {
		t.Run(fmt.Sprintf("%s-%s", tc.mode, tc.host), func(t *testing.T) {
			d := dialer(t, tc.mode)
			d.Hosts = []string{tc.host}
			s, err := d.Dial(ctx, creds(pass)(), nil)
			if !tc.ok {
				if err == nil {
					s.Close()
					t.Fatal("connected despite a certificate for another name")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if (s.TLS() != nil) != tc.tls {
				t.Fatalf("TLS = %v", s.TLS() != nil)
			}
		})
	}
}

func TestUnixSocketAndHostList(t *testing.T) {
	d := dialer(t, config.SSLPrefer)
	d.Hosts = []string{"127.0.0.9", pg.SocketDir()} // first is unreachable (nothing listens)
	d.Port = pg.Port()
	s, err := d.Dial(context.Background(), creds(pass)(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Network != "unix" || s.Addr != pg.SocketDir()+"/.s.PGSQL."+strconv.Itoa(pg.Port()) {
		t.Fatalf("dialled %s %s", s.Network, s.Addr)
	}
}

// TestLimiterAcrossPools: max_db_connections counts servers of every pool
// of a database; a full limiter takes an idle server from another pool.
func TestLimiterAcrossPools(t *testing.T) {
	lim := pool.NewLimiter(2)
	mk := func(name string) *pool.Pool {
		p := pool.New(pool.Key{Database: name, User: user}, dialer(t, config.SSLRequire),
			pool.Settings{Size: 5, Lifetime: time.Hour}, creds(pass), lim)
		t.Cleanup(p.Close)
		return p
	}
	a, b := mk("a"), mk("b")
	s1, s2 := acquire(t, a), acquire(t, a)
	if lim.InUse() != 2 {
		t.Fatalf("in use %d", lim.InUse())
	}
	// b must wait: both tokens are held by servers in use.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := b.Acquire(ctx)
	cancel()
	if !errors.Is(err, pool.ErrWaitTimeout) {
		t.Fatalf("b got %v with the limiter full", err)
	}
	// An idle server of a makes room for b.
	a.Release(s1, true)
	sb := acquire(t, b)
	if sn := a.Snapshot(); sn.Idle != 0 {
		t.Fatalf("a kept its idle server: %+v", sn)
	}
	// Releasing hands the token to a waiter in order.
	got := make(chan *pool.Server, 1)
	go func() { got <- acquire(t, b) }()
	waitFor(t, func() bool { return b.Snapshot().Opening == 1 })
	a.Release(s2, false) // closed: its token goes to b's waiting open
	s := <-got
	b.Release(s, true)
	b.Release(sb, true)
	if lim.InUse() != 2 {
		t.Fatalf("in use %d after releases", lim.InUse())
	}
}

// TestReservePool: a client that waited reserve_pool_timeout gets one of
// reserve_pool_size extra servers; they go away when nobody waits.
func TestReservePool(t *testing.T) {
	m := pool.NewManager()
	var logged bytes.Buffer
	m.Log = slog.New(slog.NewTextHandler(&logged, nil))
	defer m.Close()
	p := m.Get(pool.Key{Database: "reserve"}, func() *pool.Pool {
		return pool.New(pool.Key{Database: "reserve"}, dialer(t, config.SSLRequire),
			pool.Settings{Size: 1, ReserveSize: 1, ReserveTimeout: 300 * time.Millisecond, Lifetime: time.Hour, LogConnections: true}, creds(pass))
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	held := acquire(t, p)
	started := time.Now()
	extra := acquire(t, p) // waits, then gets the reserve server
	if waited := time.Since(started); waited < 250*time.Millisecond {
		t.Fatalf("reserve server granted after %v, before reserve_pool_timeout", waited)
	}
	if sn := p.Snapshot(); sn.Active != 2 {
		t.Fatalf("%+v", sn)
	}
	// Logged as PgBouncer logs it, once per reserve server.
	if n := strings.Count(logged.String(), "taking connection from reserve_pool"); n != 1 {
		t.Fatalf("reserve server logged %d times:\n%s", n, logged.String())
	}
	if n := strings.Count(logged.String(), "new connection to server (from 127.0.0.1:"); n != 2 {
		t.Fatalf("%d server connections logged, want 2:\n%s", n, logged.String())
	}
	p.Release(extra, true)
	p.Release(held, true)
	if sn := p.Snapshot(); sn.Idle != 1 {
		t.Fatalf("reserve server kept after use: %+v", sn)
	}
}

// TestDeadIdleServerNotHandedOut: a server killed while idle is noticed
// before anyone gets it.
func TestDeadIdleServerNotHandedOut(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 2, Lifetime: time.Hour})
	s := acquire(t, p)
	pid := s.PID
	p.Release(s, true)
	if err := pg.Exec(context.Background(), fmt.Sprintf("select pg_terminate_backend(%d)", pid)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the goodbye arrive
	s = acquire(t, p)
	defer p.Release(s, true)
	if s.PID == pid {
		t.Fatal("a dead server was handed out")
	}
	exec(t, s, "select 1")
	if p.Snapshot().Stats.Unhealthy != 1 {
		t.Fatalf("stats %+v", p.Snapshot().Stats)
	}
}

// TestCheckQuery: server_check_query runs on servers idle longer than
// server_check_delay.
func TestCheckQuery(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 1, Lifetime: time.Hour, CheckDelay: 100 * time.Millisecond, CheckQuery: "select 1"})
	s := acquire(t, p)
	p.Release(s, true)
	s = acquire(t, p) // not idle long enough: no check
	p.Release(s, true)
	time.Sleep(150 * time.Millisecond)
	s = acquire(t, p)
	p.Release(s, true)
	if st := p.Snapshot().Stats; st.Checked != 1 || st.Unhealthy != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPauseResumeRecycle: PAUSE queues clients and empties the pool,
// RESUME serves the queue; RECONNECT closes servers as they come back.
func TestPauseResumeRecycle(t *testing.T) {
	p := newPool(t, pool.Settings{Size: 2, Lifetime: time.Hour})
	s := acquire(t, p)
	idle := acquire(t, p)
	p.Release(idle, true)
	p.Pause()
	if sn := p.Snapshot(); sn.Idle != 0 {
		t.Fatalf("idle server kept while paused: %+v", sn)
	}
	got := make(chan *pool.Server, 1)
	go func() { got <- acquire(t, p) }()
	waitFor(t, func() bool { return p.Snapshot().Waiting == 1 })
	p.Release(s, true) // closed: the pool is paused
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if err := p.WaitQuiet(ctx); err != nil {
		t.Fatalf("paused pool not quiet: %v", err)
	}
	cancel()
	p.Resume()
	s = <-got
	old := s.ID
	p.Recycle()
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	if err := p.WaitRecycled(ctx); err == nil {
		t.Fatal("WaitRecycled returned with an old server in use")
	}
	cancel()
	p.Release(s, true)
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := p.WaitRecycled(ctx); err != nil {
		t.Fatal(err)
	}
	s = acquire(t, p)
	if s.ID == old {
		t.Fatal("a recycled server was reused")
	}
	p.Release(s, true)
}

// TestServerDownClientsWait: while the server cannot be reached, a client
// waits and pgbun tries again every server_login_retry; the client gets a
// server once it is back, or an error at query_wait_timeout.
func TestServerDownClientsWait(t *testing.T) {
	port := freePort(t) // nothing listens there for now
	d := dialer(t, config.SSLDisable)
	d.Hosts, d.Port = []string{"127.0.0.1"}, port
	m := pool.NewManager()
	var logged bytes.Buffer
	var mu sync.Mutex
	m.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))
	defer m.Close()
	p := m.Get(pool.Key{Database: "down"}, func() *pool.Pool {
		return pool.New(pool.Key{Database: "down"}, d,
			pool.Settings{Size: 1, LoginRetry: 200 * time.Millisecond, WaitTimeout: 10 * time.Second, Lifetime: time.Hour}, creds(pass))
	})
	go func() {
		time.Sleep(700 * time.Millisecond)
		// The server comes back: a proxy to PostgreSQL on the port.
		back, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { back.Close() })
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", pg.Port()))
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
	start := time.Now()
	s := acquire(t, p)
	if waited := time.Since(start); waited < 600*time.Millisecond {
		t.Fatalf("got a server after %v, before it was back", waited)
	}
	exec(t, s, "select 1")
	p.Release(s, true)
	mu.Lock()
	n := strings.Count(logged.String(), "connect failed")
	mu.Unlock()
	if n < 2 || n > 6 {
		t.Fatalf("%d connect failures logged over 0.7 s with server_login_retry 0.2 s", n)
	}

	// A server that stays away: the wait ends at query_wait_timeout.
	gone := dialer(t, config.SSLDisable)
	gone.Hosts, gone.Port = []string{"127.0.0.1"}, freePort(t)
	q := pool.New(pool.Key{Database: "gone"}, gone, pool.Settings{Size: 1, LoginRetry: 100 * time.Millisecond, WaitTimeout: 400 * time.Millisecond}, creds(pass))
	defer q.Close()
	if _, err := q.Acquire(context.Background()); !errors.Is(err, pool.ErrWaitTimeout) {
		t.Fatalf("server away for good: %v", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
