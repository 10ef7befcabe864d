package admin

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// pgbouncerShows are PgBouncer's result sets (1.24/1.25): column names in
// order and their types in the letters of PgBouncer's RowDescription
// descriptors (s text, i int4, q int8, N numeric, T timestamp sent as
// text, b bytea), transcribed from its admin.c and stats.c. CERTS and
// THROTTLE are pgbun's own.
var pgbouncerShows = []struct {
	cmd   string
	cols  string
	types string
}{
	{"VERSION", "version", "s"},
	{"CONFIG", "key value default changeable", "ssss"},
	{"DATABASES", "name host port database force_user pool_size min_pool_size reserve_pool_size server_lifetime pool_mode load_balance_hosts max_connections current_connections max_client_connections current_client_connections paused disabled", "ssissiiiissiiiiii"},
	{"POOLS", "database user cl_active cl_waiting cl_active_cancel_req cl_waiting_cancel_req sv_active sv_active_cancel sv_being_canceled sv_idle sv_used sv_tested sv_login maxwait maxwait_us pool_mode load_balance_hosts", "ssiiiiiiiiiiiiiss"},
	{"CLIENTS", "type user database replication state addr port local_addr local_port connect_time request_time wait wait_us close_needed ptr link remote_pid tls application_name prepared_statements id", "ssssssisiTTiiississii"},
	{"SERVERS", "type user database replication state addr port local_addr local_port connect_time request_time wait wait_us close_needed ptr link remote_pid tls application_name prepared_statements id", "ssssssisiTTiiississii"},
	{"SOCKETS", "type user database replication state addr port local_addr local_port connect_time request_time wait wait_us close_needed ptr link remote_pid tls application_name prepared_statements id recv_pos pkt_pos pkt_remain send_pos send_remain pkt_avail send_avail", "ssssssisiTTiiississiiiiiiiii"},
	{"ACTIVE_SOCKETS", "type user database replication state addr port local_addr local_port connect_time request_time wait wait_us close_needed ptr link remote_pid tls application_name prepared_statements id recv_pos pkt_pos pkt_remain send_pos send_remain pkt_avail send_avail", "ssssssisiTTiiississiiiiiiiii"},
	{"USERS", "name pool_size reserve_pool_size pool_mode max_user_connections current_connections max_user_client_connections current_client_connections", "ssssiiii"},
	{"STATS", "database total_server_assignment_count total_xact_count total_query_count total_received total_sent total_xact_time total_query_time total_wait_time total_client_parse_count total_server_parse_count total_bind_count total_client_login_count avg_server_assignment_count avg_xact_count avg_query_count avg_recv avg_sent avg_xact_time avg_query_time avg_wait_time avg_client_parse_count avg_server_parse_count avg_bind_count avg_client_login_count", "sNNNNNNNNNNNNNNNNNNNNNNNN"},
	{"STATS_TOTALS", "database server_assignment_count xact_count query_count bytes_received bytes_sent xact_time query_time wait_time client_parse_count server_parse_count bind_count client_login_count", "sNNNNNNNNNNNN"},
	{"STATS_AVERAGES", "database server_assignment_count xact_count query_count bytes_received bytes_sent xact_time query_time wait_time avg_client_parse_count avg_server_parse_count avg_bind_count client_login_count", "sNNNNNNNNNNNN"},
	{"TOTALS", "name value", "sN"},
	{"LISTS", "list items", "si"},
	{"STATE", "key value", "ss"},
	{"PEERS", "peer_id host port pool_size", "isii"},
	{"PEER_POOLS", "peer_id cl_active_cancel_req cl_waiting_cancel_req sv_active_cancel sv_login", "iiiii"},
	{"FDS", "fd task user database addr port cancel link client_encoding std_strings datestyle timezone password scram_client_key scram_server_key", "issssiqisssssbb"},
	{"MEM", "name size used free memtotal", "siiii"},
	{"DNS_HOSTS", "hostname ttl addrs", "sqs"},
	{"DNS_ZONES", "zonename serial count", "sqi"},
	{"CERTS", "names subject issuer serial not_after source", "ssssTs"},
	{"THROTTLE", "kind key until failures offences", "ssTii"},
}

