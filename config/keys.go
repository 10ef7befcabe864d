package config

import (
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// setting describes one [pgbouncer] key: how to read it into General, how
// to write it back, PgBouncer's default, how reloads treat it, and whether
// pgbun acts on it.
type setting struct {
	name  string
	def   string // PgBouncer's default, in ini syntax
	parse func(g *General, v string) error
	fmt   func(g *General) string
	// supported: the running process acts on the key. Any other key is
	// read, checked and kept, but setting it draws a warning.
	supported bool
	// keep: PgBouncer has no default for the key, so a repeated
	// [pgbouncer] header does not reset it.
	keep bool
	// noReload: a running process keeps the old value on reload.
	noReload bool
	// alias names the key this one is another spelling of.
	alias string
	// secret: the effective value is shown redacted.
	redact func(string) string
}

// defaultAuthQuery is PgBouncer's default query, schema-qualified so that
// nothing in the auth_user's search_path can stand in for pg_authid,
// now() or the = operator.
const defaultAuthQuery = "SELECT rolname, CASE WHEN rolvaliduntil < pg_catalog.now() THEN NULL ELSE rolpassword END FROM pg_catalog.pg_authid WHERE rolname OPERATOR(pg_catalog.=) $1 AND rolcanlogin"

// settings is every [pgbouncer] key PgBouncer documents (1.25 and the
// keys added since), with PgBouncer's defaults, and pgbun's own keys.
// pgbun departs from PgBouncer's defaults only for names that are the
// program's own (job_name, syslog_ident). The keys the runtime acts on are
// wrapped in supported; docs/configuration.md gives each key's status and
// keys_test.go holds the two together.
var settings = []setting{
	// pgbun's own: certificates from ACME.
	supported(noReload(listKey("acme_domains", "", func(g *General) *[]string { return &g.ACME.Domains }))),
	supported(noReload(strKey("acme_email", "", func(g *General) *string { return &g.ACME.Email }))),
	supported(noReload(strKey("acme_ca", "https://acme-v02.api.letsencrypt.org/directory", func(g *General) *string { return &g.ACME.CA }))),
	supported(noReload(strKey("acme_ca_root", "", func(g *General) *string { return &g.ACME.CARoot }))),
	supported(noReload(strKey("acme_storage", "/var/lib/pgbun/acme", func(g *General) *string { return &g.ACME.Storage }))),
	supported(noReload(enumKey("acme_challenge", "tls-alpn-01", []string{"tls-alpn-01", "http-01"}, func(g *General) *string { return &g.ACME.Challenge }))),
	supported(noReload(strKey("acme_http_listen", "", func(g *General) *string { return &g.ACME.HTTPListen }))),
	supported(noReload(floatKey("acme_renew_ratio", "0.33", 0.01, 0.99, func(g *General) *float64 { return &g.ACME.RenewRatio }))),
	supported(noReload(listKey("acme_on_demand_allow", "", func(g *General) *[]string { return &g.ACME.OnDemandAllow }))),
	supported(noReload(intKey("acme_tls_alpn_port", "443", 1, 65535, func(g *General) *int { return &g.ACME.TLSALPNPort }))),
	supported(noReload(durKey("acme_renew_check_interval", "600", time.Second, func(g *General) *time.Duration { return &g.ACME.CheckInterval }))),
	supported(noReload(boolKey("acme_ari", "1", func(g *General) *bool { return &g.ACME.ARI }))),
	// pgbun's own: edge defence.
	supported(boolKey("client_tls_sni_required", "0", func(g *General) *bool { return &g.ClientTLS.SNIRequired })),
	supported(pairListKey("client_tls_sni_certs", "", func(g *General) *[]string { return &g.ClientTLS.ExtraCerts })),
	supported(intKey("auth_throttle_failures", "5", 0, math.MaxInt32, func(g *General) *int { return &g.AuthThrottleFailures })),
	supported(durKey("auth_throttle_window", "60", time.Second, func(g *General) *time.Duration { return &g.AuthThrottleWindow })),
	supported(durKey("auth_throttle_lockout", "30", time.Second, func(g *General) *time.Duration { return &g.AuthThrottleLockout })),
	supported(durKey("auth_throttle_lockout_max", "3600", time.Second, func(g *General) *time.Duration { return &g.AuthThrottleLockoutMax })),
	supported(intKey("max_client_conn_per_addr", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxClientConnPerAddr })),
	supported(floatKey("client_connect_rate_per_addr", "0", 0, 1e9, func(g *General) *float64 { return &g.ClientConnectRatePerAddr })),
	supported(intKey("max_unauthenticated_clients", "1000", 0, math.MaxInt32, func(g *General) *int { return &g.MaxUnauthenticatedClients })),
	supported(noReload(strKey("audit_log", "", func(g *General) *string { return &g.AuditLog }))),
	supported(noReload(strKey("metrics_listen", "", func(g *General) *string { return &g.MetricsListen }))),
	supported(noReload(enumKey("log_format", "text", []string{"text", "json"}, func(g *General) *string { return &g.LogFormat }))),
	supported(listKey("admin_users", "", func(g *General) *[]string { return &g.AdminUsers })),
	supported(boolKey("application_name_add_host", "0", func(g *General) *bool { return &g.ApplicationNameAddHost })),
	supported(keep(strKey("auth_dbname", "", func(g *General) *string { return &g.AuthDBName }))),
	supported(keep(strKey("auth_file", "", func(g *General) *string { return &g.AuthFile }))),
	supported(strKey("auth_hba_file", "", func(g *General) *string { return &g.AuthHBAFile })),
	supported(keep(strKey("auth_ident_file", "", func(g *General) *string { return &g.AuthIdentFile }))),
	withRedact(keep(strKey("auth_ldap_options", "", func(g *General) *string { return &g.AuthLDAPOptions })), redactLDAPOptions),
	supported(strKey("auth_query", defaultAuthQuery, func(g *General) *string { return &g.AuthQuery })),
	supported(intKey("auth_cache_size", "10000", 1, math.MaxInt32, func(g *General) *int { return &g.AuthCacheSize })),
	supported(durKey("auth_cache_ttl", "60", time.Second, func(g *General) *time.Duration { return &g.AuthCacheTTL })),
	supported(durKey("auth_negative_cache_ttl", "5", time.Second, func(g *General) *time.Duration { return &g.AuthNegativeCacheTTL })),
	supported(authTypeKey("auth_type", "md5")),
	supported(keep(strKey("auth_user", "", func(g *General) *string { return &g.AuthUser }))),
	supported(durKey("autodb_idle_timeout", "3600", time.Second, func(g *General) *time.Duration { return &g.AutodbIdleTimeout })),
	supported(durKey("cancel_wait_timeout", "10", time.Second, func(g *General) *time.Duration { return &g.CancelWaitTimeout })),
	supported(durKey("client_idle_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.ClientIdleTimeout })),
	supported(durKey("client_login_timeout", "60", time.Second, func(g *General) *time.Duration { return &g.ClientLoginTimeout })),
	keep(strKey("client_tls13_ciphers", "", func(g *General) *string { return &g.ClientTLS.TLS13Ciphers })),
	supported(strKey("client_tls_ca_file", "", func(g *General) *string { return &g.ClientTLS.CAFile })),
	supported(strKey("client_tls_cert_file", "", func(g *General) *string { return &g.ClientTLS.CertFile })),
	supported(strKey("client_tls_ciphers", "default", func(g *General) *string { return &g.ClientTLS.Ciphers })),
	strKey("client_tls_dheparams", "auto", func(g *General) *string { return &g.ClientTLS.DHEParams }),
	strKey("client_tls_ecdhcurve", "auto", func(g *General) *string { return &g.ClientTLS.ECDHCurve }),
	supported(strKey("client_tls_key_file", "", func(g *General) *string { return &g.ClientTLS.KeyFile })),
	supported(protocolsKey("client_tls_protocols", func(g *General) *string { return &g.ClientTLS.Protocols })),
	supported(sslModeKey("client_tls_sslmode", "disable", func(g *General) *SSLMode { return &g.ClientTLS.SSLMode })),
	keep(strKey("conffile", "", func(g *General) *string { return &g.Conffile })),
	supported(intKey("default_pool_size", "20", 0, math.MaxInt32, func(g *General) *int { return &g.DefaultPoolSize })),
	noReload(boolKey("disable_pqexec", "0", func(g *General) *bool { return &g.DisablePQExec })),
	durKey("dns_max_ttl", "15", time.Second, func(g *General) *time.Duration { return &g.DNSMaxTTL }),
	durKey("dns_nxdomain_ttl", "15", time.Second, func(g *General) *time.Duration { return &g.DNSNXDomainTTL }),
	durKey("dns_zone_check_period", "0", time.Second, func(g *General) *time.Duration { return &g.DNSZoneCheckPeriod }),
	supported(durKey("idle_transaction_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.IdleTransactionTimeout })),
	supported(listKey("ignore_startup_parameters", "", func(g *General) *[]string { return &g.IgnoreStartupParameters })),
	noReload(strKey("job_name", "pgbun", func(g *General) *string { return &g.JobName })),
	supported(noReload(listKey("listen_addr", "", func(g *General) *[]string { return &g.ListenAddr }))),
	noReload(intKey("listen_backlog", "128", 0, math.MaxInt32, func(g *General) *int { return &g.ListenBacklog })),
	supported(noReload(intKey("listen_port", "6432", 1, 65535, func(g *General) *int { return &g.ListenPort }))),
	supported(boolKey("log_connections", "1", func(g *General) *bool { return &g.LogConnections })),
	supported(boolKey("log_disconnections", "1", func(g *General) *bool { return &g.LogDisconnections })),
	supported(boolKey("log_pooler_errors", "1", func(g *General) *bool { return &g.LogPoolerErrors })),
	supported(boolKey("log_stats", "1", func(g *General) *bool { return &g.LogStats })),
	supported(strKey("logfile", "", func(g *General) *string { return &g.Logfile })),
	strKey("login_notify_message", "", func(g *General) *string { return &g.LoginNotifyMessage }),
	supported(intKey("max_client_conn", "100", 0, math.MaxInt32, func(g *General) *int { return &g.MaxClientConn })),
	supported(intKey("max_db_client_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxDBClientConnections })),
	supported(intKey("max_db_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxDBConnections })),
	supported(intKey("max_packet_size", "2147483647", 0, math.MaxUint32, func(g *General) *int { return &g.MaxPacketSize })),
	supported(intKey("max_prepared_statements", "200", 0, math.MaxInt32, func(g *General) *int { return &g.MaxPreparedStatements })),
	supported(intKey("max_user_client_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxUserClientConns })),
	supported(intKey("max_user_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxUserConnections })),
	supported(intKey("min_pool_size", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MinPoolSize })),
	// Cancel keys carry the peer id in 14 bits.
	supported(intKey("peer_id", "0", 0, 16383, func(g *General) *int { return &g.PeerID })),
	supported(noReload(strKey("pidfile", "", func(g *General) *string { return &g.Pidfile }))),
	noReload(intKey("pkt_buf", "4096", 1, math.MaxInt32, func(g *General) *int { return &g.PktBuf })),
	supported(durKey("pool_idle_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.PoolIdleTimeout })),
	supported(poolModeKey("pool_mode", "session")),
	supported(durKey("query_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.QueryTimeout })),
	durKey("query_wait_notify", "5", time.Second, func(g *General) *time.Duration { return &g.QueryWaitNotify }),
	supported(durKey("query_wait_timeout", "120", time.Second, func(g *General) *time.Duration { return &g.QueryWaitTimeout })),
	supported(intKey("reserve_pool_size", "0", 0, math.MaxInt32, func(g *General) *int { return &g.ReservePoolSize })),
	supported(durKey("reserve_pool_timeout", "5", time.Second, func(g *General) *time.Duration { return &g.ReservePoolTimeout })),
	noReload(strKey("resolv_conf", "", func(g *General) *string { return &g.ResolvConf })),
	intKey("sbuf_loopcnt", "5", 0, math.MaxInt32, func(g *General) *int { return &g.SBufLoopcnt }),
	intKey("scram_iterations", "4096", 1, math.MaxInt32, func(g *General) *int { return &g.ScramIterations }),
	supported(durKey("server_check_delay", "30", time.Second, func(g *General) *time.Duration { return &g.ServerCheckDelay })),
	supported(checkQueryKey("server_check_query", "<empty>")),
	supported(durKey("server_connect_timeout", "15", time.Second, func(g *General) *time.Duration { return &g.ServerConnectTimeout })),
	supported(boolKey("server_fast_close", "0", func(g *General) *bool { return &g.ServerFastClose })),
	supported(durKey("server_idle_timeout", "600", time.Second, func(g *General) *time.Duration { return &g.ServerIdleTimeout })),
	supported(durKey("server_lifetime", "3600", time.Second, func(g *General) *time.Duration { return &g.ServerLifetime })),
	supported(durKey("server_login_retry", "15", time.Second, func(g *General) *time.Duration { return &g.ServerLoginRetry })),
	supported(strKey("server_reset_query", "DISCARD ALL", func(g *General) *string { return &g.ServerResetQuery })),
	supported(boolKey("server_reset_query_always", "0", func(g *General) *bool { return &g.ServerResetQueryAlways })),
	boolKey("server_round_robin", "0", func(g *General) *bool { return &g.ServerRoundRobin }),
	keep(strKey("server_tls13_ciphers", "", func(g *General) *string { return &g.ServerTLS.TLS13Ciphers })),
	supported(strKey("server_tls_ca_file", "", func(g *General) *string { return &g.ServerTLS.CAFile })),
	supported(strKey("server_tls_cert_file", "", func(g *General) *string { return &g.ServerTLS.CertFile })),
	supported(strKey("server_tls_ciphers", "default", func(g *General) *string { return &g.ServerTLS.Ciphers })),
	supported(strKey("server_tls_key_file", "", func(g *General) *string { return &g.ServerTLS.KeyFile })),
	supported(protocolsKey("server_tls_protocols", func(g *General) *string { return &g.ServerTLS.Protocols })),
	supported(sslModeKey("server_tls_sslmode", "prefer", func(g *General) *SSLMode { return &g.ServerTLS.SSLMode })),
	aliasKey("service_name", "job_name"),
	supported(noReload(boolKey("so_reuseport", "0", func(g *General) *bool { return &g.SoReuseport }))),
	supported(durKey("stats_period", "60", time.Second, func(g *General) *time.Duration { return &g.StatsPeriod })),
	supported(listKey("stats_users", "", func(g *General) *[]string { return &g.StatsUsers })),
	durKey("suspend_timeout", "10", time.Second, func(g *General) *time.Duration { return &g.SuspendTimeout }),
	boolKey("syslog", "0", func(g *General) *bool { return &g.Syslog }),
	strKey("syslog_facility", "daemon", func(g *General) *string { return &g.SyslogFacility }),
	strKey("syslog_ident", "pgbun", func(g *General) *string { return &g.SyslogIdent }),
	boolKey("tcp_defer_accept", "1", func(g *General) *bool { return &g.TCPDeferAccept }),
	supported(boolKey("tcp_keepalive", "1", func(g *General) *bool { return &g.TCPKeepalive })),
	supported(intKey("tcp_keepcnt", "0", 0, math.MaxInt32, func(g *General) *int { return &g.TCPKeepCnt })),
	supported(durKey("tcp_keepidle", "0", time.Second, func(g *General) *time.Duration { return &g.TCPKeepIdle })),
	supported(durKey("tcp_keepintvl", "0", time.Second, func(g *General) *time.Duration { return &g.TCPKeepIntvl })),
	intKey("tcp_socket_buffer", "0", 0, math.MaxInt32, func(g *General) *int { return &g.TCPSocketBuffer }),
	// PgBouncer passes tcp_user_timeout to TCP_USER_TIMEOUT in milliseconds.
	supported(durKey("tcp_user_timeout", "0", time.Millisecond, func(g *General) *time.Duration { return &g.TCPUserTimeout })),
	supported(noReload(listKey("track_extra_parameters", "IntervalStyle", func(g *General) *[]string { return &g.TrackExtraParameters }))),
	supported(durKey("transaction_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.TransactionTimeout })),
	supported(noReload(strKey("unix_socket_dir", "/tmp", func(g *General) *string { return &g.UnixSocketDir }))),
	supported(noReload(strKey("unix_socket_group", "", func(g *General) *string { return &g.UnixSocketGroup }))),
	supported(noReload(modeKey("unix_socket_mode", "0777", func(g *General) *os.FileMode { return &g.UnixSocketMode }))),
	supported(keep(noReload(strKey("user", "", func(g *General) *string { return &g.User })))),
	supported(keep(intKey("verbose", "0", 0, math.MaxInt32, func(g *General) *int { return &g.Verbose }))),
}

var (
	settingByName  = map[string]*setting{}
	settingByLower = map[string]string{}
	settingNames   []string // canonical names (no aliases), sorted
)

func init() {
	for i := range settings {
		s := &settings[i]
		settingByName[s.name] = s
		settingByLower[strings.ToLower(s.name)] = s.name
		if s.alias == "" {
			settingNames = append(settingNames, s.name)
		}
	}
	for i := range settings {
		s := &settings[i]
		if s.alias != "" {
			target := settingByName[s.alias]
			s.parse, s.fmt, s.noReload, s.keep, s.supported = target.parse, target.fmt, target.noReload, target.keep, target.supported
		}
	}
	sort.Strings(settingNames)
}

// canonicalName maps an alias to the key it stands for.
func canonicalName(s *setting) string {
	if s.alias != "" {
		return s.alias
	}
	return s.name
}

// IsReloadable reports whether a running process applies a new value of
// the [pgbouncer] key on reload. As in PgBouncer, the listening sockets,
// pidfile, user, pkt_buf, resolv_conf, disable_pqexec, job_name and
// track_extra_parameters are fixed at start. Keys it does not know, and
// [databases]/[users]/[peers] entries, reload.
func IsReloadable(key string) bool {
	s, ok := settingByName[key]
	return !ok || !s.noReload
}

// applyDefaults sets every [pgbouncer] key to its default.
func applyDefaults(g *General) {
	for i := range settings {
		s := &settings[i]
		if s.alias != "" {
			continue
		}
		if err := s.parse(g, s.def); err != nil {
			panic("config: bad default for " + s.name + ": " + err.Error())
		}
	}
}
