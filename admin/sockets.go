package admin

import (
	"strconv"
	"time"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// socketCols are SHOW CLIENTS' and SHOW SERVERS' columns; SOCKETS and
// ACTIVE_SOCKETS add socketDebugCols.
var socketCols = []column{
	{"type", kText}, {"user", kText}, {"database", kText}, {"replication", kText}, {"state", kText},
	{"addr", kText}, {"port", kInt4}, {"local_addr", kText}, {"local_port", kInt4},
	{"connect_time", kText}, {"request_time", kText}, {"wait", kInt4}, {"wait_us", kInt4},
	{"close_needed", kInt4}, {"ptr", kText}, {"link", kText}, {"remote_pid", kInt4},
	{"tls", kText}, {"application_name", kText}, {"prepared_statements", kInt4}, {"id", kInt4},
}

// socketDebugCols describe PgBouncer's packet buffers. pgbun forwards
// through buffers that belong to no connection, so they are all 0.
var socketDebugCols = []column{
	{"recv_pos", kInt4}, {"pkt_pos", kInt4}, {"pkt_remain", kInt4},
	{"send_pos", kInt4}, {"send_remain", kInt4}, {"pkt_avail", kInt4}, {"send_avail", kInt4},
}

var socketAllCols = append(append([]column{}, socketCols...), socketDebugCols...)

// sock is a client or server connection as one row shows it.
type sock struct {
	typ              string // "C" or "S"
	user, db         string
	replication      string
	state            string
	addr             string
	port             int
	localAddr        string
	localPort        int
	connect, request time.Time
	wait             time.Duration
	closeNeeded      bool
	id, link         uint64
	pid              uint32
	tls, app         string
	prepared         int
}

func clientSock(c *snapshot.Client) sock {
	return sock{typ: "C", user: c.User, db: c.Database, replication: c.Replication, state: c.State,
		addr: c.Addr, port: c.Port, localAddr: c.LocalAddr, localPort: c.LocalPort,
		connect: c.ConnectTime, request: c.RequestTime, wait: c.Wait, closeNeeded: c.CloseNeeded,
		id: c.ID, link: c.Link, pid: c.RemotePID, tls: c.TLS, app: c.ApplicationName, prepared: c.PreparedStatements}
}

func serverSock(sv *snapshot.Server) sock {
	return sock{typ: "S", user: sv.User, db: sv.Database, replication: sv.Replication, state: sv.State,
		addr: sv.Addr, port: sv.Port, localAddr: sv.LocalAddr, localPort: sv.LocalPort,
		connect: sv.ConnectTime, request: sv.RequestTime, closeNeeded: sv.CloseNeeded,
		id: sv.ID, link: sv.Link, pid: sv.RemotePID, tls: sv.TLS, app: sv.ApplicationName, prepared: sv.PreparedStatements}
}

// ref names a connection in the ptr and link columns. PgBouncer prints
// object addresses; pgbun prints "c<id>" for clients and "s<id>" for
// servers, unique across both, so a client's link is its server's ptr
// and the other way round.
func ref(typ string, id uint64) string {
	prefix := "c"
	if typ == "S" {
		prefix = "s"
	}
	return prefix + strconv.FormatUint(id, 10)
}

// row appends x to rs in state state, with the debug columns if debug.
func (x *sock) row(rs *resultSet, state string, debug bool) {
	user, db, repl := x.user, x.db, x.replication
	if user == "" {
		user = "(nouser)"
	}
	if db == "" {
		db = "(nodb)"
	}
	if repl == "" {
		repl = "none"
	}
	// PgBouncer's rule: an "active" connection without a partner is idle.
	if state == "active" && x.link == 0 {
		state = "idle"
	}
	link := ""
	if x.link != 0 {
		other := "S"
		if x.typ == "S" {
			other = "C"
		}
		link = ref(other, x.link)
	}
	sec, us := splitWait(x.wait)
	// remote_pid is PgBouncer's signed int4 (a server's cancel key may use
	// all 32 bits); id is printed whole, as KILL_CLIENT takes it.
	vals := []cell{
		txt(x.typ), txt(user), txt(db), txt(repl), txt(state),
		txt(x.addr), inum(x.port), txt(x.localAddr), inum(x.localPort),
		stamp(x.connect), stamp(x.request), sec, us,
		flag(x.closeNeeded), txt(ref(x.typ, x.id)), txt(link), num(int64(int32(x.pid))),
		txt(x.tls), txt(x.app), inum(x.prepared), unum(x.id),
	}
	if debug {
		for range socketDebugCols {
			vals = append(vals, txt("0"))
		}
	}
	rs.row(vals...)
}

// showClients lists logged-in clients; clients still logging in appear in
// SHOW SOCKETS only, as in PgBouncer.
func (s *session) showClients() error {
	rs := s.result(socketCols)
	for _, c := range s.src.Clients() {
		if c.State == "login" {
			continue
		}
		x := clientSock(&c)
		x.row(rs, c.State, false)
	}
	return rs.done()
}

func (s *session) showServers() error {
	rs := s.result(socketCols)
	for _, sv := range s.src.Servers() {
		state := sv.State
		if state == "login" {
			state = "new" // PgBouncer's name for a server logging in
		}
		x := serverSock(&sv)
		x.row(rs, state, false)
	}
	return rs.done()
}

// showSockets lists every connection with PgBouncer's list names as
// state. ACTIVE_SOCKETS keeps PgBouncer's sockets with unsent or unparsed
// bytes; pgbun cannot see those, so it lists the connections that are
// linked to a partner (in the middle of a transaction or query), the ones
// whose buffers can hold data in flight.
func (s *session) showSockets(activeOnly bool) error {
	rs := s.result(socketAllCols)
	var login []snapshot.Client
	for _, c := range s.src.Clients() {
		if c.State == "login" {
			login = append(login, c)
			continue
		}
		if activeOnly && c.Link == 0 {
			continue
		}
		x := clientSock(&c)
		x.row(rs, socketState("cl_", c.State), true)
	}
	for _, sv := range s.src.Servers() {
		if activeOnly && sv.Link == 0 {
			continue
		}
		x := serverSock(&sv)
		x.row(rs, socketState("sv_", sv.State), true)
	}
	if !activeOnly {
		for _, c := range login {
			x := clientSock(&c)
			x.row(rs, "cl_login", true)
		}
	}
	return rs.done()
}

// socketState names the PgBouncer list a connection in state would be
// on: clients idle or active are both on the active list, servers logging
// in on the login list.
func socketState(prefix, state string) string {
	switch state {
	case "idle":
		if prefix == "cl_" {
			return "cl_active"
		}
	case "new", "login":
		return prefix + "login"
	case "":
		return prefix + "active"
	}
	return prefix + state
}
