package metrics

import "github.com/prometheus/client_golang/prometheus"

// Label names shared by several metrics.
const (
	lDatabase = "database"
	lUser     = "user"
	lState    = "state"
	lResult   = "result"
)

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// Process-wide metrics.
var (
	descBuildInfo = newDesc("pgbun_build_info",
		"Always 1; the version label is the running pgbun's version.", "version")
	descReady = newDesc("pgbun_ready",
		"1 while pgbun accepts clients (listening, configuration loaded, not shutting down), else 0.")
	descReloads = newDesc("pgbun_reloads_total",
		"Configuration reloads, by result (ok, failed).", lResult)
	descServerConnects = newDesc("pgbun_server_connects_total",
		"Server connections pgbun opened and logged in successfully.")
	descServerConnectFailures = newDesc("pgbun_server_connect_failures_total",
		"Server connection attempts that failed to connect or to log in.")
	descPrepared = newDesc("pgbun_prepared_statements_total",
		"Bind or Describe of a pooled prepared statement: hit when the server had it, miss when pgbun prepared it first.",
		lResult)
)

// Pool metrics, one series per (database, user) pool.
var (
	descPoolClients = newDesc("pgbun_pool_clients",
		"Client connections of the pool, by state (active, waiting, active_cancel_req, waiting_cancel_req).",
		lDatabase, lUser, lState)
	descPoolServers = newDesc("pgbun_pool_servers",
		"Server connections of the pool, by state (active, active_cancel, being_canceled, idle, used, tested, login).",
		lDatabase, lUser, lState)
	descPoolMaxWait = newDesc("pgbun_pool_max_wait_seconds",
		"How long the pool's longest-waiting client has waited for a server so far; 0 when none waits.",
		lDatabase, lUser)
)

// Per-database counters, summed over the database's pools.
var (
	descServerAssignments = newDesc("pgbun_server_assignments_total",
		"Times a server connection was handed to a client.", lDatabase)
	descTransactions = newDesc("pgbun_transactions_total",
		"Transactions pooled.", lDatabase)
	descQueries = newDesc("pgbun_queries_total",
		"Queries pooled.", lDatabase)
	descReceived = newDesc("pgbun_client_received_bytes_total",
		"Bytes received from clients.", lDatabase)
	descSent = newDesc("pgbun_client_sent_bytes_total",
		"Bytes sent to clients.", lDatabase)
	descXactTime = newDesc("pgbun_transaction_seconds_total",
		"Time spent in transactions, summed over transactions.", lDatabase)
	descQueryTime = newDesc("pgbun_query_seconds_total",
		"Time spent in queries, summed over queries.", lDatabase)
	descWaitTime = newDesc("pgbun_client_wait_seconds_total",
		"Time clients spent waiting for a server, summed over clients.", lDatabase)
	descClientParses = newDesc("pgbun_client_parses_total",
		"Parse messages received from clients.", lDatabase)
	descServerParses = newDesc("pgbun_server_parses_total",
		"Parse messages pgbun sent to servers.", lDatabase)
	descBinds = newDesc("pgbun_binds_total",
		"Bind messages received from clients.", lDatabase)
	descClientLogins = newDesc("pgbun_client_logins_total",
		"Clients that logged in to the database.", lDatabase)
)

// Authentication and TLS.
var (
	descLogins = newDesc("pgbun_logins_total",
		"Client login attempts, by authentication method and result (ok, failed, rejected by hba rules, throttled).",
		"method", lResult)
	descThrottled = newDesc("pgbun_auth_throttled_total",
		"Client logins refused by the failed-login throttle.")
	descLockouts = newDesc("pgbun_auth_lockouts",
		"Lockouts of the failed-login throttle now in force, by kind (address, user).", "kind")
	descTLSHandshakes = newDesc("pgbun_tls_handshakes_total",
		"Completed client TLS handshakes, by negotiated TLS version.", "version")
	descTLSFailures = newDesc("pgbun_tls_handshake_failures_total",
		"Client TLS handshakes that failed.")
	descParked = newDesc("pgbun_clients_parked",
		"Idle transaction-pooled clients parked: waiting with no goroutine and no read buffer.")
	descCertNotAfter = newDesc("pgbun_certificate_not_after_timestamp_seconds",
		"Expiry (NotAfter) of a certificate pgbun serves, as a Unix time, for each name the certificate covers.",
		"name", "source", "serial")
)

// allDescs lists every pgbun_ descriptor for Describe, which registration
// checks for clashes; the tests gather through a pedantic registry, which
// rejects any metric whose descriptor is missing here.
var allDescs = []*prometheus.Desc{
	descBuildInfo, descReady, descReloads, descServerConnects,
	descServerConnectFailures, descPrepared,
	descPoolClients, descPoolServers, descPoolMaxWait,
	descServerAssignments, descTransactions, descQueries, descReceived,
	descSent, descXactTime, descQueryTime, descWaitTime, descClientParses,
	descServerParses, descBinds, descClientLogins,
	descLogins, descThrottled, descLockouts, descTLSHandshakes,
	descTLSFailures, descCertNotAfter, descParked,
}
