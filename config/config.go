package config

import (
	"fmt"
	"os"
	"time"
)

// PoolMode says when a server connection goes back to its pool.
type PoolMode string

const (
	PoolSession     PoolMode = "session"     // at client disconnect
	PoolTransaction PoolMode = "transaction" // at the end of each transaction
	PoolStatement   PoolMode = "statement"   // after each statement
)

// AuthType selects how pgbun authenticates clients.
type AuthType string

const (
	AuthSCRAM AuthType = "scram-sha-256" // SCRAM-SHA-256 (and -PLUS on TLS)
	AuthMD5   AuthType = "md5"           // md5, or SCRAM when the stored secret is SCRAM
	AuthPlain AuthType = "plain"         // cleartext password (only sensible over TLS)
	AuthTrust AuthType = "trust"         // user must exist in auth_file, no password
	AuthAny   AuthType = "any"           // no check; databases must force a user
	AuthCert  AuthType = "cert"          // TLS client certificate (edge-security work)
	AuthHBA   AuthType = "hba"           // per-line method from auth_hba_file
	// AuthServer is pgbun's own: the client's authentication is relayed to
	// PostgreSQL on a server connection dedicated to that client, which is
	// closed when the client leaves and never handed to another login. It is
	// the default when pgbun runs without a configuration file.
	AuthServer AuthType = "server"
)

// SSLMode is a libpq-style TLS mode, used for both sides.
type SSLMode string

const (
	SSLDisable    SSLMode = "disable"
	SSLAllow      SSLMode = "allow"
	SSLPrefer     SSLMode = "prefer"
	SSLRequire    SSLMode = "require"
	SSLVerifyCA   SSLMode = "verify-ca"
	SSLVerifyFull SSLMode = "verify-full"
)

// Config is one complete, validated configuration. It is immutable once
// returned by Load or Default: a reload builds a new Config.
type Config struct {
	// Files lists every file read to build this Config, main file first
	// (empty for Default). Reload re-reads them.
	Files []string

	General   General
	Databases map[string]*Database // [databases]; key "*" is the fallback
	Users     map[string]*User     // [users]
	Peers     map[int]*Peer        // [peers], keyed by peer_id

	// Warnings are non-fatal findings (unknown keys, keys accepted but not
	// yet acted on), each naming file and line.
	Warnings []Warning
}