func typeOID(letter byte) uint32 {
	switch letter {
	case 'i':
		return 23
	case 'q':
		return 20
	case 'N':
		return 1700
	case 'b':
		return 17
	}
	return 25 // s, T
}

// sample is a Source with a little of everything.
func sample() *fakeSource {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &fakeSource{
		version: "PgBouncer 1.25.0 (pgbun test)",
		pools: []snapshot.Pool{{
			Database: "app", User: "alice", ClActive: 3, ClWaiting: 2, ClActiveCancel: 1, ClWaitingCancel: 4,
			SvActive: 5, SvActiveCancel: 6, SvBeingCanceled: 7, SvIdle: 8, SvUsed: 9, SvTested: 10, SvLogin: 11,
			MaxWait: 2*time.Second + 345678*time.Microsecond, Mode: "transaction",
		}},
		clients: []snapshot.Client{
			{ID: 7, User: "alice", Database: "app", State: "active", Addr: "10.1.2.3", Port: 50000,
				LocalAddr: "10.0.0.1", LocalPort: 6432, ConnectTime: t0, RequestTime: t0.Add(time.Minute),
				Link: 12, TLS: "TLSv1.3/AES_128_GCM_SHA256", ApplicationName: "psql", PreparedStatements: 2},
			{ID: 8, User: "bob", Database: "app", State: "waiting", Addr: "10.1.2.4", Port: 50001,
				ConnectTime: t0, RequestTime: t0, Wait: 3*time.Second + 250*time.Microsecond},
			{ID: 9, User: "carol", Database: "app", State: "active", Addr: "unix", ConnectTime: t0, RequestTime: t0},
			{ID: 10, State: "login", Addr: "10.1.2.5", Port: 50002, ConnectTime: t0},
		},
		servers: []snapshot.Server{
			{ID: 12, User: "alice", Database: "app", State: "active", Addr: "10.9.9.9", Port: 5432,
				ConnectTime: t0, RequestTime: t0, Link: 7, RemotePID: 4242, CloseNeeded: true, ApplicationName: "psql"},
			{ID: 13, User: "alice", Database: "app", State: "login", Addr: "10.9.9.9", Port: 5432, ConnectTime: t0, RequestTime: t0},
			{ID: 14, User: "alice", Database: "app", State: "idle", Addr: "10.9.9.9", Port: 5432, ConnectTime: t0, RequestTime: t0,
				RemotePID: 0xFFFFFFFE},
		},
		databases: []snapshot.Database{
			{Name: "app", Host: "10.9.9.9", Port: 5432, Database: "appdb", PoolSize: 20, MinPoolSize: 1, ReservePoolSize: 2,
				ServerLifetime: time.Hour, LoadBalanceHosts: "round-robin", MaxConnections: 50, CurrentConnections: 7,
				MaxClientConnections: 100, CurrentClientConnections: 30, Paused: true},
			{Name: "multi", Host: "a.example,b.example", Port: 5433, Database: "multi", ForceUser: "svc", PoolSize: 5,
				PoolMode: "session", LoadBalanceHosts: "disable", Disabled: true},
		},
		users: []snapshot.User{
			{Name: "alice", PoolSize: 10, ReservePoolSize: -1, PoolMode: "statement", MaxUserConnections: 30,
				CurrentConnections: 4, MaxUserClientConnections: 60, CurrentClientConnections: 9},
			{Name: "bob", PoolSize: -1, ReservePoolSize: 3},
		},
		stats: []snapshot.Stats{
			{Database: "app", Seconds: 60,
				Total: snapshot.Counters{ServerAssignments: 1000, Transactions: 900, Queries: 2700, Received: 1 << 20, Sent: 1 << 21,
					XactTime: 90 * time.Second, QueryTime: 27 * time.Second, WaitTime: 5 * time.Second,
					ClientParses: 11, ServerParses: 12, Binds: 13, ClientLogins: 120},
				Period: snapshot.Counters{ServerAssignments: 120, Transactions: 600, Queries: 1200, Received: 6000, Sent: 60000,
					XactTime: 6 * time.Second, QueryTime: 3 * time.Second, WaitTime: 240 * time.Millisecond,
					ClientParses: 60, ServerParses: 30, Binds: 600, ClientLogins: 90}},
			{Database: "other", Seconds: 60,
				Total:  snapshot.Counters{Transactions: 100, Queries: 300, XactTime: 10 * time.Second},
				Period: snapshot.Counters{Transactions: 600, Queries: 600, XactTime: 18 * time.Second}},
		},
		config: []snapshot.Config{
			{Key: "default_pool_size", Value: "20", Default: "20", Changeable: true},
			{Key: "listen_port", Value: "6432", Default: "6432", Changeable: false},
		},
		state: snapshot.State{Paused: true},
		peers: []snapshot.Peer{{ID: 1, Host: "10.0.0.2", Port: 6432, PoolSize: 4, SvLogin: 1}, {ID: 2, Host: "10.0.0.3", Port: 6433, PoolSize: 8}},
		lists: snapshot.Lists{Databases: 2, Users: 2, Pools: 1, FreeClients: 5, UsedClients: 4, LoginClients: 1, FreeServers: 2, UsedServers: 3},
		certs: []snapshot.Cert{{Subject: "CN=db.example", Names: []string{"db.example", "*.db.example"}, Issuer: "CN=Test CA",
			Serial: "0a1b", NotAfter: t0.Add(90 * 24 * time.Hour), Source: "acme"}},
		lockouts: []snapshot.Lockout{{Kind: "address", Key: "192.0.2.7", Until: t0.Add(time.Minute), Failures: 5, Offences: 2}},
	}
}

