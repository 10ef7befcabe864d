package config

import "time"

// PoolSettings are the effective settings of one pool, a (database, user)
// pair, after PgBouncer's inheritance rules. Zero limits mean unlimited
// and zero timeouts mean disabled, as in General.
type PoolSettings struct {
	Mode           PoolMode
	Size           int // server connections; [users] > [databases] > default_pool_size
	MinSize        int // at most Size
	ReserveSize    int
	ReserveTimeout time.Duration

	MaxDBConnections   int // server connections per database, all users
	MaxUserConnections int // server connections per user, all databases
	MaxDBClientConns   int // client connections per database
	MaxUserClientConns int // client connections per user

	ServerLifetime    time.Duration
	ServerIdleTimeout time.Duration

	QueryTimeout           time.Duration
	IdleTransactionTimeout time.Duration
	TransactionTimeout     time.Duration
	ClientIdleTimeout      time.Duration
	// QueryWaitTimeout bounds a client's wait for a server: [users], then
	// [databases], then [pgbouncer]; 0 waits for ever.
	QueryWaitTimeout time.Duration
}

// Database returns the [databases] entry clients reach by name: the exact
// entry, else the "*" fallback, whose DBName "" means "the name the client
// asked for". The admin console names ("pgbouncer", "pgbun") never match.
func (c *Config) Database(name string) (db *Database, ok bool) {
	if isConsoleName(name) {
		return nil, false
	}
	if db, ok := c.Databases[name]; ok {
		return db, true
	}
	db, ok = c.Databases["*"]
	return db, ok
}

// Pool returns the effective settings of the pool of db (nil: globals
// only) and user. When db forces a user, that user's [users] entry
// applies, since the pool belongs to it. The order is PgBouncer's: pool
// mode and sizes come from [users], then [databases], then [pgbouncer];
// connection limits, server_lifetime and [users] timeouts override the
// global value when set above zero.
func (c *Config) Pool(db *Database, user string) PoolSettings {
	g := &c.General
	ps := PoolSettings{
		Mode:                   g.PoolMode,
		Size:                   g.DefaultPoolSize,
		MinSize:                g.MinPoolSize,
		ReserveSize:            g.ReservePoolSize,
		ReserveTimeout:         g.ReservePoolTimeout,
		MaxDBConnections:       g.MaxDBConnections,
		MaxUserConnections:     g.MaxUserConnections,
		MaxDBClientConns:       g.MaxDBClientConnections,
		MaxUserClientConns:     g.MaxUserClientConns,
		ServerLifetime:         g.ServerLifetime,
		ServerIdleTimeout:      g.ServerIdleTimeout,
		QueryTimeout:           g.QueryTimeout,
		IdleTransactionTimeout: g.IdleTransactionTimeout,
		TransactionTimeout:     g.TransactionTimeout,
		ClientIdleTimeout:      g.ClientIdleTimeout,
		QueryWaitTimeout:       g.QueryWaitTimeout,
	}
	if db != nil {
		if db.User != "" {
			user = db.User
		}
		if db.PoolMode != "" {
			ps.Mode = db.PoolMode
		}
		overrideAtLeast0(&ps.Size, db.PoolSize)
		overrideAtLeast0(&ps.MinSize, db.MinPoolSize)
		overrideAtLeast0(&ps.ReserveSize, db.ReservePoolSize)
		overrideAbove0(&ps.MaxDBConnections, db.MaxDBConnections)
		overrideAbove0(&ps.MaxDBClientConns, db.MaxDBClientConns)
		overrideAbove0(&ps.ServerLifetime, db.ServerLifetime)
		overrideAtLeast0(&ps.QueryWaitTimeout, db.QueryWaitTimeout)
	}
	if u, ok := c.Users[user]; ok {
		if u.PoolMode != "" {
			ps.Mode = u.PoolMode
		}
		overrideAtLeast0(&ps.Size, u.PoolSize)
		overrideAtLeast0(&ps.ReserveSize, u.ReservePoolSize)
		overrideAbove0(&ps.MaxUserConnections, u.MaxUserConnections)
		overrideAbove0(&ps.MaxUserClientConns, u.MaxUserClientConns)
		overrideAbove0(&ps.QueryTimeout, u.QueryTimeout)
		overrideAbove0(&ps.IdleTransactionTimeout, u.IdleTransactionTimeout)
		overrideAbove0(&ps.TransactionTimeout, u.TransactionTimeout)
		overrideAbove0(&ps.ClientIdleTimeout, u.ClientIdleTimeout)
		overrideAtLeast0(&ps.QueryWaitTimeout, u.QueryWaitTimeout)
	}
	// PgBouncer never opens more than the pool size to meet the minimum.
	if ps.MinSize > ps.Size {
		ps.MinSize = ps.Size
	}
	return ps
}

func overrideAtLeast0[T int | time.Duration](dst *T, v T) {
	if v >= 0 {
		*dst = v
	}
}

func overrideAbove0[T int | time.Duration](dst *T, v T) {
	if v > 0 {
		*dst = v
	}
}