// General holds the [pgbouncer] section. Durations are parsed from seconds
// (fractions allowed, as PgBouncer) or Go duration syntax ("250ms", "2m").
// Zero durations mean "disabled" unless the field says otherwise.
type General struct {
	ListenAddr      []string    // listen_addr; "*" = all IPv4+IPv6; empty = Unix socket only
	ListenPort      int         // listen_port, default 6432
	UnixSocketDir   string      // unix_socket_dir, default "/tmp"; "" disables the socket
	UnixSocketMode  os.FileMode // unix_socket_mode, default 0777
	UnixSocketGroup string      // unix_socket_group
	ListenBacklog   int         // listen_backlog, default 128
	SoReuseport     bool        // so_reuseport
	User            string      // user: drop privileges to this OS user
	Conffile        string      // conffile: accepted, not acted on; the main file unless set
	JobName         string      // job_name (alias service_name), default "pgbun"

	PoolMode               PoolMode      // pool_mode, default session
	MaxClientConn          int           // max_client_conn, default 100
	DefaultPoolSize        int           // default_pool_size, default 20
	MinPoolSize            int           // min_pool_size
	ReservePoolSize        int           // reserve_pool_size
	ReservePoolTimeout     time.Duration // reserve_pool_timeout, default 5s
	MaxDBConnections       int           // max_db_connections, 0 = unlimited
	MaxUserConnections     int           // max_user_connections, 0 = unlimited
	MaxDBClientConnections int           // max_db_client_connections
	MaxUserClientConns     int           // max_user_client_connections
	AutodbIdleTimeout      time.Duration // autodb_idle_timeout, default 3600s
	PoolIdleTimeout        time.Duration // pool_idle_timeout, 0 = pools are never freed

	AuthType      AuthType // auth_type, default md5
	AuthFile      string   // auth_file
	AuthHBAFile   string   // auth_hba_file
	AuthIdentFile string   // auth_ident_file
	AuthUser      string   // auth_user
	AuthQuery     string   // auth_query
	AuthDBName    string   // auth_dbname
	// auth_query results are cached (pgbun's own keys):
	AuthCacheSize        int           // auth_cache_size, default 10000 users
	AuthCacheTTL         time.Duration // auth_cache_ttl, default 60s: found and unknown users alike; 0 = no caching
	AuthNegativeCacheTTL time.Duration // auth_negative_cache_ttl, default 5s: minimum age before a cached unknown user is fetched again after a failed login
	AuthLDAPOptions      string        // auth_ldap_options
	ScramIterations      int           // scram_iterations, default 4096
	AdminUsers           []string      // admin_users
	StatsUsers           []string      // stats_users

	ServerResetQuery       string        // server_reset_query, default "DISCARD ALL"
	ServerResetQueryAlways bool          // server_reset_query_always
	ServerCheckQuery       string        // server_check_query ("" = empty query, PgBouncer's "<empty>")
	ServerCheckDisabled    bool          // server_check_query set to nothing: no sanity check at all
	ServerCheckDelay       time.Duration // server_check_delay, default 30s
	ServerLifetime         time.Duration // server_lifetime, default 3600s
	ServerIdleTimeout      time.Duration // server_idle_timeout, default 600s
	ServerConnectTimeout   time.Duration // server_connect_timeout, default 15s
	ServerLoginRetry       time.Duration // server_login_retry, default 15s
	ServerFastClose        bool          // server_fast_close
	ServerRoundRobin       bool          // server_round_robin

	ClientLoginTimeout     time.Duration // client_login_timeout, default 60s
	ClientIdleTimeout      time.Duration // client_idle_timeout
	IdleTransactionTimeout time.Duration // idle_transaction_timeout
	TransactionTimeout     time.Duration // transaction_timeout
	QueryTimeout           time.Duration // query_timeout
	QueryWaitTimeout       time.Duration // query_wait_timeout, default 120s
	CancelWaitTimeout      time.Duration // cancel_wait_timeout, default 10s
	QueryWaitNotify        time.Duration // query_wait_notify, default 5s
	SuspendTimeout         time.Duration // suspend_timeout, default 10s
	LoginNotifyMessage     string        // login_notify_message
	DisablePQExec          bool          // disable_pqexec

	MaxPreparedStatements   int           // max_prepared_statements, default 200
	TrackExtraParameters    []string      // track_extra_parameters, default IntervalStyle
	IgnoreStartupParameters []string      // ignore_startup_parameters
	ApplicationNameAddHost  bool          // application_name_add_host
	MaxPacketSize           int           // max_packet_size, default 2147483647
	PktBuf                  int           // pkt_buf, default 4096
	SBufLoopcnt             int           // sbuf_loopcnt, default 5
	TCPKeepalive            bool          // tcp_keepalive, default on
	TCPKeepIdle             time.Duration // tcp_keepidle, 0 = OS default
	TCPKeepIntvl            time.Duration // tcp_keepintvl, 0 = OS default
	TCPKeepCnt              int           // tcp_keepcnt, 0 = OS default
	TCPUserTimeout          time.Duration // tcp_user_timeout (a bare number is milliseconds), 0 = OS default
	TCPDeferAccept          bool          // tcp_defer_accept, default on
	TCPSocketBuffer         int           // tcp_socket_buffer, 0 = OS default
	DNSMaxTTL               time.Duration // dns_max_ttl, default 15s
	DNSNXDomainTTL          time.Duration // dns_nxdomain_ttl, default 15s
	DNSZoneCheckPeriod      time.Duration // dns_zone_check_period
	ResolvConf              string        // resolv_conf

	LogConnections    bool          // log_connections, default on
	LogDisconnections bool          // log_disconnections, default on
	LogPoolerErrors   bool          // log_pooler_errors, default on
	LogStats          bool          // log_stats, default on
	StatsPeriod       time.Duration // stats_period, default 60s
	Verbose           int           // verbose
	Logfile           string        // logfile
	Pidfile           string        // pidfile
	Syslog            bool          // syslog: also send the log to syslog
	SyslogIdent       string        // syslog_ident, default "pgbun"
	SyslogFacility    string        // syslog_facility, default "daemon"
	PeerID            int           // peer_id

	ClientTLS ClientTLS
	ServerTLS ServerTLS
	ACME      ACME

	// Edge defence (pgbun's own keys).
	AuthThrottleFailures      int           // auth_throttle_failures, default 5 (0 = off)
	AuthThrottleWindow        time.Duration // auth_throttle_window, default 60s
	AuthThrottleLockout       time.Duration // auth_throttle_lockout, default 30s
	AuthThrottleLockoutMax    time.Duration // auth_throttle_lockout_max, default 3600s
	MaxClientConnPerAddr      int           // max_client_conn_per_addr, 0 = unlimited
	ClientConnectRatePerAddr  float64       // client_connect_rate_per_addr, new connections/s, 0 = unlimited
	MaxUnauthenticatedClients int           // max_unauthenticated_clients, default 1000 (0 = unlimited)
	AuditLog                  string        // audit_log: "" off, "stderr", or a file path

	MetricsListen string // metrics_listen: host:port for /metrics, /healthz, /readyz ("" = off)
	LogFormat     string // log_format: text (default) or json
}

