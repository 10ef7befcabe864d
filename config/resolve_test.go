package config

import (
	"testing"
	"time"
)

const poolConfig = `
[pgbouncer]
pool_mode = session
default_pool_size = 20
min_pool_size = 4
reserve_pool_size = 2
reserve_pool_timeout = 3
max_db_connections = 100
max_user_connections = 50
max_db_client_connections = 1000
max_user_client_connections = 500
server_lifetime = 3600
server_idle_timeout = 600
query_timeout = 30
idle_transaction_timeout = 60
transaction_timeout = 120
client_idle_timeout = 900
query_wait_timeout = 120

[databases]
plain = host=db
tuned = host=db pool_mode=transaction pool_size=8 min_pool_size=1 reserve_pool_size=3 max_db_connections=9 max_db_client_connections=90 server_lifetime=60 query_wait_timeout=5
zeroes = host=db pool_size=0 max_db_connections=0 server_lifetime=0
forced = host=db user=svc pool_size=8
tiny = host=db pool_size=2 min_pool_size=5
* = host=fallback pool_size=11

[users]
alice = pool_mode=statement pool_size=3 reserve_pool_size=0 max_user_connections=5 max_user_client_connections=7 query_timeout=1 idle_transaction_timeout=2 transaction_timeout=3 client_idle_timeout=4 query_wait_timeout=6
zero = pool_size=0 max_user_connections=0 query_timeout=0
svc = pool_mode=transaction pool_size=6
`

func TestPoolPrecedence(t *testing.T) {
	cfg := parseString(t, poolConfig)
	global := PoolSettings{
		Mode: PoolSession, Size: 20, MinSize: 4, ReserveSize: 2, ReserveTimeout: 3 * time.Second,
		MaxDBConnections: 100, MaxUserConnections: 50, MaxDBClientConns: 1000, MaxUserClientConns: 500,
		ServerLifetime: time.Hour, ServerIdleTimeout: 10 * time.Minute,
		QueryTimeout: 30 * time.Second, IdleTransactionTimeout: time.Minute,
		TransactionTimeout: 2 * time.Minute, ClientIdleTimeout: 15 * time.Minute,
		QueryWaitTimeout: 2 * time.Minute,
	}
	with := func(f func(*PoolSettings)) PoolSettings { ps := global; f(&ps); return ps }
	cases := []struct {
		name, db, user string
		want           PoolSettings
	}{
		{"no entries: globals", "plain", "nobody", global},
		{"nil database: globals", "", "nobody", global},
		{"database overrides globals", "tuned", "nobody", with(func(p *PoolSettings) {
			p.Mode, p.Size, p.MinSize, p.ReserveSize = PoolTransaction, 8, 1, 3
			p.MaxDBConnections, p.MaxDBClientConns, p.ServerLifetime = 9, 90, time.Minute
			p.QueryWaitTimeout = 5 * time.Second
		})},
		{"user overrides database", "tuned", "alice", with(func(p *PoolSettings) {
			p.Mode, p.Size, p.MinSize, p.ReserveSize = PoolStatement, 3, 1, 0
			p.MaxDBConnections, p.MaxDBClientConns, p.ServerLifetime = 9, 90, time.Minute
			p.MaxUserConnections, p.MaxUserClientConns = 5, 7
			p.QueryTimeout, p.IdleTransactionTimeout = time.Second, 2*time.Second
			p.TransactionTimeout, p.ClientIdleTimeout = 3*time.Second, 4*time.Second
			p.QueryWaitTimeout = 6 * time.Second
		})},
		{"zero pool size is a size, zero limits inherit", "zeroes", "zero", with(func(p *PoolSettings) {
			p.Size, p.MinSize = 0, 0
		})},
		{"forced user's entry applies", "forced", "alice", with(func(p *PoolSettings) {
			p.Mode, p.Size = PoolTransaction, 6
		})},
		{"min_pool_size capped at the pool size", "tiny", "nobody", with(func(p *PoolSettings) {
			p.Size, p.MinSize = 2, 2
		})},
		{"fallback database settings", "unlisted", "nobody", with(func(p *PoolSettings) { p.Size = 11 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var db *Database
			if c.db != "" {
				var ok bool
				if db, ok = cfg.Database(c.db); !ok {
					t.Fatalf("Database(%q) not found", c.db)
				}
			}
			if got := cfg.Pool(db, c.user); got != c.want {
				t.Errorf("Pool(%s, %s) =\n%+v\nwant\n%+v", c.db, c.user, got, c.want)
			}
		})
	}
}

func TestDatabaseLookup(t *testing.T) {
	withFallback := parseString(t, "[pgbouncer]\n[databases]\napp = host=a\n* = host=any\n")
	without := parseString(t, "[pgbouncer]\n[databases]\napp = host=a\n")
	cases := []struct {
		cfg    *Config
		name   string
		want   string // Name of the entry found, "" for none
		wantOK bool
	}{
		{withFallback, "app", "app", true},
		{withFallback, "other", "*", true},
		{withFallback, "App", "*", true}, // names are case-sensitive
		{withFallback, "pgbouncer", "", false},
		{withFallback, "pgbun", "", false},
		{without, "app", "app", true},
		{without, "other", "", false},
		{without, "", "", false},
	}
	for _, c := range cases {
		db, ok := c.cfg.Database(c.name)
		got := ""
		if db != nil {
			got = db.Name
		}
		if ok != c.wantOK || got != c.want {
			t.Errorf("Database(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.wantOK)
		}
	}
	db, _ := withFallback.Database("other")
	if db.DBName != "" {
		t.Errorf("fallback DBName = %q, want \"\" (the client's name)", db.DBName)
	}
}

func TestIsReloadable(t *testing.T) {
	fixed := []string{"listen_addr", "listen_port", "unix_socket_dir", "unix_socket_mode", "unix_socket_group",
		"listen_backlog", "pidfile", "so_reuseport", "user", "pkt_buf", "service_name", "job_name"}
	for _, k := range fixed {
		if IsReloadable(k) {
			t.Errorf("IsReloadable(%q) = true", k)
		}
	}
	for _, k := range []string{"pool_mode", "default_pool_size", "auth_file", "client_tls_cert_file", "logfile", "no_such_key"} {
		if !IsReloadable(k) {
			t.Errorf("IsReloadable(%q) = false", k)
		}
	}
}
