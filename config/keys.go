package config

import (
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// setting describes one [pgbouncer] key: how to read it into General, how
// to write it back, PgBouncer's default, and how reloads treat it.
type setting struct {
	name  string
	def   string // PgBouncer's default, in ini syntax
	parse func(g *General, v string) error
	fmt   func(g *General) string
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

// implemented lists the settings the runtime acts on; every other setting
// PgBouncer knows is read and validated but draws a warning. [databases],
// [users] and [peers] keys are qualified with their section.
var implemented = map[string]bool{
	"listen_addr": true, "listen_port": true, "unix_socket_dir": true, "unix_socket_mode": true,
	"unix_socket_group": true, "user": true, "auth_type": true,
	"auth_file": true, "pool_mode": true, "max_client_conn": true, "default_pool_size": true,
	"min_pool_size": true, "server_reset_query": true, "server_reset_query_always": true,
	"server_lifetime": true, "server_idle_timeout": true, "server_connect_timeout": true,
	"server_login_retry": true, "client_login_timeout": true, "query_wait_timeout": true,
	"ignore_startup_parameters": true, "application_name_add_host": true, "logfile": true,
	"pidfile": true, "client_tls_sslmode": true,
	"client_tls_key_file": true, "client_tls_cert_file": true, "client_tls_ca_file": true,
	"client_tls_protocols": true, "client_tls_ciphers": true, "server_tls_sslmode": true,
	"server_tls_ca_file": true, "server_tls_key_file": true, "server_tls_cert_file": true,
	"server_tls_protocols": true, "server_tls_ciphers": true, "max_packet_size": true,
	"tcp_keepalive": true, "tcp_keepidle": true, "tcp_keepintvl": true, "tcp_keepcnt": true,
	"tcp_user_timeout": true, "verbose": true, "log_connections": true,
	"log_disconnections": true, "log_pooler_errors": true,
	"cancel_wait_timeout": true,

	"databases.dbname": true, "databases.host": true, "databases.port": true,
	"databases.user": true, "databases.password": true, "databases.pool_size": true,
	"databases.min_pool_size": true, "databases.server_lifetime": true,
	"databases.pool_mode": true, "databases.connect_query": true,
	"databases.load_balance_hosts": true, "databases.client_encoding": true,
	"databases.datestyle": true, "databases.timezone": true, "databases.application_name": true,

	"users.pool_mode": true, "users.pool_size": true,
	"auth_user":                           true,
	"auth_query":                          true,
	"auth_dbname":                         true,
	"auth_cache_size":                     true,
	"auth_cache_ttl":                      true,
	"auth_negative_cache_ttl":             true,
	"max_prepared_statements":             true,
	"track_extra_parameters":              true,
	"reserve_pool_size":                   true,
	"reserve_pool_timeout":                true,
	"max_db_connections":                  true,
	"max_user_connections":                true,
	"max_db_client_connections":           true,
	"max_user_client_connections":         true,
	"server_check_query":                  true,
	"server_check_delay":                  true,
	"client_idle_timeout":                 true,
	"idle_transaction_timeout":            true,
	"transaction_timeout":                 true,
	"query_timeout":                       true,
	"databases.auth_user":                 true,
	"databases.auth_query":                true,
	"databases.auth_dbname":               true,
	"databases.reserve_pool_size":         true,
	"databases.max_db_connections":        true,
	"databases.max_db_client_connections": true,
	"users.reserve_pool_size":             true,
	"users.max_user_connections":          true,
	"users.max_user_client_connections":   true,
	"users.query_timeout":                 true,
	"users.idle_transaction_timeout":      true,
	"users.transaction_timeout":           true,
	"users.client_idle_timeout":           true,
	"acme_domains":                        true,
	"acme_email":                          true,
	"acme_ca":                             true,
	"acme_ca_root":                        true,
	"acme_storage":                        true,
	"acme_challenge":                      true,
	"acme_http_listen":                    true,
	"acme_renew_ratio":                    true,
	"acme_on_demand_allow":                true,
	"client_tls_sni_required":             true,
	"auth_throttle_failures":              true,
	"auth_throttle_window":                true,
	"auth_throttle_lockout":               true,
	"auth_throttle_lockout_max":           true,
	"max_client_conn_per_addr":            true,
	"client_connect_rate_per_addr":        true,
	"max_unauthenticated_clients":         true,
	"audit_log":                           true,
	"auth_hba_file":                       true,
	"auth_ident_file":                     true,
	"databases.sni":                       true,
	"acme_tls_alpn_port":                  true,
	"acme_renew_check_interval":           true,
	"acme_ari":                            true,
	"metrics_listen":                      true,
	"log_format":                          true,
	"stats_period":                        true,
	"log_stats":                           true,
	"admin_users":                         true,
	"stats_users":                         true,
	"peer_id":                             true,
	"peers.host":                          true,
	"peers.port":                          true,
	"peers.pool_size":                     true,
	"client_tls_sni_certs":                true,
	"server_fast_close":                   true,
	"autodb_idle_timeout":                 true,
	"pool_idle_timeout":                   true,
}

// defaultAuthQuery is PgBouncer's default query, schema-qualified so that
// nothing in the auth_user's search_path can stand in for pg_authid,
// now() or the = operator.
const defaultAuthQuery = "SELECT rolname, CASE WHEN rolvaliduntil < pg_catalog.now() THEN NULL ELSE rolpassword END FROM pg_catalog.pg_authid WHERE rolname OPERATOR(pg_catalog.=) $1 AND rolcanlogin"

// settings is every [pgbouncer] key PgBouncer documents (1.25 and the
// keys added since), with PgBouncer's defaults. pgbun departs from them
// only for names that are the program's own (job_name, syslog_ident).
var settings = []setting{
	// pgbun's own: certificates from ACME.
	noReload(listKey("acme_domains", "", func(g *General) *[]string { return &g.ACME.Domains })),
	noReload(strKey("acme_email", "", func(g *General) *string { return &g.ACME.Email })),
	noReload(strKey("acme_ca", "https://acme-v02.api.letsencrypt.org/directory", func(g *General) *string { return &g.ACME.CA })),
	noReload(strKey("acme_ca_root", "", func(g *General) *string { return &g.ACME.CARoot })),
	noReload(strKey("acme_storage", "/var/lib/pgbun/acme", func(g *General) *string { return &g.ACME.Storage })),
	noReload(enumKey("acme_challenge", "tls-alpn-01", []string{"tls-alpn-01", "http-01"}, func(g *General) *string { return &g.ACME.Challenge })),
	noReload(strKey("acme_http_listen", "", func(g *General) *string { return &g.ACME.HTTPListen })),
	noReload(floatKey("acme_renew_ratio", "0.33", 0.01, 0.99, func(g *General) *float64 { return &g.ACME.RenewRatio })),
	noReload(listKey("acme_on_demand_allow", "", func(g *General) *[]string { return &g.ACME.OnDemandAllow })),
	noReload(intKey("acme_tls_alpn_port", "443", 1, 65535, func(g *General) *int { return &g.ACME.TLSALPNPort })),
	noReload(durKey("acme_renew_check_interval", "600", time.Second, func(g *General) *time.Duration { return &g.ACME.CheckInterval })),
	noReload(boolKey("acme_ari", "1", func(g *General) *bool { return &g.ACME.ARI })),
	// pgbun's own: edge defence.
	boolKey("client_tls_sni_required", "0", func(g *General) *bool { return &g.ClientTLS.SNIRequired }),
	pairListKey("client_tls_sni_certs", "", func(g *General) *[]string { return &g.ClientTLS.ExtraCerts }),
	intKey("auth_throttle_failures", "5", 0, math.MaxInt32, func(g *General) *int { return &g.AuthThrottleFailures }),
	durKey("auth_throttle_window", "60", time.Second, func(g *General) *time.Duration { return &g.AuthThrottleWindow }),
	durKey("auth_throttle_lockout", "30", time.Second, func(g *General) *time.Duration { return &g.AuthThrottleLockout }),
	durKey("auth_throttle_lockout_max", "3600", time.Second, func(g *General) *time.Duration { return &g.AuthThrottleLockoutMax }),
	intKey("max_client_conn_per_addr", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxClientConnPerAddr }),
	floatKey("client_connect_rate_per_addr", "0", 0, 1e9, func(g *General) *float64 { return &g.ClientConnectRatePerAddr }),
	intKey("max_unauthenticated_clients", "1000", 0, math.MaxInt32, func(g *General) *int { return &g.MaxUnauthenticatedClients }),
	noReload(strKey("audit_log", "", func(g *General) *string { return &g.AuditLog })),
	noReload(strKey("metrics_listen", "", func(g *General) *string { return &g.MetricsListen })),
	noReload(enumKey("log_format", "text", []string{"text", "json"}, func(g *General) *string { return &g.LogFormat })),
	listKey("admin_users", "", func(g *General) *[]string { return &g.AdminUsers }),
	boolKey("application_name_add_host", "0", func(g *General) *bool { return &g.ApplicationNameAddHost }),
	keep(strKey("auth_dbname", "", func(g *General) *string { return &g.AuthDBName })),
	keep(strKey("auth_file", "", func(g *General) *string { return &g.AuthFile })),
	strKey("auth_hba_file", "", func(g *General) *string { return &g.AuthHBAFile }),
	keep(strKey("auth_ident_file", "", func(g *General) *string { return &g.AuthIdentFile })),
	withRedact(keep(strKey("auth_ldap_options", "", func(g *General) *string { return &g.AuthLDAPOptions })), redactLDAPOptions),
	strKey("auth_query", defaultAuthQuery, func(g *General) *string { return &g.AuthQuery }),
	intKey("auth_cache_size", "10000", 1, math.MaxInt32, func(g *General) *int { return &g.AuthCacheSize }),
	durKey("auth_cache_ttl", "60", time.Second, func(g *General) *time.Duration { return &g.AuthCacheTTL }),
	durKey("auth_negative_cache_ttl", "5", time.Second, func(g *General) *time.Duration { return &g.AuthNegativeCacheTTL }),
	authTypeKey("auth_type", "md5"),
	keep(strKey("auth_user", "", func(g *General) *string { return &g.AuthUser })),
	durKey("autodb_idle_timeout", "3600", time.Second, func(g *General) *time.Duration { return &g.AutodbIdleTimeout }),
	durKey("cancel_wait_timeout", "10", time.Second, func(g *General) *time.Duration { return &g.CancelWaitTimeout }),
	durKey("client_idle_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.ClientIdleTimeout }),
	durKey("client_login_timeout", "60", time.Second, func(g *General) *time.Duration { return &g.ClientLoginTimeout }),
	keep(strKey("client_tls13_ciphers", "", func(g *General) *string { return &g.ClientTLS.TLS13Ciphers })),
	strKey("client_tls_ca_file", "", func(g *General) *string { return &g.ClientTLS.CAFile }),
	strKey("client_tls_cert_file", "", func(g *General) *string { return &g.ClientTLS.CertFile }),
	strKey("client_tls_ciphers", "default", func(g *General) *string { return &g.ClientTLS.Ciphers }),
	strKey("client_tls_dheparams", "auto", func(g *General) *string { return &g.ClientTLS.DHEParams }),
	strKey("client_tls_ecdhcurve", "auto", func(g *General) *string { return &g.ClientTLS.ECDHCurve }),
	strKey("client_tls_key_file", "", func(g *General) *string { return &g.ClientTLS.KeyFile }),
	protocolsKey("client_tls_protocols", func(g *General) *string { return &g.ClientTLS.Protocols }),
	sslModeKey("client_tls_sslmode", "disable", func(g *General) *SSLMode { return &g.ClientTLS.SSLMode }),
	keep(strKey("conffile", "", func(g *General) *string { return &g.Conffile })),
	intKey("default_pool_size", "20", 0, math.MaxInt32, func(g *General) *int { return &g.DefaultPoolSize }),
	noReload(boolKey("disable_pqexec", "0", func(g *General) *bool { return &g.DisablePQExec })),
	durKey("dns_max_ttl", "15", time.Second, func(g *General) *time.Duration { return &g.DNSMaxTTL }),
	durKey("dns_nxdomain_ttl", "15", time.Second, func(g *General) *time.Duration { return &g.DNSNXDomainTTL }),
	durKey("dns_zone_check_period", "0", time.Second, func(g *General) *time.Duration { return &g.DNSZoneCheckPeriod }),
	durKey("idle_transaction_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.IdleTransactionTimeout }),
	listKey("ignore_startup_parameters", "", func(g *General) *[]string { return &g.IgnoreStartupParameters }),
	noReload(strKey("job_name", "pgbun", func(g *General) *string { return &g.JobName })),
	noReload(listKey("listen_addr", "", func(g *General) *[]string { return &g.ListenAddr })),
	noReload(intKey("listen_backlog", "128", 0, math.MaxInt32, func(g *General) *int { return &g.ListenBacklog })),
	noReload(intKey("listen_port", "6432", 1, 65535, func(g *General) *int { return &g.ListenPort })),
	boolKey("log_connections", "1", func(g *General) *bool { return &g.LogConnections }),
	boolKey("log_disconnections", "1", func(g *General) *bool { return &g.LogDisconnections }),
	boolKey("log_pooler_errors", "1", func(g *General) *bool { return &g.LogPoolerErrors }),
	boolKey("log_stats", "1", func(g *General) *bool { return &g.LogStats }),
	strKey("logfile", "", func(g *General) *string { return &g.Logfile }),
	strKey("login_notify_message", "", func(g *General) *string { return &g.LoginNotifyMessage }),
	intKey("max_client_conn", "100", 0, math.MaxInt32, func(g *General) *int { return &g.MaxClientConn }),
	intKey("max_db_client_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxDBClientConnections }),
	intKey("max_db_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxDBConnections }),
	intKey("max_packet_size", "2147483647", 0, math.MaxUint32, func(g *General) *int { return &g.MaxPacketSize }),
	intKey("max_prepared_statements", "200", 0, math.MaxInt32, func(g *General) *int { return &g.MaxPreparedStatements }),
	intKey("max_user_client_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxUserClientConns }),
	intKey("max_user_connections", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MaxUserConnections }),
	intKey("min_pool_size", "0", 0, math.MaxInt32, func(g *General) *int { return &g.MinPoolSize }),
	// Cancel keys carry the peer id in 14 bits.
	intKey("peer_id", "0", 0, 16383, func(g *General) *int { return &g.PeerID }),
	noReload(strKey("pidfile", "", func(g *General) *string { return &g.Pidfile })),
	noReload(intKey("pkt_buf", "4096", 1, math.MaxInt32, func(g *General) *int { return &g.PktBuf })),
	durKey("pool_idle_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.PoolIdleTimeout }),
	poolModeKey("pool_mode", "session"),
	durKey("query_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.QueryTimeout }),
	durKey("query_wait_notify", "5", time.Second, func(g *General) *time.Duration { return &g.QueryWaitNotify }),
	durKey("query_wait_timeout", "120", time.Second, func(g *General) *time.Duration { return &g.QueryWaitTimeout }),
	intKey("reserve_pool_size", "0", 0, math.MaxInt32, func(g *General) *int { return &g.ReservePoolSize }),
	durKey("reserve_pool_timeout", "5", time.Second, func(g *General) *time.Duration { return &g.ReservePoolTimeout }),
	noReload(strKey("resolv_conf", "", func(g *General) *string { return &g.ResolvConf })),
	intKey("sbuf_loopcnt", "5", 0, math.MaxInt32, func(g *General) *int { return &g.SBufLoopcnt }),
	intKey("scram_iterations", "4096", 1, math.MaxInt32, func(g *General) *int { return &g.ScramIterations }),
	durKey("server_check_delay", "30", time.Second, func(g *General) *time.Duration { return &g.ServerCheckDelay }),
	checkQueryKey("server_check_query", "<empty>"),
	durKey("server_connect_timeout", "15", time.Second, func(g *General) *time.Duration { return &g.ServerConnectTimeout }),
	boolKey("server_fast_close", "0", func(g *General) *bool { return &g.ServerFastClose }),
	durKey("server_idle_timeout", "600", time.Second, func(g *General) *time.Duration { return &g.ServerIdleTimeout }),
	durKey("server_lifetime", "3600", time.Second, func(g *General) *time.Duration { return &g.ServerLifetime }),
	durKey("server_login_retry", "15", time.Second, func(g *General) *time.Duration { return &g.ServerLoginRetry }),
	strKey("server_reset_query", "DISCARD ALL", func(g *General) *string { return &g.ServerResetQuery }),
	boolKey("server_reset_query_always", "0", func(g *General) *bool { return &g.ServerResetQueryAlways }),
	boolKey("server_round_robin", "0", func(g *General) *bool { return &g.ServerRoundRobin }),
	keep(strKey("server_tls13_ciphers", "", func(g *General) *string { return &g.ServerTLS.TLS13Ciphers })),
	strKey("server_tls_ca_file", "", func(g *General) *string { return &g.ServerTLS.CAFile }),
	strKey("server_tls_cert_file", "", func(g *General) *string { return &g.ServerTLS.CertFile }),
	strKey("server_tls_ciphers", "default", func(g *General) *string { return &g.ServerTLS.Ciphers }),
	strKey("server_tls_key_file", "", func(g *General) *string { return &g.ServerTLS.KeyFile }),
	protocolsKey("server_tls_protocols", func(g *General) *string { return &g.ServerTLS.Protocols }),
	sslModeKey("server_tls_sslmode", "prefer", func(g *General) *SSLMode { return &g.ServerTLS.SSLMode }),
	aliasKey("service_name", "job_name"),
	noReload(boolKey("so_reuseport", "0", func(g *General) *bool { return &g.SoReuseport })),
	durKey("stats_period", "60", time.Second, func(g *General) *time.Duration { return &g.StatsPeriod }),
	listKey("stats_users", "", func(g *General) *[]string { return &g.StatsUsers }),
	durKey("suspend_timeout", "10", time.Second, func(g *General) *time.Duration { return &g.SuspendTimeout }),
	boolKey("syslog", "0", func(g *General) *bool { return &g.Syslog }),
	strKey("syslog_facility", "daemon", func(g *General) *string { return &g.SyslogFacility }),
	strKey("syslog_ident", "pgbun", func(g *General) *string { return &g.SyslogIdent }),
	boolKey("tcp_defer_accept", "1", func(g *General) *bool { return &g.TCPDeferAccept }),
	boolKey("tcp_keepalive", "1", func(g *General) *bool { return &g.TCPKeepalive }),
	intKey("tcp_keepcnt", "0", 0, math.MaxInt32, func(g *General) *int { return &g.TCPKeepCnt }),
	durKey("tcp_keepidle", "0", time.Second, func(g *General) *time.Duration { return &g.TCPKeepIdle }),
	durKey("tcp_keepintvl", "0", time.Second, func(g *General) *time.Duration { return &g.TCPKeepIntvl }),
	intKey("tcp_socket_buffer", "0", 0, math.MaxInt32, func(g *General) *int { return &g.TCPSocketBuffer }),
	// PgBouncer passes tcp_user_timeout to TCP_USER_TIMEOUT in milliseconds.
	durKey("tcp_user_timeout", "0", time.Millisecond, func(g *General) *time.Duration { return &g.TCPUserTimeout }),
	noReload(listKey("track_extra_parameters", "IntervalStyle", func(g *General) *[]string { return &g.TrackExtraParameters })),
	durKey("transaction_timeout", "0", time.Second, func(g *General) *time.Duration { return &g.TransactionTimeout }),
	noReload(strKey("unix_socket_dir", "/tmp", func(g *General) *string { return &g.UnixSocketDir })),
	noReload(strKey("unix_socket_group", "", func(g *General) *string { return &g.UnixSocketGroup })),
	noReload(modeKey("unix_socket_mode", "0777", func(g *General) *os.FileMode { return &g.UnixSocketMode })),
	keep(noReload(strKey("user", "", func(g *General) *string { return &g.User }))),
	keep(intKey("verbose", "0", 0, math.MaxInt32, func(g *General) *int { return &g.Verbose })),
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
			s.parse, s.fmt, s.noReload, s.keep = target.parse, target.fmt, target.noReload, target.keep
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