// ACME is how pgbun obtains its own certificates (acme_*, pgbun's keys).
type ACME struct {
	Domains       []string // acme_domains
	Email         string   // acme_email
	CA            string   // acme_ca, default Let's Encrypt's production directory
	CARoot        string   // acme_ca_root: PEM trusted for the ACME server's own TLS
	Storage       string   // acme_storage, default /var/lib/pgbun/acme
	Challenge     string   // acme_challenge: tls-alpn-01 (default) or http-01
	HTTPListen    string   // acme_http_listen: host:port served for http-01
	RenewRatio    float64  // acme_renew_ratio, default 0.33 (renew with a third of the lifetime left)
	OnDemandAllow []string // acme_on_demand_allow: names or *.suffix patterns
	// Advanced: for port forwards, private CAs and short-lived certificates.
	TLSALPNPort   int           // acme_tls_alpn_port: port the CA's TLS-ALPN-01 validation reaches, default 443
	CheckInterval time.Duration // acme_renew_check_interval, default 10m
	ARI           bool          // acme_ari: ask the CA for renewal information (RFC 9773), default on
}

// Enabled reports whether pgbun manages any certificate itself.
func (a *ACME) Enabled() bool { return len(a.Domains) > 0 || len(a.OnDemandAllow) > 0 }

// ClientTLS is how pgbun terminates TLS from clients (client_tls_*).
type ClientTLS struct {
	SSLMode      SSLMode // client_tls_sslmode, default disable
	KeyFile      string  // client_tls_key_file
	CertFile     string  // client_tls_cert_file
	CAFile       string  // client_tls_ca_file
	Protocols    string  // client_tls_protocols, default "secure" (TLS 1.2+)
	Ciphers      string  // client_tls_ciphers, default "default"
	DHEParams    string  // client_tls_dheparams (accepted, Go picks groups)
	ECDHCurve    string  // client_tls_ecdhcurve
	TLS13Ciphers string  // client_tls13_ciphers (accepted; Go fixes TLS 1.3 suites)
	// ExtraCerts are more certificate/key file pairs, served to clients
	// whose server name they cover (client_tls_sni_certs, pgbun's own:
	// "cert.pem key.pem, cert2.pem key2.pem").
	ExtraCerts []string
	// SNIRequired refuses TLS clients whose server name matches no
	// [databases] sni= entry (client_tls_sni_required, pgbun's own).
	SNIRequired bool
}

