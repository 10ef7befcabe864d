package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/certs"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/sockopt"
	"github.com/pgbun/pgbun/policy"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
	"github.com/pgbun/pgbun/stats"
)

// Gateway serves PostgreSQL clients on any number of listeners. Build it
// with New, hand it listeners with Serve, stop it with Shutdown.
type Gateway struct {
	log     *slog.Logger
	state   atomic.Pointer[state]
	keyring *authn.Keyring
	pools   *pool.Manager
	cancels cancelRegistry
	counts  clientCounts  // clients per database and user
	pinfo   sync.Map      // *pool.Pool -> *poolInfo, for client pools
	retired stats.Retired // counters of freed pools of configured databases
	period  stats.Period

	// Event counters for metrics.
	logins        stats.Labels // "method/result"
	tlsHandshakes stats.Labels // TLS version
	reloads       stats.Labels // "ok" / "failed"
	tlsFailures   atomic.Uint64
	throttled     atomic.Uint64

	// Console control state (control.go).
	peerSems    sync.Map // peer id -> chan struct{}, bounding cancel forwards
	disabled    sync.Map // database -> true (DISABLE)
	pausedDBs   map[string]bool
	allPaused   bool
	suspended   bool
	shutdownReq chan ShutdownMode
	reloader    func() error

	// learned holds, per user, how servers can log in as that user when
	// no password is configured: SCRAM keys recovered from the last
	// successful client login (pass-through), or the md5 hash or password
	// auth_query returned.
	learned sync.Map // string -> authn.ServerCredentials
	authq   *authn.QueryCache

	// Edge defence and certificates (see edge.go).
	admission *policy.Admission
	throttle  *policy.Throttle
	audit     *audit
	acme      *certs.ACME   // nil without acme_* settings
	loginWork chan struct{} // bounds CPU spent on logins at once
	watching  *certs.Store  // the file store being watched
	stopWatch context.CancelFunc

	nclients atomic.Int64    // connected clients, counted against max_client_conn
	sessions *session.Engine // carries clients after login

	bg     context.Context // ends at Close: housekeeping, in-flight dials
	stopBG context.CancelFunc

	// reloadMu orders reloads (SIGHUP, RELOAD, console SET): each builds
	// on the state the one before it committed.
	reloadMu sync.Mutex

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	clients   map[*client]struct{}
	closing   bool
	wg        sync.WaitGroup // serve goroutines and housekeeping
}

// New builds a gateway for cfg, loading the files it names (auth_file,
// certificates). It starts pool housekeeping; call Close or Shutdown to
// stop it.
func New(cfg *config.Config, log *slog.Logger) (*Gateway, error) {
	g := &Gateway{
		log:         log,
		keyring:     authn.NewKeyring(),
		authq:       authn.NewQueryCache(authQueryCacheConfig(cfg), nil),
		pools:       pool.NewManager(),
		listeners:   make(map[net.Listener]struct{}),
		clients:     make(map[*client]struct{}),
		admission:   policy.NewAdmission(admissionConfig(cfg)),
		throttle:    policy.NewThrottle(throttleConfig(cfg), nil),
		loginWork:   make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		pausedDBs:   make(map[string]bool),
		shutdownReq: make(chan ShutdownMode, 1),
	}
	g.bg, g.stopBG = context.WithCancel(context.Background())
	var err error
	if g.audit, err = openAudit(cfg.General.AuditLog); err != nil {
		g.stopBG()
		return nil, err
	}
	if err := g.newACME(cfg); err != nil {
		g.stopBG()
		g.audit.close()
		return nil, err
	}
	st, notes, err := buildState(cfg, nil, g.acme)
	if err != nil {
		g.stopBG()
		g.stopEdge()
		return nil, err
	}
	for _, n := range notes {
		log.Warn(n)
	}
	g.state.Store(st)
	g.openForcedPools(st)
	g.watchFiles(st)
	g.pools.Log = log
	g.rollPeriod(time.Now())
	g.wg.Add(2)
	go g.runStats()
	go g.runReaper()
	g.sessions = session.NewEngine(g.bg, log)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.pools.Run(g.bg)
	}()
	return g, nil
}

// Serve accepts clients on ln until ln is closed or the gateway shuts
// down. Temporary accept errors (e.g. out of file descriptors) back off
// instead of spinning or giving up.
func (g *Gateway) Serve(ln net.Listener) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return errors.New("gateway is shutting down")
	}
	g.listeners[ln] = struct{}{}
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			g.mu.Lock()
			closing := g.closing
			_, open := g.listeners[ln]
			g.mu.Unlock()
			if closing || !open || errors.Is(err, net.ErrClosed) {
				return nil
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			g.log.Error("accept failed, backing off", "listener", ln.Addr().String(), "err", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if err := sockopt.UserTimeout(conn, g.state.Load().cfg.General.TCPUserTimeout); err != nil {
			g.log.Warn("tcp_user_timeout not set", "err", err)
		}
		c := newClient(conn)
		if !g.track(c) {
			c.Close()
			return nil
		}
		go g.serve(c)
	}
}

// track registers a client; false once the gateway is closing.
func (g *Gateway) track(c *client) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.clients[c] = struct{}{}
	g.wg.Add(1)
	return true
}

func (g *Gateway) untrack(c *client) {
	g.mu.Lock()
	delete(g.clients, c)
	g.mu.Unlock()
	g.wg.Done()
}

// Shutdown stops accepting, lets connected clients finish until ctx ends,
// then closes what is left. Servers are closed as their clients leave.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closing = true
	for ln := range g.listeners {
		ln.Close()
		delete(g.listeners, ln)
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.waitClients()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		g.closeClients()
		<-done
	}
	g.stopBG()
	g.pools.Close()
	g.wg.Wait()
	g.sessions.Wait()
	g.stopEdge()
	return err
}

// Close stops everything now.
func (g *Gateway) Close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.Shutdown(ctx)
}

func (g *Gateway) waitClients() {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		g.mu.Lock()
		n := len(g.clients)
		g.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

func (g *Gateway) closeClients() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.clients {
		c.Abort()
	}
}

// Reload swaps in a new configuration. Files are loaded first; on any
// error the running configuration stays and the error is returned.
// Existing pools keep their servers; settings apply as servers cycle.
func (g *Gateway) Reload(cfg *config.Config) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	return g.reloadLocked(cfg)
}

// reloadLocked is Reload with g.reloadMu held. Nothing running changes
// until the new state is built whole: then it is committed at once.
func (g *Gateway) reloadLocked(cfg *config.Config) error {
	old := g.state.Load()
	next := *cfg
	held := config.KeepUnreloadable(old.cfg, &next)
	st, notes, err := buildState(&next, old, g.acme)
	if err != nil {
		g.reloads.Add("failed")
		return err
	}
	for _, n := range notes {
		g.log.Warn(n)
	}
	for _, k := range held {
		g.log.Warn("setting changed in the file cannot change at run time; restart pgbun to apply it", "key", k)
	}
	if st.commitFiles != nil {
		st.commitFiles()
		st.commitFiles = nil
	}
	g.state.Store(st)
	g.reconfigurePools(old, st)
	g.openForcedPools(st)
	g.reloads.Add("ok")
	g.admission.SetConfig(admissionConfig(cfg))
	g.throttle.SetConfig(throttleConfig(cfg))
	g.authq.SetConfig(authQueryCacheConfig(cfg))
	g.watchFiles(st)
	g.revokeSessions(st)
	return nil
}
