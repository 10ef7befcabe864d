package admin

import (
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// showCmd is one SHOW command.
type showCmd struct {
	adminOnly bool // PgBouncer refuses it to stats users
	run       func(s *session) error
}

// shows maps the word after SHOW (lower case) to its command.
var shows = map[string]showCmd{
	"help":           {run: (*session).showHelp},
	"version":        {run: (*session).showVersion},
	"config":         {run: (*session).showConfig},
	"databases":      {run: (*session).showDatabases},
	"pools":          {run: (*session).showPools},
	"clients":        {run: (*session).showClients},
	"servers":        {run: (*session).showServers},
	"sockets":        {run: func(s *session) error { return s.showSockets(false) }},
	"active_sockets": {run: func(s *session) error { return s.showSockets(true) }},
	"users":          {run: (*session).showUsers},
	"stats":          {run: (*session).showStats},
	"stats_totals":   {run: (*session).showStatsTotals},
	"stats_averages": {run: (*session).showStatsAverages},
	"totals":         {run: (*session).showTotals},
	"lists":          {run: (*session).showLists},
	"state":          {run: (*session).showState},
	"peers":          {run: (*session).showPeers},
	"peer_pools":     {run: (*session).showPeerPools},
	"fds":            {adminOnly: true, run: (*session).showFDs},
	"mem":            {run: (*session).showMem},
	"dns_hosts":      {run: (*session).showDNSHosts},
	"dns_zones":      {run: (*session).showDNSZones},
	"certs":          {run: (*session).showCerts},
	"throttle":       {run: (*session).showThrottle},
}

// show runs SHOW x (and SELECT x, which PgBouncer takes as a synonym).
func (s *session) show(c *command) error {
	if !c.hasArg {
		return invalid(c)
	}
	if name, value, ok := fakeParam(c.arg); ok {
		rs := s.result([]column{{name, kText}})
		rs.row(txt(value))
		return rs.done()
	}
	cmd, ok := shows[strings.ToLower(c.arg)]
	if !ok {
		return invalid(c)
	}
	if cmd.adminOnly && !s.opts.Admin {
		return errAdminNeeded
	}
	return cmd.run(s)
}

// helpText lists the console's commands for SHOW HELP.
const helpText = `
	SHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION
	SHOW PEERS|PEER_POOLS
	SHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE
	SHOW DNS_HOSTS|DNS_ZONES
	SHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS
	SHOW CERTS|THROTTLE
	SET key = arg
	RELOAD
	PAUSE [<db>]
	RESUME [<db>]
	DISABLE <db>
	ENABLE <db>
	RECONNECT [<db>]
	KILL [<db>]
	KILL_CLIENT <client_id>
	SUSPEND
	SHUTDOWN
	SHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS
	WAIT_CLOSE [<db>]`

// showHelp answers with a notice, as PgBouncer, not a result set.
func (s *session) showHelp() error {
	s.notice("Console usage", helpText)
	s.complete("SHOW")
	return nil
}

var versionCols = []column{{"version", kText}}

func (s *session) showVersion() error {
	rs := s.result(versionCols)
	rs.row(txt(s.src.Version()))
	return rs.done()
}

var configCols = []column{{"key", kText}, {"value", kText}, {"default", kText}, {"changeable", kText}}

func (s *session) showConfig() error {
	rs := s.result(configCols)
	for _, c := range s.src.Config() {
		rs.row(txt(c.Key), txt(c.Value), txt(c.Default), yesNo(c.Changeable))
	}
	return rs.done()
}

var databasesCols = []column{
	{"name", kText}, {"host", kText}, {"port", kInt4}, {"database", kText}, {"force_user", kText},
	{"pool_size", kInt4}, {"min_pool_size", kInt4}, {"reserve_pool_size", kInt4},
	{"server_lifetime", kInt4}, {"pool_mode", kText}, {"load_balance_hosts", kText},
	{"max_connections", kInt4}, {"current_connections", kInt4},
	{"max_client_connections", kInt4}, {"current_client_connections", kInt4},
	{"paused", kInt4}, {"disabled", kInt4},
}

func (s *session) showDatabases() error {
	rs := s.result(databasesCols)
	for _, d := range s.src.Databases() {
		// Like PgBouncer, load_balance_hosts only means something with
		// several hosts.
		lb := ""
		if strings.Contains(d.Host, ",") {
			lb = d.LoadBalanceHosts
		}
		rs.row(txt(d.Name), txtOrNull(d.Host), inum(d.Port), txt(d.Database), txtOrNull(d.ForceUser),
			inum(d.PoolSize), inum(d.MinPoolSize), inum(d.ReservePoolSize),
			num(int64(d.ServerLifetime/time.Second)), txtOrNull(d.PoolMode), txtOrNull(lb),
			inum(d.MaxConnections), inum(d.CurrentConnections),
			inum(d.MaxClientConnections), inum(d.CurrentClientConnections),
			flag(d.Paused), flag(d.Disabled))
	}
	return rs.done()
}

var poolsCols = []column{
	{"database", kText}, {"user", kText},
	{"cl_active", kInt4}, {"cl_waiting", kInt4}, {"cl_active_cancel_req", kInt4}, {"cl_waiting_cancel_req", kInt4},
	{"sv_active", kInt4}, {"sv_active_cancel", kInt4}, {"sv_being_canceled", kInt4},
	{"sv_idle", kInt4}, {"sv_used", kInt4}, {"sv_tested", kInt4}, {"sv_login", kInt4},
	{"maxwait", kInt4}, {"maxwait_us", kInt4}, {"pool_mode", kText}, {"load_balance_hosts", kText},
}

func (s *session) showPools() error {
	rs := s.result(poolsCols)
	for _, p := range s.src.Pools() {
		sec, us := splitWait(p.MaxWait)
		rs.row(txt(p.Database), txt(p.User),
			inum(p.ClActive), inum(p.ClWaiting), inum(p.ClActiveCancel), inum(p.ClWaitingCancel),
			inum(p.SvActive), inum(p.SvActiveCancel), inum(p.SvBeingCanceled),
			inum(p.SvIdle), inum(p.SvUsed), inum(p.SvTested), inum(p.SvLogin),
			sec, us, txt(p.Mode), txtOrNull(p.LoadBalanceHosts))
	}
	return rs.done()
}

// splitWait renders a wait as PgBouncer's pair of whole seconds and the
// microseconds beyond them.
func splitWait(d time.Duration) (sec, us cell) {
	if d < 0 {
		d = 0
	}
	return num(int64(d / time.Second)), num(int64(d%time.Second) / int64(time.Microsecond))
}

var usersCols = []column{
	{"name", kText}, {"pool_size", kText}, {"reserve_pool_size", kText}, {"pool_mode", kText},
	{"max_user_connections", kInt4}, {"current_connections", kInt4},
	{"max_user_client_connections", kInt4}, {"current_client_connections", kInt4},
}

func (s *session) showUsers() error {
	rs := s.result(usersCols)
	for _, u := range s.src.Users() {
		rs.row(txt(u.Name), optSize(u.PoolSize), optSize(u.ReservePoolSize), txtOrNull(u.PoolMode),
			inum(u.MaxUserConnections), inum(u.CurrentConnections),
			inum(u.MaxUserClientConnections), inum(u.CurrentClientConnections))
	}
	return rs.done()
}

// optSize is a per-user override in SHOW USERS' text columns: empty when
// the user sets none.
func optSize(n int) cell {
	if n < 0 {
		return txt("")
	}
	return txt(strconv.Itoa(n))
}

var listsCols = []column{{"list", kText}, {"items", kInt4}}

func (s *session) showLists() error {
	l := s.src.Lists()
	peers := len(s.src.Peers())
	rs := s.result(listsCols)
	for _, it := range []struct {
		name string
		n    int
	}{
		{"databases", l.Databases}, {"users", l.Users}, {"peers", peers}, {"pools", l.Pools},
		// One peer pool per peer, as SHOW PEER_POOLS lists them.
		{"peer_pools", peers},
		{"free_clients", l.FreeClients}, {"used_clients", l.UsedClients}, {"login_clients", l.LoginClients},
		{"free_servers", l.FreeServers}, {"used_servers", l.UsedServers},
		// pgbun resolves names with the system resolver and keeps no
		// DNS cache of its own.
		{"dns_names", 0}, {"dns_zones", 0}, {"dns_queries", 0}, {"dns_pending", 0},
	} {
		rs.row(txt(it.name), inum(it.n))
	}
	return rs.done()
}

var stateCols = []column{{"key", kText}, {"value", kText}}

func (s *session) showState() error {
	st := s.src.State()
	rs := s.result(stateCols)
	rs.row(txt("active"), yesNo(st.Active))
	rs.row(txt("paused"), yesNo(st.Paused))
	rs.row(txt("suspended"), yesNo(st.Suspended))
	return rs.done()
}

var peersCols = []column{{"peer_id", kInt4}, {"host", kText}, {"port", kInt4}, {"pool_size", kInt4}}

func (s *session) showPeers() error {
	rs := s.result(peersCols)
	for _, p := range s.src.Peers() {
		rs.row(inum(p.ID), txt(p.Host), inum(p.Port), inum(p.PoolSize))
	}
	return rs.done()
}

var peerPoolsCols = []column{
	{"peer_id", kInt4}, {"cl_active_cancel_req", kInt4}, {"cl_waiting_cancel_req", kInt4},
	{"sv_active_cancel", kInt4}, {"sv_login", kInt4},
}

func (s *session) showPeerPools() error {
	rs := s.result(peerPoolsCols)
	for _, p := range s.src.Peers() {
		rs.row(inum(p.ID), inum(p.ClActiveCancel), inum(p.ClWaitingCancel), inum(p.SvActiveCancel), inum(p.SvLogin))
	}
	return rs.done()
}

var fdsCols = []column{
	{"fd", kInt4}, {"task", kText}, {"user", kText}, {"database", kText},
	{"addr", kText}, {"port", kInt4}, {"cancel", kInt8}, {"link", kInt4},
	{"client_encoding", kText}, {"std_strings", kText}, {"datestyle", kText}, {"timezone", kText},
	{"password", kText}, {"scram_client_key", kBytea}, {"scram_server_key", kBytea},
}

// showFDs lists nothing: PgBouncer uses it to hand its sockets to a new
// process (online restart); pgbun has no such hand-off, and restarts with
// SO_REUSEPORT instead.
func (s *session) showFDs() error {
	return s.result(fdsCols).done()
}

var memCols = []column{{"name", kText}, {"size", kInt4}, {"used", kInt4}, {"free", kInt4}, {"memtotal", kInt4}}

// memSamples are the Go runtime figures SHOW MEM reports in place of
// PgBouncer's slab caches.
var memSamples = []string{
	"/gc/heap/objects:objects",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/total:bytes",
}

// showMem reports the Go heap, which has no per-type caches to list:
// heap_objects (average object size, live objects, bytes), heap_free
// (bytes held free or returned to the OS), stacks and total (bytes the
// runtime mapped).
func (s *session) showMem() error {
	samples := make([]metrics.Sample, len(memSamples))
	for i, name := range memSamples {
		samples[i].Name = name
	}
	metrics.Read(samples)
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	objects, objBytes := v(0), v(1)
	avg := uint64(0)
	if objects > 0 {
		avg = objBytes / objects
	}
	rs := s.result(memCols)
	rs.row(txt("heap_objects"), int4(avg), int4(objects), int4(0), int4(objBytes))
	rs.row(txt("heap_free"), int4(0), int4(0), int4(0), int4(v(2)+v(3)))
	rs.row(txt("stacks"), int4(0), int4(0), int4(0), int4(v(4)+v(5)))
	rs.row(txt("total"), int4(0), int4(0), int4(0), int4(v(6)))
	return rs.done()
}

// int4 renders n in an int4 column, clamped to its range so clients that
// decode the declared type do not fail.
func int4(n uint64) cell {
	const max = 1<<31 - 1
	if n > max {
		n = max
	}
	return unum(n)
}

var dnsHostsCols = []column{{"hostname", kText}, {"ttl", kInt8}, {"addrs", kText}}
var dnsZonesCols = []column{{"zonename", kText}, {"serial", kInt8}, {"count", kInt4}}

// showDNSHosts and showDNSZones list nothing: pgbun keeps no DNS cache.
func (s *session) showDNSHosts() error { return s.result(dnsHostsCols).done() }
func (s *session) showDNSZones() error { return s.result(dnsZonesCols).done() }

var certsCols = []column{
	{"names", kText}, {"subject", kText}, {"issuer", kText}, {"serial", kText},
	{"not_after", kText}, {"source", kText},
}

func (s *session) showCerts() error {
	rs := s.result(certsCols)
	for _, c := range s.src.Certs() {
		rs.row(txt(strings.Join(c.Names, ",")), txt(c.Subject), txt(c.Issuer), txt(c.Serial),
			stampOrNull(c.NotAfter), txt(c.Source))
	}
	return rs.done()
}

var throttleCols = []column{
	{"kind", kText}, {"key", kText}, {"until", kText}, {"failures", kInt4}, {"offences", kInt4},
}

func (s *session) showThrottle() error {
	rs := s.result(throttleCols)
	for _, l := range s.src.Lockouts() {
		rs.row(txt(l.Kind), txt(l.Key), stampOrNull(l.Until), inum(l.Failures), inum(l.Offences))
	}
	return rs.done()
}
