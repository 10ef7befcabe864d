package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/login"
	"github.com/pgbun/pgbun/policy"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
	"github.com/pgbun/pgbun/stats"
)

// target is what a client's startup packet names, resolved against the
// configuration without creating anything: resolving is all pgbun does
// with those names before the client has authenticated.
type target struct {
	db       *config.Database // the [databases] entry; nil when none serves the name
	poolDB   string           // the name of the pool's database
	serverDB string           // the database servers log in to
	name     string           // the name console commands use for the database
}

// route is where an authenticated client's session goes.
type route struct {
	target
	serverUser string // the user servers log in as (a forced user= or the client's)
	settings   config.PoolSettings
	pool       *pool.Pool
	info       *poolInfo
	stats      *stats.Pool // &info.stats
}

// resolve finds the [databases] entry that serves c. An unknown database
// is not an error here: until the client has proved its password, it must
// look like any other database (see attach).
func (g *Gateway) resolve(c *client, st *state) (target, error) {
	db, poolDB, err := g.pickDatabase(c, st)
	if err != nil || db == nil {
		return target{}, err
	}
	t := target{db: db, poolDB: poolDB, serverDB: db.DBName, name: db.Name}
	if t.serverDB == "" {
		t.serverDB = c.dbname
	}
	if t.name == "*" {
		t.name = c.dbname
	}
	return t, nil
}

// attach joins c to its pool once c has authenticated (under
// auth_type=server, once it is about to prove itself to PostgreSQL): the
// database must exist and accept connections, and the pool (made on first
// use) and its statistics exist from here on. authenticated then shows the
// pool and counts the client's limits.
func (g *Gateway) attach(c *client, st *state, t target) (*route, error) {
	if t.db == nil {
		return nil, wire.Fatal(wire.CodeInvalidCatalogName, "no such database: %s", c.dbname)
	}
	if g.isDisabled(t.name) {
		return nil, wire.Fatal(wire.CodeCannotConnectNow, "database %q is disabled", t.name)
	}
	// Suspended (SUSPEND), every pool is paused: the client waits for a
	// server until RESUME, as PgBouncer's clients wait in the listen queue.
	rt := &route{target: t, serverUser: c.User}
	if t.db.User != "" {
		rt.serverUser = t.db.User
	}
	rt.settings = st.cfg.Pool(t.db, c.User)
	key := pool.Key{Database: t.poolDB, User: rt.serverUser}
	rt.pool = g.pools.Attach(key, func() *pool.Pool { return g.newPool(st, key, t.db, t.serverDB, rt.settings) })
	c.pool.Store(rt.pool)
	c.holds |= holdPool
	rt.info = g.infoFor(rt.pool, poolOrigin{entry: t.db.Name, asked: c.dbname})
	rt.stats = &rt.info.stats
	if g.dbPaused(t.name) {
		rt.pool.Pause() // a pool made while its database is paused starts paused
	}
	return rt, nil
}

// authenticated records that c has proved who it is: its slot among the
// unauthenticated connections is freed, its pool is shown from now on
// (SHOW POOLS, metrics), and it counts against max_db_client_connections
// and max_user_client_connections, as PostgreSQL counts its connection
// limits after authentication. Under auth_type=server the client proves
// itself on its pool's server, so the pool exists a moment before this.
func (g *Gateway) authenticated(c *client, t *policy.Ticket, rt *route) error {
	t.Authenticated()
	if _, shown := rt.info.mode(); !shown && rt.db.Name == "*" {
		// A database made from the fallback entry, as PgBouncer logs it.
		g.log.Info("registered new auto-database", "database", rt.poolDB)
	}
	rt.info.setMode(rt.settings.Mode)
	if err := g.counts.enter(c.dbname, c.User, rt.settings.MaxDBClientConns, rt.settings.MaxUserClientConns); err != nil {
		return err
	}
	c.holds |= holdCounts
	return nil
}

