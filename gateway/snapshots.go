package gateway

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
)

// Version is pgbun's version, shown by SHOW VERSION and metrics; the
// command sets it at start-up.
var Version = "dev"

// This file implements what the admin console and the metrics endpoint
// read: snapshots of pools, clients, servers, databases, users and stats.

// Pools describes every pool (SHOW POOLS).
func (g *Gateway) Pools() []snapshot.Pool {
	clients := g.clientList()
	type counts struct{ active, waiting, cancel int }
	byPool := make(map[pool.Key]*counts)
	for _, c := range clients {
		k, ok := c.poolKey()
		if !ok {
			continue
		}
		n := byPool[k]
		if n == nil {
			n = &counts{}
			byPool[k] = n
		}
		switch session.State(c.State.Load()) {
		case session.Waiting:
			n.waiting++
		case session.Active, session.Idle:
			n.active++
		}
	}
	var out []snapshot.Pool
	for _, p := range g.pools.Pools() {
		if isAuthPool(p.Key) {
			continue
		}
		in := g.info(p)
		if in == nil {
			continue
		}
		mode, ok := in.mode()
		if !ok {
			continue // no client has authenticated for it yet
		}
		sn := p.Snapshot()
		n := byPool[p.Key]
		if n == nil {
			n = &counts{}
		}
		out = append(out, snapshot.Pool{
			Database: p.Key.Database, User: p.Key.User,
			ClActive: n.active, ClWaiting: max(n.waiting, sn.Waiting),
			SvActive: sn.Active, SvIdle: sn.Idle, SvLogin: sn.Opening,
			MaxWait: sn.MaxWait, Mode: mode, Paused: p.Paused(),
			Disabled: g.isDisabled(p.Key.Database),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Database != out[j].Database {
			return out[i].Database < out[j].Database
		}
		return out[i].User < out[j].User
	})
	return out
}

// clientList copies the set of connected clients.
func (g *Gateway) clientList() []*client {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*client, 0, len(g.clients))
	for c := range g.clients {
		out = append(out, c)
	}
	return out
}

// poolKey is the pool a client belongs to; false until it has one. (A
// client still logging in has none, and its names are written by its own
// goroutine meanwhile: they are not for other goroutines to read.)
func (c *client) poolKey() (pool.Key, bool) {
	if p := c.pool.Load(); p != nil {
		return p.Key, true
	}
	return pool.Key{}, false
}

