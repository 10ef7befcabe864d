package gateway

import (
	"fmt"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/policy"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
)

// This file is where the configuration becomes the settings of the
// components that serve it: admission, the throttle, the auth_query cache,
// and the pools (how they dial and log in, their sizes and timers). The
// TLS and credential files are loaded by buildState (state.go).

func admissionConfig(cfg *config.Config) policy.AdmissionConfig {
	g := &cfg.General
	return policy.AdmissionConfig{
		MaxConnPerAddr:     g.MaxClientConnPerAddr,
		RatePerAddr:        g.ClientConnectRatePerAddr,
		MaxUnauthenticated: g.MaxUnauthenticatedClients,
	}
}

func throttleConfig(cfg *config.Config) policy.ThrottleConfig {
	g := &cfg.General
	return policy.ThrottleConfig{
		Failures:   g.AuthThrottleFailures,
		Window:     g.AuthThrottleWindow,
		Lockout:    g.AuthThrottleLockout,
		LockoutMax: g.AuthThrottleLockoutMax,
	}
}

func authQueryCacheConfig(cfg *config.Config) authn.QueryCacheConfig {
	g := &cfg.General
	return authn.QueryCacheConfig{Size: g.AuthCacheSize, TTL: g.AuthCacheTTL, NegativeTTL: g.AuthNegativeCacheTTL}
}

// poolPlan derives how a pool makes servers (and a fingerprint of it, to
// tell on reload whether its servers must be recycled) and its settings.
func (g *Gateway) poolPlan(st *state, key pool.Key, db *config.Database, serverDB string, ps config.PoolSettings) (*pool.Dialer, pool.Settings, string) {
	gen := &st.cfg.General
	d := &pool.Dialer{
		Hosts:       db.Host,
		Port:        db.Port,
		RoundRobin:  db.LoadBalanceHosts == "round-robin",
		TLS:         st.serverTLS,
		Timeout:     gen.ServerConnectTimeout,
		UserTimeout: gen.TCPUserTimeout,
		Startup: map[string]string{
			"user":             key.User,
			"database":         serverDB,
			"client_encoding":  db.ClientEncoding,
			"DateStyle":        db.DateStyle,
			"TimeZone":         db.TimeZone,
			"application_name": db.ApplicationName,
		},
		ConnectQuery: db.ConnectQuery,
	}
	if len(d.Hosts) == 0 && gen.UnixSocketDir != "" {
		d.Hosts = []string{gen.UnixSocketDir}
	}
	set := pool.Settings{
		Size:           ps.Size,
		MinSize:        ps.MinSize,
		ReserveSize:    ps.ReserveSize,
		ReserveTimeout: ps.ReserveTimeout,
		Lifetime:       ps.ServerLifetime,
		IdleTimeout:    ps.ServerIdleTimeout,
		LoginRetry:     gen.ServerLoginRetry,
		WaitTimeout:    ps.QueryWaitTimeout,
		CheckQuery:     gen.ServerCheckQuery,
		CheckDelay:     gen.ServerCheckDelay,
		CheckDisabled:  gen.ServerCheckDisabled,
		LogConnections: gen.LogConnections,
	}
	if ps.Mode == config.PoolSession || gen.ServerResetQueryAlways {
		set.ResetQuery = gen.ServerResetQuery
	}
	t := gen.ServerTLS
	fp := fmt.Sprintf("%q %d %v %q %q %q %q %q %q %q %s %q %q %q %q", d.Hosts, d.Port, d.RoundRobin, serverDB,
		db.ClientEncoding, db.DateStyle, db.TimeZone, db.ApplicationName, db.ConnectQuery, db.Password,
		t.SSLMode, t.CAFile, t.CertFile, t.KeyFile, t.Protocols+"/"+t.Ciphers)
	return d, set, fp
}

// authPoolPlan is how a pool auth_query runs on makes its servers: logged
// in as authUser to serverDB on db's hosts, with no client parameter, and
// its small size and timers.
func authPoolPlan(st *state, db *config.Database, authUser, serverDB string) (*pool.Dialer, pool.Settings) {
	gen := &st.cfg.General
	d := &pool.Dialer{
		Hosts:       db.Host,
		Port:        db.Port,
		TLS:         st.serverTLS,
		Timeout:     gen.ServerConnectTimeout,
		UserTimeout: gen.TCPUserTimeout,
		Startup:     map[string]string{"user": authUser, "database": serverDB, "application_name": "pgbun auth_query"},
	}
	if len(d.Hosts) == 0 && gen.UnixSocketDir != "" {
		d.Hosts = []string{gen.UnixSocketDir}
	}
	set := pool.Settings{Size: 2, Lifetime: gen.ServerLifetime, IdleTimeout: gen.ServerIdleTimeout, LoginRetry: gen.ServerLoginRetry}
	return d, set
}

// sessionConfig is how a client routed by rt runs once logged in.
func sessionConfig(st *state, rt *route) *session.Config {
	g := &st.cfg.General
	return &session.Config{
		Pool:        rt.pool,
		Stats:       rt.stats,
		Settings:    rt.settings,
		MaxPacket:   g.MaxPacketSize,
		MaxPrepared: g.MaxPreparedStatements,
		Tracked:     g.TrackExtraParameters,
		FastClose:   g.ServerFastClose,
		CancelWait:  g.CancelWaitTimeout,
	}
}