// pickDatabase finds the [databases] entry for c: by TLS server name when
// an entry's sni= matches it (the entry's dbname defaulting to the
// client's database), else by the database the client names. poolDB names
// the pool. No entry for the name is a nil db, not an error.
func (g *Gateway) pickDatabase(c *client, st *state) (*config.Database, string, error) {
	if st.sni.enabled() || st.cfg.General.ClientTLS.SNIRequired {
		if db := st.sni.match(c.sni); db != nil {
			if db.DBName != "" {
				return db, db.Name, nil
			}
			// One pool per database the client names under this entry.
			return db, db.Name + "/" + c.dbname, nil
		}
		if st.cfg.General.ClientTLS.SNIRequired && !c.unix {
			if c.sni == "" {
				return nil, "", wire.Fatal(wire.CodeInvalidAuthSpec, "a TLS server name (SNI) is required; connect by host name with sslsni=1")
			}
			return nil, "", wire.Fatal(wire.CodeInvalidAuthSpec, "no database is served for server name %q", clip(c.sni))
		}
	}
	db, ok := st.cfg.Database(c.dbname)
	if !ok {
		return nil, "", nil
	}
	return db, c.dbname, nil
}

// openForcedPools makes, before any client asks, the pools of database
// entries that force a user and keep servers open (min_pool_size), as
// PgBouncer does: such a pool's servers are known from the configuration
// alone, so making it gives a stranger nothing. Housekeeping then fills
// it where the credentials allow.
func (g *Gateway) openForcedPools(st *state) {
	for _, db := range st.cfg.Databases {
		if db.User == "" || db.Name == "*" {
			continue
		}
		ps := st.cfg.Pool(db, db.User)
		if ps.MinSize <= 0 {
			continue
		}
		serverDB := db.DBName
		if serverDB == "" {
			serverDB = db.Name
		}
		key := pool.Key{Database: db.Name, User: db.User}
		p := g.pools.Get(key, func() *pool.Pool { return g.newPool(st, key, db, serverDB, ps) })
		g.infoFor(p, poolOrigin{entry: db.Name, asked: db.Name}).setMode(ps.Mode)
		if g.dbPaused(db.Name) {
			p.Pause()
		}
	}
}

// poolOrigin is what a pool was made from, so a reload can rebuild it.
type poolOrigin struct {
	entry string // the [databases] entry ("*" for the fallback)
	asked string // the database name its clients ask for
}

// serverDBIn is the database the pool's servers log in to under db, the
// entry's definition in some configuration: its dbname=, or else the name
// the clients ask for, which no reload changes.
func (o poolOrigin) serverDBIn(db *config.Database) string {
	if db.DBName != "" {
		return db.DBName
	}
	return o.asked
}

// newPool builds the pool for key from the configuration in force.
func (g *Gateway) newPool(st *state, key pool.Key, db *config.Database, serverDB string, ps config.PoolSettings) *pool.Pool {
	origin := poolOrigin{entry: db.Name}
	d, set, _ := g.poolPlan(st, key, db, serverDB, ps)
	var creds func() pool.Authenticator
	if st.cfg.General.AuthType != config.AuthServer {
		creds = g.credsFor(key, origin)
	}
	return pool.New(key, d, set, creds,
		g.pools.DBLimiter(key.Database, ps.MaxDBConnections),
		g.pools.UserLimiter(key.User, ps.MaxUserConnections))
}

// credsFor returns how shared servers of a pool log in, looked up when
// they are made, so a reload's new password is used at once.
func (g *Gateway) credsFor(key pool.Key, origin poolOrigin) func() pool.Authenticator {
	return func() pool.Authenticator {
		db, ok := g.state.Load().cfg.Databases[origin.entry]
		if !ok {
			return nil
		}
		return g.serverAuth(db, key.User)
	}
}

