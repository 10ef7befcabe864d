// Package snapshot holds plain descriptions of pgbun's running state, taken
// at one moment by the gateway and read by the admin console (SHOW ...)
// and the metrics endpoint. The types carry data only; they are safe to
// share once built and must not be modified by readers.
package snapshot

import "time"

// Pool is one (database, user) pool, as SHOW POOLS shows it.
type Pool struct {
	Database, User   string
	ClActive         int // clients linked to a server or idle in session pooling
	ClWaiting        int // clients waiting for a server
	ClActiveCancel   int // clients whose cancel request is being forwarded
	ClWaitingCancel  int
	SvActive         int // servers linked to a client
	SvActiveCancel   int
	SvBeingCanceled  int
	SvIdle           int           // idle servers, ready
	SvUsed           int           // idle servers that need a check before use
	SvTested         int           // servers being checked or reset
	SvLogin          int           // servers logging in
	MaxWait          time.Duration // longest current wait of a client
	Mode             string        // session, transaction, statement
	LoadBalanceHosts string
	Paused, Disabled bool
}

// Client is one client connection (SHOW CLIENTS).
type Client struct {
	ID                 uint64
	User, Database     string
	State              string // "active", "waiting", "idle", "login", "active_cancel_req", "waiting_cancel_req"
	Addr               string // remote address ("unix" for a Unix socket)
	Port               int
	LocalAddr          string
	LocalPort          int
	ConnectTime        time.Time
	RequestTime        time.Time     // last request
	Wait               time.Duration // current wait for a server
	CloseNeeded        bool
	Link               uint64 // ID of the linked server, 0 if none
	TLS                string // "" or e.g. "TLSv1.3/TLS_AES_128_GCM_SHA256"
	ApplicationName    string
	PreparedStatements int
	Method             string // how it authenticated
	Replication        string // "" (none), "logical" or "physical": SHOW CLIENTS' replication
	RemotePID          uint32 // the peer's process over a Unix socket, 0 if unknown: SHOW CLIENTS' remote_pid
}

// Server is one server connection (SHOW SERVERS).
type Server struct {
	ID                 uint64
	User, Database     string
	State              string // "active", "idle", "used", "tested", "login", "active_cancel", "being_canceled"
	Addr               string
	Port               int
	LocalAddr          string
	LocalPort          int
	ConnectTime        time.Time
	RequestTime        time.Time
	CloseNeeded        bool
	Link               uint64 // ID of the linked client, 0 if none
	RemotePID          uint32
	TLS                string
	ApplicationName    string
	PreparedStatements int
	Replication        string // "" (none), "logical" or "physical": SHOW SERVERS' replication
}

// Database is one [databases] entry with its live counts (SHOW DATABASES).
type Database struct {
	Name, Host                                     string
	Port                                           int
	Database                                       string // dbname on the server
	ForceUser                                      string
	PoolSize, MinPoolSize, ReservePoolSize         int
	ServerLifetime                                 time.Duration
	PoolMode                                       string
	LoadBalanceHosts                               string
	MaxConnections, CurrentConnections             int
	MaxClientConnections, CurrentClientConnections int
	Paused, Disabled                               bool
	SNI                                            string
}

// User is one user seen in [users] or by a pool (SHOW USERS). A negative
// PoolSize or ReservePoolSize means the user sets none (shown empty).
type User struct {
	Name                                               string
	PoolSize, ReservePoolSize                          int
	PoolMode                                           string
	MaxUserConnections, CurrentConnections             int
	MaxUserClientConnections, CurrentClientConnections int
}

// Counters are cumulative statistics of one database (all its pools).
// Times are totals; the console divides for averages.
type Counters struct {
	ServerAssignments uint64 // servers handed to clients
	Transactions      uint64
	Queries           uint64
	Received, Sent    uint64 // bytes from and to clients
	XactTime          time.Duration
	QueryTime         time.Duration
	WaitTime          time.Duration // clients waiting for a server
	ClientParses      uint64        // Parse messages from clients
	ServerParses      uint64        // Parse messages pgbun sent to servers
	Binds             uint64
	ClientLogins      uint64 // clients that logged in
}

// Stats is one database's counters now and at the start of the last
// stats_period, for SHOW STATS averages.
type Stats struct {
	Database string
	Total    Counters
	Period   Counters // during the last completed stats period
	Seconds  float64  // length of that period
}

// Config is one setting as SHOW CONFIG shows it.
type Config struct {
	Key, Value, Default string
	Changeable          bool
}

// State is the process state (SHOW STATE).
type State struct {
	Active, Paused, Suspended bool
}

// Peer is one [peers] entry (SHOW PEERS).
type Peer struct {
	ID       int
	Host     string
	Port     int
	PoolSize int
	// Cancel requests forwarded to this peer, as SHOW PEER_POOLS counts
	// them; zero when not tracked.
	ClActiveCancel, ClWaitingCancel int // clients whose cancel is in flight / queued
	SvActiveCancel, SvLogin         int // connections to the peer forwarding / opening
}

// Cert describes one certificate served (SHOW CERTS).
type Cert struct {
	Subject  string
	Names    []string
	Issuer   string
	Serial   string
	NotAfter time.Time
	Source   string // "file:<path>" or "acme"
}

// Lockout is a source or user locked out by the failed-login throttle
// (SHOW THROTTLE).
type Lockout struct {
	Kind     string // "address" or "user"
	Key      string
	Until    time.Time
	Failures int
	Offences int
}

// Lists are the counts SHOW LISTS prints.
type Lists struct {
	Databases, Users, Pools, FreeClients, UsedClients, LoginClients,
	FreeServers, UsedServers int
}

// Events are process-wide counters for metrics (pgbun_..._total).
type Events struct {
	Logins         map[string]uint64 // "method/result" -> count (result: ok, failed, rejected, throttled)
	TLSHandshakes  map[string]uint64 // TLS version -> count
	TLSFailures    uint64
	ServerConnects uint64
	ServerFailures uint64
	Throttled      uint64
	Reloads        map[string]uint64 // "ok" / "failed"
	PreparedHits   uint64            // Bind/Describe of a statement the server had
	PreparedMisses uint64            // ... that pgbun had to prepare first
	Parked         int               // idle clients parked off any goroutine (a gauge)
}