func TestShowColumns(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{Admin: true, PID: 1, Secret: []byte{1, 2, 3, 4}})
	conn := c.connect(t, nil)
	for _, tc := range pgbouncerShows {
		t.Run(tc.cmd, func(t *testing.T) {
			r := mustExec(t, conn, "SHOW "+tc.cmd)
			if got, want := strings.Join(r.cols, " "), tc.cols; got != want {
				t.Fatalf("columns\n got %s\nwant %s", got, want)
			}
			for i, oid := range r.oids {
				if want := typeOID(tc.types[i]); oid != want {
					t.Errorf("column %s: type %d, want %d", r.cols[i], oid, want)
				}
			}
			if r.tag != "SHOW" {
				t.Errorf("tag %q, want SHOW", r.tag)
			}
		})
	}
}

// TestShowTypesDecode checks that every value parses as its column's
// declared type, as a client decoding the types would.
func TestShowTypesDecode(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{Admin: true})
	conn := c.connect(t, nil)
	for _, tc := range pgbouncerShows {
		r := mustExec(t, conn, "SHOW "+tc.cmd)
		for _, row := range r.rows {
			for i, v := range row {
				if v == nil || r.oids[i] == 25 || r.oids[i] == 17 {
					continue
				}
				var err error
				switch r.oids[i] {
				case 23:
					_, err = strconv.ParseInt(*v, 10, 32)
				case 20:
					_, err = strconv.ParseInt(*v, 10, 64)
				case 1700:
					_, err = strconv.ParseUint(*v, 10, 64)
				}
				if err != nil {
					t.Errorf("%s.%s = %q: %v", tc.cmd, r.cols[i], *v, err)
				}
			}
		}
	}
}

