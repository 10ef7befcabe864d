package config

// Default returns the configuration pgbun runs with when it is given no
// file: it listens on 127.0.0.1:6432 (no Unix socket), forwards every
// database to PostgreSQL on localhost:5432 (a "*" entry), pools in session
// mode with 25 server connections per pool and at most 100 clients, and
// authenticates with auth_type server: each client's login is relayed to
// PostgreSQL on a server connection of its own, so no password file is
// needed. Every other key has PgBouncer's default.
func Default() *Config {
	c := &Config{
		Databases: map[string]*Database{},
		Users:     map[string]*User{},
		Peers:     map[int]*Peer{},
	}
	applyDefaults(&c.General)
	g := &c.General
	g.ListenAddr = []string{"127.0.0.1"}
	g.ListenPort = 6432
	g.UnixSocketDir = ""
	g.PoolMode = PoolSession
	g.MaxClientConn = 100
	g.DefaultPoolSize = 25
	g.AuthType = AuthServer
	db := newDatabase("*")
	db.Host, db.Raw = []string{"localhost"}, "host=localhost port=5432"
	c.Databases["*"] = db
	return c
}