// ServerTLS is how pgbun connects to PostgreSQL (server_tls_*).
type ServerTLS struct {
	SSLMode      SSLMode // server_tls_sslmode, default prefer
	KeyFile      string  // server_tls_key_file
	CertFile     string  // server_tls_cert_file
	CAFile       string  // server_tls_ca_file
	Protocols    string  // server_tls_protocols, default "secure"
	Ciphers      string  // server_tls_ciphers
	TLS13Ciphers string  // server_tls13_ciphers
}

// Database is one [databases] entry. Numeric limits use -1 for "not set
// here: inherit the [pgbouncer] value"; durations use -1 likewise. As in
// PgBouncer, max_db_connections, max_db_client_connections and
// server_lifetime override the global value only when above zero, so a 0
// written in the file is stored as -1. Config.Pool applies the inheritance.
type Database struct {
	Name string // the name clients connect to ("*" for the fallback)
	File string // where it was defined
	Line int

	Host             []string      // host: names, IPs or Unix socket directories ("/..."); empty = Unix socket (as PgBouncer)
	Port             int           // port, default 5432
	DBName           string        // dbname, "" = the client's database name
	User             string        // user: forced user (one pool for all clients)
	Password         string        // password for the forced or connecting user
	AuthUser         string        // auth_user
	AuthQuery        string        // auth_query
	AuthDBName       string        // auth_dbname
	PoolSize         int           // pool_size, -1 = default_pool_size
	MinPoolSize      int           // min_pool_size, -1 = inherit
	ReservePoolSize  int           // reserve_pool_size (alias reserve_pool), -1 = inherit
	MaxDBConnections int           // max_db_connections, -1 = inherit
	MaxDBClientConns int           // max_db_client_connections, -1 = inherit
	ServerLifetime   time.Duration // server_lifetime, -1 = inherit
	QueryWaitTimeout time.Duration // query_wait_timeout, -1 = inherit
	PoolMode         PoolMode      // "" = inherit
	ConnectQuery     string        // connect_query, run once per new server connection
	LoadBalanceHosts string        // load_balance_hosts: round-robin (default) | disable
	ClientEncoding   string        // client_encoding, sent in the server startup packet
	DateStyle        string        // datestyle
	TimeZone         string        // timezone
	ApplicationName  string        // application_name
	// SNI (sni=, pgbun's own) routes TLS clients whose server name matches
	// it, exactly or as "*.suffix", to this entry whatever database they
	// name; the entry's dbname then defaults to the client's.
	SNI string
	// Raw is the original value text, for SHOW/diagnostics (password redacted).
	Raw string
}

// User is one [users] entry; same inheritance rules as Database: -1 (or
// "" for PoolMode) = inherit. The connection limits and timeouts override
// the global value only when above zero, as in PgBouncer, so a 0 written in
// the file is stored as -1.
type User struct {
	Name                   string
	File                   string
	Line                   int
	PoolMode               PoolMode
	PoolSize               int
	ReservePoolSize        int
	MaxUserConnections     int
	MaxUserClientConns     int
	QueryTimeout           time.Duration
	IdleTransactionTimeout time.Duration
	TransactionTimeout     time.Duration
	ClientIdleTimeout      time.Duration
	QueryWaitTimeout       time.Duration // -1 = inherit
}

// Peer is one [peers] entry (peer_id = host=... port=... pool_size=...).
type Peer struct {
	ID       int
	File     string // where it was defined
	Line     int
	Host     string // host name, IP or Unix socket directory ("/...")
	Port     int    // port, default 6432
	PoolSize int    // pool_size: cancel requests in flight; default_pool_size when unset
}

// Warning is a non-fatal finding in a configuration file.
type Warning struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", w.File, w.Line, w.Key, w.Msg)
}

// Error is a fatal problem in a configuration file. Its text has the shape
// "file:line: key: problem" so editors and CI logs can jump to it.
type Error struct {
	File    string
	Line    int
	Key     string
	Problem string
	Err     error // underlying cause, if any (a failed %include read)
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Problem)
}

// Unwrap returns the underlying cause, so errors.Is(err, fs.ErrNotExist)
// works for a missing %include file.
func (e *Error) Unwrap() error { return e.Err }
