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
	"github.com/pgbun/pgbun/pool"
)

// userLookup is where a login user's secret came from.
type userLookup struct {
	sec   authn.Secret
	known bool // the user has a secret to check a password against
	// exists: the user is known, with or without a secret (auth_query
	// found a role with no password), which is all trust asks.
	exists bool
	// For auth_query users: the cache entry, whether the answer came from
	// the cache, and how to fetch it again.
	key    string
	cached bool
	fetch  authn.Fetch
}

// lookupUser finds c.user's secret: in auth_file, else with auth_query
// when an auth_user is configured for the database. For a database no
// entry serves, only a global auth_dbname says where to ask; without one
// the user is unknown, and the login fails like a wrong password.
func (g *Gateway) lookupUser(c *client, st *state, t target) (userLookup, error) {
	if sec, ok := st.users.Lookup(c.User); ok {
		return userLookup{sec: sec, known: true, exists: true}, nil
	}
	authUser, query, authDB := authQuerySettings(st, t.db)
	if authUser == "" || (t.db == nil && authDB == "") {
		return userLookup{}, nil
	}
	ap, serverDB, err := g.authPool(st, t, authUser, authDB)
	if err != nil {
		return userLookup{}, err
	}
	l := userLookup{key: serverDB + "\x00" + authUser + "\x00" + c.User}
	l.fetch = func(ctx context.Context, user string) (string, bool, error) {
		return runAuthQuery(ctx, ap, query, user)
	}
	ctx, cancel := context.WithTimeout(c.Context(), authQueryTimeout(st))
	defer cancel()
	res, err := g.authq.Get(ctx, l.key, c.User, l.fetch)
	if missingDatabase(err) {
		// Under a * entry without auth_dbname the query runs in the
		// database the client named: if PostgreSQL has none such, no
		// user can log in there, and the answer must be a wrong
		// password's, not a tell that the database does not exist.
		return userLookup{}, nil
	}
	if err != nil {
		return l, &login.Failure{
			Client: wire.Fatal(wire.CodeConnectionFailure, "authentication is unavailable: auth_query failed"),
			Reason: err.Error(),
		}
	}
	l.sec, l.exists, l.cached = res.Secret, res.Found, res.Cached
	l.known = res.Found && res.Secret.Kind != 0
	return l, nil
}

// refetch asks auth_query again after a login failed against a cached
// answer; it returns the new secret when there is one. For a known user
// that picks up a changed password, for an unknown one a role created
// since; the cache limits how often either is asked (an unknown name at
// most once per auth_negative_cache_ttl) and takes as long whether it asks
// or not, so a flood of wrong guesses is neither a flood of queries nor a
// way to tell names apart.
func (g *Gateway) refetch(c *client, st *state, l *userLookup) (authn.Secret, bool) {
	if !l.cached || l.fetch == nil {
		return authn.Secret{}, false
	}
	ctx, cancel := context.WithTimeout(c.Context(), authQueryTimeout(st))
	defer cancel()
	res, changed, err := g.authq.Refresh(ctx, l.key, c.User, l.fetch)
	if err != nil || !changed || !res.Found || res.Secret.Kind == 0 {
		return authn.Secret{}, false
	}
	return res.Secret, true
}

// missingDatabase reports a server login refused because the database
// does not exist.
func missingDatabase(err error) bool {
	var le *pool.LoginError
	return errors.As(err, &le) && le.Err.Code == wire.CodeInvalidCatalogName
}

func authQueryTimeout(st *state) time.Duration {
	if t := st.cfg.General.ClientLoginTimeout; t > 0 {
		return t
	}
	return 30 * time.Second
}

// authQuerySettings resolves auth_user, auth_query and auth_dbname for a
// database entry (its own values first).
func authQuerySettings(st *state, db *config.Database) (user, query, dbname string) {
	g := &st.cfg.General
	user, query, dbname = g.AuthUser, g.AuthQuery, g.AuthDBName
	if db == nil {
		return user, query, dbname
	}
	if db.AuthUser != "" {
		user = db.AuthUser
	}
	if db.AuthQuery != "" {
		query = db.AuthQuery
	}
	if db.AuthDBName != "" {
		dbname = db.AuthDBName
	}
	return user, query, dbname
}

// authPool returns the pool auth_query runs on: logged in as authUser, to
// the auth_dbname entry's database or else the client's, used by nothing
// else, so no client parameter ever reaches its sessions.
func (g *Gateway) authPool(st *state, t target, authUser, authDB string) (*pool.Pool, string, error) {
	db, serverDB := t.db, t.serverDB
	if authDB != "" {
		e, ok := st.cfg.Database(authDB)
		if !ok {
			return nil, "", &login.Failure{
				Client: wire.Fatal(wire.CodeConnectionFailure, "authentication is unavailable: auth_query failed"),
				Reason: fmt.Sprintf("auth_dbname %q is not a [databases] entry", authDB),
			}
		}
		db, serverDB = e, e.DBName
		if serverDB == "" {
			serverDB = authDB
		}
	}
	key := pool.Key{Database: serverDB, User: authUser, Lookup: db.Name}
	p := g.pools.Get(key, func() *pool.Pool {
		d, set := authPoolPlan(st, db, authUser, serverDB)
		return pool.New(key, d, set, func() pool.Authenticator { return g.serverAuth(db, authUser) })
	})
	return p, serverDB, nil
}

// runAuthQuery fetches one user's secret: the query's second column of
// its first row; no row or NULL means no usable secret.
func runAuthQuery(ctx context.Context, ap *pool.Pool, query, user string) (string, bool, error) {
	srv, err := ap.Acquire(ctx)
	if err != nil {
		return "", false, fmt.Errorf("auth_user connection: %w", err)
	}
	row, ok, err := srv.QueryRow(ctx, query, user)
	_, sqlErr := wire.AsError(err)
	ap.Release(srv, err == nil || (sqlErr && srv.Status == 'I'))
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, nil
	}
	if len(row) < 2 {
		return "", false, errors.New("auth_query must return two columns (user name, secret)")
	}
	if row[1] == nil || *row[1] == "" {
		return "", true, nil // a role with no password
	}
	return *row[1], true, nil
}

// reconfigureLookupPool applies a new configuration to a pool auth_query
// runs on: its entry's hosts, port and credentials as they are now, or,
// when the entry is gone, no server beyond the ones in use.
func (g *Gateway) reconfigureLookupPool(st *state, p *pool.Pool) {
	db, ok := st.cfg.Databases[p.Key.Lookup]
	if !ok {
		p.Recycle()
		return
	}
	d, set := authPoolPlan(st, db, p.Key.User, p.Key.Database)
	p.Reconfigure(d, set, func() pool.Authenticator { return g.serverAuth(db, p.Key.User) })
}