func TestShowPoolsDatabasesUsers(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{Admin: false})
	conn := c.connect(t, nil)

	p := mustExec(t, conn, "show pools;")
	want := map[string]string{
		"database": "app", "user": "alice", "cl_active": "3", "cl_waiting": "2", "cl_active_cancel_req": "1",
		"cl_waiting_cancel_req": "4", "sv_active": "5", "sv_active_cancel": "6", "sv_being_canceled": "7",
		"sv_idle": "8", "sv_used": "9", "sv_tested": "10", "sv_login": "11", "maxwait": "2", "maxwait_us": "345678",
		"pool_mode": "transaction", "load_balance_hosts": "<null>",
	}
	for col, v := range want {
		if got := p.val(0, col); got != v {
			t.Errorf("pools.%s = %q, want %q", col, got, v)
		}
	}

	d := mustExec(t, conn, "SHOW DATABASES")
	if len(d.rows) != 2 {
		t.Fatalf("%d databases", len(d.rows))
	}
	for _, tc := range []struct {
		row       int
		col, want string
	}{
		{0, "name", "app"}, {0, "host", "10.9.9.9"}, {0, "database", "appdb"}, {0, "force_user", "<null>"},
		{0, "server_lifetime", "3600"}, {0, "pool_mode", "<null>"}, {0, "load_balance_hosts", "<null>"},
		{0, "paused", "1"}, {0, "disabled", "0"}, {0, "current_client_connections", "30"},
		{1, "force_user", "svc"}, {1, "pool_mode", "session"}, {1, "load_balance_hosts", "disable"},
		{1, "paused", "0"}, {1, "disabled", "1"}, {1, "port", "5433"},
	} {
		if got := d.val(tc.row, tc.col); got != tc.want {
			t.Errorf("databases[%d].%s = %q, want %q", tc.row, tc.col, got, tc.want)
		}
	}

	u := mustExec(t, conn, "SHOW USERS")
	for _, tc := range []struct {
		row       int
		col, want string
	}{
		{0, "pool_size", "10"}, {0, "reserve_pool_size", ""}, {0, "pool_mode", "statement"},
		{0, "max_user_connections", "30"}, {0, "current_client_connections", "9"},
		{1, "pool_size", ""}, {1, "reserve_pool_size", "3"}, {1, "pool_mode", "<null>"},
	} {
		if got := u.val(tc.row, tc.col); got != tc.want {
			t.Errorf("users[%d].%s = %q, want %q", tc.row, tc.col, got, tc.want)
		}
	}
}