// reconfigurePools applies a new configuration to existing pools: new
// sizes and timers at once, and pools whose server definition changed
// recycle their servers as they are released.
func (g *Gateway) reconfigurePools(old, st *state) {
	for _, p := range g.pools.Pools() {
		in := g.info(p)
		if in == nil {
			g.reconfigureLookupPool(st, p)
			continue
		}
		origin := in.origin
		oldDB, hadOld := old.cfg.Databases[origin.entry]
		db, ok := st.cfg.Databases[origin.entry]
		if !ok {
			p.Recycle() // the entry is gone: no server outlives its client
			continue
		}
		ps := st.cfg.Pool(db, p.Key.User)
		d, set, fp := g.poolPlan(st, p.Key, db, origin.serverDBIn(db), ps)
		g.pools.DBLimiter(p.Key.Database, ps.MaxDBConnections)
		g.pools.UserLimiter(p.Key.User, ps.MaxUserConnections)
		if _, confirmed := in.mode(); confirmed {
			in.setMode(ps.Mode)
		}
		var oldFP string
		if hadOld {
			_, _, oldFP = g.poolPlan(old, p.Key, oldDB, origin.serverDBIn(oldDB), old.cfg.Pool(oldDB, p.Key.User))
		}
		if fp != oldFP {
			var creds func() pool.Authenticator
			if st.cfg.General.AuthType != config.AuthServer {
				creds = g.credsFor(p.Key, origin)
			}
			p.Reconfigure(d, set, creds)
			g.log.Info("database definition changed: servers are replaced as they are released",
				"database", p.Key.Database, "user", p.Key.User)
			g.fastClose(origin.entry)
			continue
		}
		p.Configure(set)
	}
}

// serverAuth picks how a shared server logs in as user: the database
// entry's password (for its forced user, or any user when it forces none),
// else the user's auth_file secret when it is a password or md5 hash, else
// what a client login taught (SCRAM pass-through keys, auth_query
// secrets). nil when nothing is known yet (the server may still trust
// pgbun).
func (g *Gateway) serverAuth(db *config.Database, user string) pool.Authenticator {
	if db.Password != "" && (db.User == "" || db.User == user) {
		return pool.CredentialAuth(user, authn.ServerCredentials{Password: db.Password})
	}
	st := g.state.Load()
	if sec, ok := st.users.Lookup(user); ok && sec.Kind != authn.SecretSCRAM {
		return pool.CredentialAuth(user, sec.ServerCredentials())
	}
	if v, ok := g.learned.Load(user); ok {
		return pool.CredentialAuth(user, v.(authn.ServerCredentials))
	}
	return nil
}

// connectServer gets c a server: from the pool, or with auth_type=server
// a new one on which the client authenticates itself, through pgbun.
func (g *Gateway) connectServer(c *client, st *state, rt *route) (*pool.Server, error) {
	gen := &st.cfg.General
	ctx := c.Context()
	if gen.AuthType == config.AuthServer {
		if gen.ServerConnectTimeout > 0 && gen.ClientLoginTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, gen.ClientLoginTimeout)
			defer cancel()
		}
		s, err := rt.pool.AcquireDedicated(ctx, login.Relay(c.loginConn()), g.relayParams(c, st))
		return s, serverError(err)
	}
	// Authenticated: the login deadline no longer applies, waiting for a
	// server is bounded by query_wait_timeout (the pool's WaitTimeout).
	c.Raw.SetDeadline(time.Time{})
	if s := rt.pool.TryAcquire(); s != nil {
		return s, nil
	}
	s, err := c.Acquire(rt.pool)
	g.logServerRefusal(c, err)
	return s, serverError(err)
}

// logServerRefusal logs a server's refusal of a pooled login as it came,
// once per attempt (a retry refused from the pool's memory of it is not).
func (g *Gateway) logServerRefusal(c *client, err error) {
	var le *pool.LoginError
	if errors.As(err, &le) && !errors.As(err, new(*pool.LoginRetryError)) {
		g.log.Warn(fmt.Sprintf("server login failed: %s %s", le.Err.Severity, le.Err.Message),
			"server", le.Addr, "user", c.User, "database", c.dbname)
	}
}

// serverError turns a failure to get a server into what the client sees.
// A client that hung up or was killed meanwhile is told nothing more.
func serverError(err error) error {
	if err == nil || errors.Is(err, session.ErrClientGone) || errors.Is(err, session.ErrKilled) {
		return err
	}
	e, reason := session.ServerFailure(err)
	return &login.Failure{Client: e, Reason: reason}
}