func splitAddr(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "unix", 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

func unixNanoTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Clients describes every client connection (SHOW CLIENTS), the console's
// own included, except those already told to go.
func (g *Gateway) Clients() []snapshot.Client {
	var out []snapshot.Client
	for _, c := range g.clientList() {
		if c.Killed() != nil || c.Aborted() {
			continue // on its way out (KILL, shutdown): gone for the console
		}
		if !c.ready.Load() {
			addr, port := splitAddr(c.Raw.RemoteAddr())
			out = append(out, snapshot.Client{ID: c.id, State: "login", Addr: addr, Port: port, ConnectTime: c.started})
			continue
		}
		addr, port := splitAddr(c.Raw.RemoteAddr())
		laddr, lport := splitAddr(c.Raw.LocalAddr())
		sc := snapshot.Client{
			ID: c.id, User: c.User, Database: c.dbname, State: session.State(c.State.Load()).String(),
			Addr: addr, Port: port, LocalAddr: laddr, LocalPort: lport,
			ConnectTime: c.started, RequestTime: unixNanoTime(c.RequestTime.Load()),
			TLS: tlsDescription(c), ApplicationName: c.params["application_name"],
			PreparedStatements: int(c.Prepared.Load()), Method: c.method,
		}
		if sc.State == "waiting" {
			sc.Wait = time.Since(unixNanoTime(c.WaitSince.Load()))
		}
		if s := c.Server(); s != nil {
			sc.Link = s.ID
		}
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func tlsDescription(c *client) string {
	if c.tls == nil {
		return ""
	}
	return tlsVersion(c) + "/" + strings.ReplaceAll(tlsCipherName(c.tls.CipherSuite), "TLS_", "")
}

// Servers describes every server connection: those linked to clients and
// the idle ones (SHOW SERVERS).
func (g *Gateway) Servers() []snapshot.Server {
	var out []snapshot.Server
	for _, c := range g.clientList() {
		if s := c.Server(); s != nil {
			ss := serverSnapshot(s, "active")
			ss.Link = c.id
			out = append(out, ss)
		}
	}
	for _, p := range g.pools.Pools() {
		for _, s := range p.Servers() {
			out = append(out, serverSnapshot(s, "idle"))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func serverSnapshot(s *pool.Server, state string) snapshot.Server {
	addr, port := splitAddr(s.Conn().RemoteAddr())
	if s.Network == "unix" {
		addr, port = s.Addr, 0
	}
	laddr, lport := splitAddr(s.Conn().LocalAddr())
	tlsv := ""
	if st := s.TLS(); st != nil {
		tlsv = tlsVersionName(st.Version) + "/" + strings.ReplaceAll(tlsCipherName(st.CipherSuite), "TLS_", "")
	}
	k := s.PoolKey()
	return snapshot.Server{
		ID: s.ID, User: k.User, Database: k.Database, State: state,
		Addr: addr, Port: port, LocalAddr: laddr, LocalPort: lport,
		ConnectTime: s.Created, RequestTime: s.LastUsed, RemotePID: s.PID, TLS: tlsv,
		ApplicationName: s.Params["application_name"],
	}
}

// Databases describes the [databases] entries (SHOW DATABASES).
func (g *Gateway) Databases() []snapshot.Database {
	st := g.state.Load()
	names := make([]string, 0, len(st.cfg.Databases))
	for n := range st.cfg.Databases {
		names = append(names, n)
	}
	sort.Strings(names)
	used := make(map[string]int)
	for _, p := range g.pools.Pools() {
		used[p.Key.Database] += p.Busy() + p.Snapshot().Idle
	}
	clients := make(map[string]int)
	for _, c := range g.clientList() {
		if c.ready.Load() {
			name := c.dbname
			if isConsoleDB(name) {
				name = "pgbouncer"
			}
			clients[name]++
		}
	}
	out := make([]snapshot.Database, 0, len(names)+1)
	// The console, as PgBouncer shows it: a database of its own, in
	// statement mode, whose clients are the console's sessions.
	out = append(out, snapshot.Database{
		Name: "pgbouncer", Port: st.cfg.General.ListenPort, Database: "pgbouncer", ForceUser: "pgbouncer",
		PoolSize: 2, PoolMode: string(config.PoolStatement), CurrentClientConnections: clients["pgbouncer"],
	})
	for _, n := range names {
		db := st.cfg.Databases[n]
		ps := st.cfg.Pool(db, "")
		out = append(out, snapshot.Database{
			Name: n, Host: strings.Join(db.Host, ","), Port: db.Port, Database: db.DBName,
			ForceUser: db.User, PoolSize: ps.Size, MinPoolSize: ps.MinSize, ReservePoolSize: ps.ReserveSize,
			ServerLifetime: ps.ServerLifetime, PoolMode: string(ps.Mode), LoadBalanceHosts: db.LoadBalanceHosts,
			MaxConnections: ps.MaxDBConnections, CurrentConnections: used[n],
			MaxClientConnections: ps.MaxDBClientConns, CurrentClientConnections: clients[n],
			Paused: g.dbPaused(n), Disabled: g.isDisabled(n), SNI: db.SNI,
		})
	}
	return out
}

// Users describes the users pgbun knows of: [users] entries and pool
// users (SHOW USERS).
func (g *Gateway) Users() []snapshot.User {
	st := g.state.Load()
	names := make(map[string]bool)
	for n := range st.cfg.Users {
		names[n] = true
	}
	servers := make(map[string]int)
	for _, p := range g.pools.Pools() {
		if in := g.info(p); in == nil {
			continue
		} else if _, ok := in.mode(); !ok {
			continue
		}
		names[p.Key.User] = true
		servers[p.Key.User] += p.Busy() + p.Snapshot().Idle
	}
	clients := make(map[string]int)
	for _, c := range g.clientList() {
		if c.ready.Load() {
			clients[c.User]++
		}
	}
	var out []snapshot.User
	for n := range names {
		ps := st.cfg.Pool(nil, n)
		u := snapshot.User{Name: n, PoolSize: ps.Size, ReservePoolSize: ps.ReserveSize,
			MaxUserConnections: ps.MaxUserConnections, CurrentConnections: servers[n],
			MaxUserClientConnections: ps.MaxUserClientConns, CurrentClientConnections: clients[n]}
		if e, ok := st.cfg.Users[n]; ok {
			u.PoolMode = string(e.PoolMode)
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Stats returns each database's counters (SHOW STATS).
func (g *Gateway) Stats() []snapshot.Stats {
	tot := g.totals()
	last, length := g.period.Last()
	out := make([]snapshot.Stats, 0, len(tot))
	for db, t := range tot {
		out = append(out, snapshot.Stats{Database: db, Total: t, Period: last[db], Seconds: length.Seconds()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Database < out[j].Database })
	return out
}

// Config lists every [pgbouncer] setting (SHOW CONFIG).
func (g *Gateway) Config() []snapshot.Config {
	var out []snapshot.Config
	for _, kv := range config.Settings(g.state.Load().cfg) {
		out = append(out, snapshot.Config{Key: kv.Key, Value: kv.Value, Default: kv.Default, Changeable: kv.Reloadable})
	}
	return out
}

// Peers lists [peers] (SHOW PEERS).
func (g *Gateway) Peers() []snapshot.Peer {
	st := g.state.Load()
	var out []snapshot.Peer
	for id, p := range st.cfg.Peers {
		out = append(out, snapshot.Peer{ID: id, Host: p.Host, Port: p.Port, PoolSize: p.PoolSize})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lists counts what SHOW LISTS shows.
func (g *Gateway) Lists() snapshot.Lists {
	st := g.state.Load()
	l := snapshot.Lists{Databases: len(st.cfg.Databases), Users: len(g.Users())}
	for _, p := range g.pools.Pools() {
		if isAuthPool(p.Key) {
			continue
		}
		l.Pools++
		sn := p.Snapshot()
		l.UsedServers += sn.Active
		l.FreeServers += sn.Idle
	}
	for _, c := range g.clientList() {
		if c.ready.Load() {
			l.UsedClients++
		} else {
			l.LoginClients++
		}
	}
	return l
}

// Certs describes the certificates served to clients (SHOW CERTS).
func (g *Gateway) Certs() []snapshot.Cert {
	st := g.state.Load()
	if st.certs == nil {
		return nil
	}
	var out []snapshot.Cert
	for _, i := range st.certs.Infos() {
		out = append(out, snapshot.Cert{Subject: i.Subject, Names: i.Names, Issuer: i.Issuer, Serial: i.Serial, NotAfter: i.NotAfter, Source: i.Source})
	}
	return out
}

// Lockouts lists sources and users the throttle locked out (SHOW THROTTLE).
func (g *Gateway) Lockouts() []snapshot.Lockout {
	var out []snapshot.Lockout
	for _, l := range g.throttle.Locked() {
		out = append(out, snapshot.Lockout{Kind: l.Kind, Key: l.Key, Until: l.Until, Failures: l.Failures, Offences: l.Offences})
	}
	return out
}

// State reports the process state (SHOW STATE).
func (g *Gateway) State() snapshot.State {
	g.mu.Lock()
	defer g.mu.Unlock()
	return snapshot.State{Active: !g.closing && !g.suspended && !g.allPaused, Paused: g.allPaused, Suspended: g.suspended}
}

// Version reports pgbun's version.
func (g *Gateway) Version() string { return "pgbun " + Version }