func TestShowSockets(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{Admin: true})
	conn := c.connect(t, nil)
	stampRE := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z+\-0-9]+$`)

	cl := mustExec(t, conn, "SHOW CLIENTS")
	if len(cl.rows) != 3 {
		t.Fatalf("%d clients, want 3 (the one logging in is left out)", len(cl.rows))
	}
	wantClients := []map[string]string{
		{"type": "C", "user": "alice", "state": "active", "replication": "none", "ptr": "c7", "link": "s12", "id": "7",
			"wait": "0", "wait_us": "0", "tls": "TLSv1.3/AES_128_GCM_SHA256", "application_name": "psql", "prepared_statements": "2",
			"local_port": "6432", "close_needed": "0"},
		{"state": "waiting", "wait": "3", "wait_us": "250", "link": ""},
		{"state": "idle", "addr": "unix"}, // active without a server: PgBouncer shows idle
	}
	for i, w := range wantClients {
		for col, v := range w {
			if got := cl.val(i, col); got != v {
				t.Errorf("clients[%d].%s = %q, want %q", i, col, got, v)
			}
		}
	}
	if got := cl.val(0, "connect_time"); !stampRE.MatchString(got) {
		t.Errorf("connect_time %q not in PgBouncer's format", got)
	}
	if got, want := cl.val(0, "connect_time"), time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).Local().Format("2006-01-02 15:04:05 MST"); got != want {
		t.Errorf("connect_time %q, want %q", got, want)
	}

	sv := mustExec(t, conn, "SHOW SERVERS")
	wantServers := []map[string]string{
		{"type": "S", "state": "active", "ptr": "s12", "link": "c7", "remote_pid": "4242", "close_needed": "1"},
		{"state": "new", "link": ""},
		{"state": "idle", "remote_pid": "-2"},
	}
	for i, w := range wantServers {
		for col, v := range w {
			if got := sv.val(i, col); got != v {
				t.Errorf("servers[%d].%s = %q, want %q", i, col, got, v)
			}
		}
	}

	so := mustExec(t, conn, "SHOW SOCKETS")
	var states []string
	for i := range so.rows {
		states = append(states, so.val(i, "type")+":"+so.val(i, "state"))
		if so.val(i, "recv_pos") != "0" || so.val(i, "send_avail") != "0" {
			t.Errorf("socket %d: buffer columns not 0", i)
		}
	}
	if got, want := strings.Join(states, " "), "C:cl_active C:cl_waiting C:cl_active S:sv_active S:sv_login S:sv_idle C:cl_login"; got != want {
		t.Errorf("socket states\n got %s\nwant %s", got, want)
	}
	if so.val(6, "user") != "(nouser)" || so.val(6, "database") != "(nodb)" {
		t.Errorf("login client shows user %q database %q", so.val(6, "user"), so.val(6, "database"))
	}

	as := mustExec(t, conn, "SHOW ACTIVE_SOCKETS")
	var ptrs []string
	for i := range as.rows {
		ptrs = append(ptrs, as.val(i, "ptr"))
	}
	if got := strings.Join(ptrs, " "); got != "c7 s12" {
		t.Errorf("active sockets %s, want the linked pair c7 s12", got)
	}
}

func TestShowStats(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{})
	conn := c.connect(t, nil)

	st := mustExec(t, conn, "SHOW STATS")
	for col, v := range map[string]string{
		"database": "app", "total_server_assignment_count": "1000", "total_xact_count": "900", "total_query_count": "2700",
		"total_received": "1048576", "total_sent": "2097152",
		"total_xact_time": "90000000", "total_query_time": "27000000", "total_wait_time": "5000000",
		"total_client_parse_count": "11", "total_server_parse_count": "12", "total_bind_count": "13",
		"total_client_login_count": "120",
		// Per second over 60 s.
		"avg_server_assignment_count": "2", "avg_xact_count": "10", "avg_query_count": "20",
		"avg_recv": "100", "avg_sent": "1000", "avg_client_parse_count": "1", "avg_server_parse_count": "0", "avg_bind_count": "10",
		"avg_client_login_count": "1",
		// Durations in µs: 6 s over 600 transactions, 3 s over 1200 queries, 240 ms over 120 assignments.
		"avg_xact_time": "10000", "avg_query_time": "2500", "avg_wait_time": "2000",
	} {
		if got := st.val(0, col); got != v {
			t.Errorf("stats.%s = %q, want %q", col, got, v)
		}
	}
	if st.val(1, "avg_wait_time") != "0" {
		t.Errorf("avg_wait_time without assignments = %q, want 0", st.val(1, "avg_wait_time"))
	}

	tot := mustExec(t, conn, "SHOW STATS_TOTALS")
	if tot.val(0, "xact_time") != "90000000" || tot.val(1, "query_count") != "300" {
		t.Errorf("stats_totals: xact_time %q, query_count %q", tot.val(0, "xact_time"), tot.val(1, "query_count"))
	}
	avg := mustExec(t, conn, "SHOW STATS_AVERAGES")
	if avg.val(0, "xact_time") != "10000" || avg.val(0, "avg_bind_count") != "10" || avg.val(1, "xact_time") != "30000" {
		t.Errorf("stats_averages: %v", avg.rows)
	}

	totals := mustExec(t, conn, "SHOW TOTALS")
	got := map[string]string{}
	var names []string
	for i := range totals.rows {
		names = append(names, totals.val(i, "name"))
		got[totals.val(i, "name")] = totals.val(i, "value")
	}
	if len(names) != 24 || names[0] != "total_server_assignment_count" || names[3] != "total_client_bytes" || names[11] != "total_client_login_count" || names[12] != "avg_server_assignment_count" {
		t.Errorf("totals rows %v", names)
	}
	for name, v := range map[string]string{
		"total_xact_count": "1000", "total_query_count": "3000", "total_xact_time": "100000000",
		"avg_xact_count": "20",    // 10/s + 10/s
		"avg_xact_time":  "20000", // (6 s + 18 s) / 1200 transactions
		"avg_query_time": "1666",  // (3 s + 0 s) / 1800 queries
	} {
		if got[name] != v {
			t.Errorf("totals %s = %q, want %q", name, got[name], v)
		}
	}
}

func TestShowMisc(t *testing.T) {
	src := sample()
	c := startConsole(t, src, &fakeCtl{}, Options{Admin: true})
	var notices []*pgconn.Notice
	conn := c.connect(t, func(cfg *pgconn.Config) {
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n) }
	})

	if v := mustExec(t, conn, "SHOW VERSION"); v.val(0, "version") != src.version {
		t.Errorf("version %q", v.val(0, "version"))
	}
	if v := mustExec(t, conn, "select version"); v.val(0, "version") != src.version {
		t.Errorf("SELECT version gave %q", v.val(0, "version"))
	}
	cfg := mustExec(t, conn, "SHOW CONFIG")
	if cfg.val(0, "changeable") != "yes" || cfg.val(1, "changeable") != "no" || cfg.val(1, "key") != "listen_port" {
		t.Errorf("config rows %v", cfg.rows)
	}

	l := mustExec(t, conn, "SHOW LISTS")
	var lists []string
	for i := range l.rows {
		lists = append(lists, l.val(i, "list")+"="+l.val(i, "items"))
	}
	if got, want := strings.Join(lists, " "), "databases=2 users=2 peers=2 pools=1 peer_pools=2 free_clients=5 used_clients=4 login_clients=1 free_servers=2 used_servers=3 dns_names=0 dns_zones=0 dns_queries=0 dns_pending=0"; got != want {
		t.Errorf("lists\n got %s\nwant %s", got, want)
	}

	s := mustExec(t, conn, "SHOW STATE")
	if s.val(0, "value") != "no" || s.val(1, "value") != "yes" || s.val(2, "value") != "no" || s.val(1, "key") != "paused" {
		t.Errorf("state %v", s.rows)
	}
	pp := mustExec(t, conn, "SHOW PEER_POOLS")
	if len(pp.rows) != 2 || pp.val(0, "sv_login") != "1" || pp.val(1, "peer_id") != "2" || pp.val(1, "sv_login") != "0" {
		t.Errorf("peer_pools %v", pp.rows)
	}
	if p := mustExec(t, conn, "SHOW PEERS"); p.val(1, "port") != "6433" || p.val(0, "pool_size") != "4" {
		t.Errorf("peers %v", p.rows)
	}
	if f := mustExec(t, conn, "SHOW FDS"); len(f.rows) != 0 {
		t.Errorf("fds lists %d rows", len(f.rows))
	}
	m := mustExec(t, conn, "SHOW MEM")
	if len(m.rows) == 0 || m.val(0, "name") != "heap_objects" || m.val(0, "used") == "0" {
		t.Errorf("mem %v", m.rows)
	}
	ce := mustExec(t, conn, "SHOW CERTS")
	if ce.val(0, "names") != "db.example,*.db.example" || ce.val(0, "source") != "acme" || ce.val(0, "serial") != "0a1b" {
		t.Errorf("certs %v", ce.rows)
	}
	th := mustExec(t, conn, "SHOW THROTTLE")
	if th.val(0, "key") != "192.0.2.7" || th.val(0, "failures") != "5" || th.val(0, "offences") != "2" {
		t.Errorf("throttle %v", th.rows)
	}

	h := mustExec(t, conn, "show help")
	if h.tag != "SHOW" || len(h.cols) != 0 {
		t.Errorf("help: tag %q, %d columns", h.tag, len(h.cols))
	}
	if len(notices) != 1 || notices[0].Message != "Console usage" || !strings.Contains(notices[0].Detail, "SHOW CERTS|THROTTLE") || !strings.Contains(notices[0].Detail, "KILL_CLIENT <client_id>") {
		t.Errorf("help notice %+v", notices)
	}

	// Settings some drivers read on connect.
	ce2 := mustExec(t, conn, "SHOW client_encoding")
	if strings.Join(ce2.cols, ",") != "client_encoding" || ce2.val(0, "client_encoding") != "UTF-8" {
		t.Errorf("fake client_encoding %v %v", ce2.cols, ce2.rows)
	}
}

func TestStatsUserRefusedFDs(t *testing.T) {
	c := startConsole(t, sample(), &fakeCtl{}, Options{Admin: false})
	conn := c.connect(t, nil)
	_, err := exec(t, conn, "SHOW FDS")
	pgErr(t, err, "08P01", "admin access needed")
	mustExec(t, conn, "SHOW POOLS")
}

func TestShowManyRows(t *testing.T) {
	src := sample()
	src.clients = nil
	for i := range 5000 {
		src.clients = append(src.clients, snapshot.Client{ID: uint64(i + 1), User: "u", Database: "d", State: "idle",
			ApplicationName: strings.Repeat("x", 40)})
	}
	c := startConsole(t, src, &fakeCtl{}, Options{})
	conn := c.connect(t, nil)
	r := mustExec(t, conn, "SHOW CLIENTS")
	if len(r.rows) != 5000 || r.val(4999, "id") != "5000" {
		t.Fatalf("%d rows", len(r.rows))
	}
}
