package gateway_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/pgtest"
	"github.com/pgbun/pgbun/metrics"
	"go.uber.org/goleak"
)

// console opens the admin console as user (simple protocol only).
func (p *proxy) console(t *testing.T, user, password string) *pgconn.PgConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, p.url(user, password, "pgbouncer"))
	if err != nil {
		t.Fatalf("console as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func show(t *testing.T, c *pgconn.PgConn, cmd string) ([]string, [][]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Exec(ctx, cmd).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	r := res[len(res)-1]
	if r.Err != nil {
		t.Fatalf("%s: %v", cmd, r.Err)
	}
	var cols []string
	for _, f := range r.FieldDescriptions {
		cols = append(cols, f.Name)
	}
	var rows [][]string
	for _, row := range r.Rows {
		var vals []string
		for _, v := range row {
			vals = append(vals, string(v))
		}
		rows = append(rows, vals)
	}
	return cols, rows
}

func col(cols []string, row []string, name string) string {
	for i, c := range cols {
		if c == name {
			return row[i]
		}
	}
	return "<no column " + name + ">"
}

// TestConsole: SHOW commands with PgBouncer's columns, control commands,
// stats users limited to SHOW.
func TestConsole(t *testing.T) {
	p := start(t, setup{general: map[string]string{"admin_users": scramUser, "stats_users": md5User, "pool_mode": "transaction", "auth_type": "md5"}})
	client := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, client, "select 'traffic'")
	adm := p.console(t, scramUser, scramPass)
	cols, rows := show(t, adm, "SHOW POOLS")
	want := "database,user,cl_active,cl_waiting,cl_active_cancel_req,cl_waiting_cancel_req,sv_active,sv_active_cancel,sv_being_canceled,sv_idle,sv_used,sv_tested,sv_login,maxwait,maxwait_us,pool_mode,load_balance_hosts"
	if strings.Join(cols, ",") != want {
		t.Fatalf("SHOW POOLS columns:\n%s\nwant\n%s", strings.Join(cols, ","), want)
	}
	var found bool
	for _, r := range rows {
		if col(cols, r, "database") == appDB && col(cols, r, "user") == scramUser {
			found = true
			if col(cols, r, "pool_mode") != "transaction" || col(cols, r, "cl_active") != "1" {
				t.Fatalf("pool row %v", r)
			}
		}
	}
	if !found {
		t.Fatalf("no pool row for %s/%s: %v", appDB, scramUser, rows)
	}
	cols, rows = show(t, adm, "SHOW STATS")
	for _, r := range rows {
		if col(cols, r, "database") == appDB {
			if n, _ := strconv.Atoi(col(cols, r, "total_xact_count")); n < 1 {
				t.Fatalf("SHOW STATS row %v", r)
			}
		}
	}
	// The console is a database of its own, as in PgBouncer, whose
	// clients include this very session.
	cols, rows = show(t, adm, "SHOW DATABASES")
	var console bool
	for _, r := range rows {
		if col(cols, r, "name") == "pgbouncer" {
			console = col(cols, r, "pool_mode") == "statement" && col(cols, r, "current_client_connections") == "1"
		}
	}
	if !console {
		t.Fatalf("SHOW DATABASES lacks the console's row: %v", rows)
	}
	for _, cmd := range []string{"SHOW CLIENTS", "SHOW SERVERS", "SHOW DATABASES", "SHOW USERS", "SHOW CONFIG",
		"SHOW LISTS", "SHOW VERSION", "SHOW STATE", "SHOW HELP", "SHOW CERTS", "SHOW THROTTLE",
		"SHOW STATS_TOTALS", "SHOW STATS_AVERAGES", "SHOW TOTALS", "SHOW SOCKETS", "SHOW ACTIVE_SOCKETS", "SHOW PEERS", "SHOW PEER_POOLS"} {
		show(t, adm, cmd)
	}
	cols, rows = show(t, adm, "SHOW CLIENTS")
	var id string
	for _, r := range rows {
		if col(cols, r, "user") == scramUser && col(cols, r, "database") == appDB {
			id = col(cols, r, "id")
		}
	}
	if id == "" {
		t.Fatalf("client not in SHOW CLIENTS: %v %v", cols, rows)
	}
	// SET applies at once; SHOW CONFIG shows it.
	show(t, adm, "SET default_pool_size = 3")
	cols, rows = show(t, adm, "SHOW CONFIG")
	for _, r := range rows {
		if r[0] == "default_pool_size" && r[1] != "3" {
			t.Fatalf("after SET: %v", r)
		}
	}
	// PAUSE holds new transactions; RESUME lets them through.
	show(t, adm, "PAUSE "+appDB)
	done := make(chan error, 1)
	go func() {
		_, err := client.Exec(context.Background(), "select 1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("query ran while paused: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	show(t, adm, "RESUME "+appDB)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	show(t, adm, "RECONNECT "+appDB)
	show(t, adm, "DISABLE "+appDB)
	if err := tryConnect(p.url(scramUser, scramPass, appDB)); err == nil || !strings.Contains(err.Error(), `database "appdb" is disabled`) {
		t.Fatalf("DISABLE: %v", err)
	}
	show(t, adm, "ENABLE "+appDB)
	p.connect(t, scramUser, scramPass, appDB)
	show(t, adm, "KILL_CLIENT "+id)
	if _, err := client.Exec(context.Background(), "select 1"); err == nil {
		t.Fatal("killed client still works")
	}
	// A stats user may look but not touch.
	st := p.console(t, md5User, md5Pass)
	show(t, st, "SHOW POOLS")
	_, err := st.Exec(context.Background(), "PAUSE").ReadAll()
	if err == nil || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("stats user ran PAUSE: %v", err)
	}
	// psql works against the console too.
	out, err := exec.Command("psql", p.url(scramUser, scramPass, "pgbouncer"), "-XAtc", "SHOW VERSION").CombinedOutput()
	_ = out
	if err != nil || !strings.Contains(string(out), "pgbun") {
		t.Fatalf("psql SHOW VERSION: %v %s", err, out)
	}
}

// TestReloadKeepsClients: a reload changes the pool size and the
// certificate while a client stays connected; new clients see the new
// certificate.
func TestReloadKeepsClients(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	issue := func() string {
		kp, err := f.ca.IssueServer([]string{"localhost", "127.0.0.1"}, pgtest.ECDSAP256, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, k, _ := kp.WriteFiles(dir, "new")
		os.Rename(c, certFile)
		os.Rename(k, keyFile)
		return kp.Cert.SerialNumber.String()
	}
	first := issue()
	p := start(t, setup{general: map[string]string{"client_tls_cert_file": certFile, "client_tls_key_file": keyFile, "default_pool_size": "2"}})
	c := p.connect(t, scramUser, scramPass, appDB)
	if s := clientTLS(t, c).PeerCertificates[0].SerialNumber.String(); s != first {
		t.Fatalf("serial %s, want %s", s, first)
	}
	second := issue()
	b, _ := os.ReadFile(p.ini)
	os.WriteFile(p.ini, []byte(strings.Replace(string(b), "default_pool_size = 2", "default_pool_size = 7", 1)), 0o600)
	cfg, err := config.Load(p.ini)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.gw.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	queryString(t, c, "select 'still here'")
	c2 := p.connect(t, scramUser, scramPass, appDB)
	if s := clientTLS(t, c2).PeerCertificates[0].SerialNumber.String(); s != second {
		t.Fatalf("new client got serial %s, want %s", s, second)
	}
	for _, pl := range p.gw.Pools() {
		if pl.Database == appDB {
			for _, d := range p.gw.Databases() {
				if d.Name == appDB && d.PoolSize != 7 {
					t.Fatalf("pool size after reload: %d", d.PoolSize)
				}
			}
		}
	}
	// A broken configuration keeps the running one.
	os.WriteFile(p.ini, []byte("[pgbouncer]\nlisten_port = nope\n"), 0o600)
	if _, err := config.Load(p.ini); err == nil {
		t.Fatal("broken file loaded")
	}
}

// TestShutdownWaitsForClients: SHUTDOWN WAIT_FOR_CLIENTS lets a transaction
// finish and the client leave; new clients are refused meanwhile.
func TestShutdownWaitsForClients(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, c, "begin")
	exec1(t, c, "select 1")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- p.gw.Shutdown(ctx)
	}()
	time.Sleep(200 * time.Millisecond)
	if err := tryConnect(p.url(scramUser, scramPass, appDB)); err == nil {
		t.Fatal("a new client got in during shutdown")
	}
	exec1(t, c, "commit")
	c.Close(context.Background())
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestShutdownAfterServers: WAIT_FOR_SERVERS lets the transaction in
// flight finish, then closes the client with a clear message.
func TestShutdownAfterServers(t *testing.T) {
	p := start(t, setup{general: map[string]string{"pool_mode": "transaction"}})
	c := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, c, "begin")
	exec1(t, c, "select 1")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- p.gw.ShutdownAfterServers(ctx)
	}()
	time.Sleep(200 * time.Millisecond)
	exec1(t, c, "select 2") // the transaction goes on
	exec1(t, c, "commit")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, err := c.Exec(context.Background(), "select 3")
	if err == nil || !strings.Contains(err.Error(), "shutting down") && !c.IsClosed() {
		t.Fatalf("after shutdown: %v", err)
	}
}

// TestPeersForwardCancel: two pgbun behind one address; a cancel that
// reaches the wrong one is forwarded to the owner of the client.
func TestPeersForwardCancel(t *testing.T) {
	pa, _ := pgtest.FreePort()
	pb, _ := pgtest.FreePort()
	peers := fmt.Sprintf("[peers]\n1 = host=127.0.0.1 port=%d\n2 = host=127.0.0.1 port=%d\n", pa, pb)
	a := start(t, setup{port: pa, extra: peers, general: map[string]string{"peer_id": "1"}})
	// a's certificate watcher may still be starting when b takes its
	// goroutine snapshot; b must not count a's goroutines as its own.
	b := start(t, setup{port: pb, extra: peers, general: map[string]string{"peer_id": "2"},
		leakIgnores: []goleak.Option{goleak.IgnoreAnyFunction("github.com/fsnotify/fsnotify.(*inotify).readEvents")}})
	c := a.connect(t, scramUser, scramPass, appDB)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "select pg_sleep(20)")
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	// Send the cancel to b, as a load balancer might.
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)))
	if err != nil {
		t.Fatal(err)
	}
	pid, key := c.PgConn().PID(), c.PgConn().SecretKey()
	msg := []byte{0, 0, 0, byte(12 + len(key)), 0x04, 0xd2, 0x16, 0x2e, byte(pid >> 24), byte(pid >> 16), byte(pid >> 8), byte(pid)}
	conn.Write(append(msg, key...))
	io.Copy(io.Discard, conn)
	conn.Close()
	select {
	case err := <-errc:
		if pe := pgErr(t, err); pe.Code != "57014" {
			t.Fatalf("query ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancel was not forwarded")
	}
}

// TestMetrics scrapes the Prometheus endpoint of a gateway with traffic.
func TestMetrics(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB)
	for range 3 {
		queryString(t, c, "select 'x'")
	}
	tryConnect(p.url(scramUser, "wrong", appDB))
	srv := httptest.NewServer(metrics.NewHandler(p.gw))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`pgbun_transactions_total{database="` + appDB + `"}`,
		`pgbun_logins_total{method="scram-sha-256",result="ok"}`,
		`pgbun_logins_total{method="scram-sha-256",result="failed"}`,
		`pgbun_tls_handshakes_total{version="TLSv1.3"}`,
		`pgbun_pool_clients{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	resp, err = srv.Client().Get(srv.URL + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	_ = tls.VersionTLS13
	_ = pgx.QueryExecModeSimpleProtocol
}

// TestServerFastClose: after RECONNECT, a session-pooled client idle
// between transactions has its session ended at once, and one inside a
// transaction at its end; each is told why, in PgBouncer's words.
func TestServerFastClose(t *testing.T) {
	p := start(t, setup{general: map[string]string{"server_fast_close": "1"}})
	idle := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, idle, "select 'before'")
	busy := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, busy, "begin")
	if err := p.gw.Reconnect(appDB); err != nil {
		t.Fatal(err)
	}
	// The idle session is over already: its next query fails.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.logs(), "closing because: database configuration changed") {
		if time.Now().After(deadline) {
			t.Fatalf("idle session not closed:\n%s", p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := idle.Exec(context.Background(), "select 1"); err == nil {
		t.Fatal("idle session went on after server_fast_close")
	}
	// The transaction goes on until it ends; then the session ends.
	exec1(t, busy, "select 1")
	exec1(t, busy, "commit")
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		_, err = busy.Exec(context.Background(), "select 1")
	}
	if err == nil || !strings.Contains(err.Error(), "database configuration changed") {
		t.Fatalf("session went on after its transaction: %v", err)
	}
}

// TestSetTLSPairOneKeyAtATime: the console changes the client certificate
// one key at a time, key first: in between, the running certificate is
// still served; once both are set, the new one is.
func TestSetTLSPairOneKeyAtATime(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	kp, err := f.ca.IssueServer([]string{"localhost", "127.0.0.1"}, pgtest.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := kp.WriteFiles(dir, "next")
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, setup{})
	first := clientTLS(t, p.connect(t, scramUser, scramPass, appDB)).PeerCertificates[0].SerialNumber
	if err := p.gw.SetKey("client_tls_key_file", keyFile); err != nil {
		t.Fatalf("key first: %v", err)
	}
	if s := clientTLS(t, p.connect(t, scramUser, scramPass, appDB)).PeerCertificates[0].SerialNumber; s.Cmp(first) != 0 {
		t.Fatalf("half a pair changed the certificate served: %s", s)
	}
	if err := p.gw.SetKey("client_tls_cert_file", certFile); err != nil {
		t.Fatalf("certificate second: %v", err)
	}
	if s := clientTLS(t, p.connect(t, scramUser, scramPass, appDB)).PeerCertificates[0].SerialNumber; s.Cmp(kp.Cert.SerialNumber) != 0 {
		t.Fatalf("serial %s after both were set, want %s", s, kp.Cert.SerialNumber)
	}
}

// TestClientLoginCount: SHOW STATS counts the clients that logged in to
// each database, not those that failed to.
func TestClientLoginCount(t *testing.T) {
	p := start(t, setup{})
	for range 3 {
		c := p.connect(t, scramUser, scramPass, appDB)
		c.Close(context.Background())
	}
	pgErr(t, tryConnect(p.url(scramUser, "wrong", appDB)))
	for _, st := range p.gw.Stats() {
		if st.Database == appDB {
			if st.Total.ClientLogins != 3 {
				t.Fatalf("client logins %d, want 3", st.Total.ClientLogins)
			}
			return
		}
	}
	t.Fatal("no stats row for the database")
}

// TestMinPoolSizeForcedUserBeforeClients: an entry that forces a user and
// keeps servers open has them open before any client comes, as in
// PgBouncer; an entry without a forced user waits for a client.
func TestMinPoolSizeForcedUserBeforeClients(t *testing.T) {
	p := start(t, setup{databases: fmt.Sprintf("forced = host=127.0.0.1 port=%d dbname=%s user=%s min_pool_size=2\nfree = host=127.0.0.1 port=%d dbname=%s min_pool_size=2\n",
		pg.Port(), appDB, scramUser, pg.Port(), appDB)})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var forced, free int
		for _, pl := range p.gw.Pools() {
			switch pl.Database {
			case "forced":
				forced = pl.SvIdle + pl.SvUsed
			case "free":
				free++
			}
		}
		if free != 0 {
			t.Fatal("a pool was made for an entry without a forced user")
		}
		if forced == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle servers for the forced entry, want 2", forced)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAutoDatabaseLogged: the first client of a database made from the *
// entry has it logged, as PgBouncer logs it.
func TestAutoDatabaseLogged(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, "postgres")
	c.Close(context.Background())
	c = p.connect(t, scramUser, scramPass, "postgres")
	c.Close(context.Background())
	if n := strings.Count(p.logs(), "LOG registered new auto-database database=postgres"); n != 1 {
		t.Fatalf("auto-database logged %d times:\n%s", n, p.logs())
	}
}

// TestKillDatabaseClients: after KILL, SHOW CLIENTS no longer lists the
// database's clients (they are on their way out) but still lists the
// console's own session.
func TestKillDatabaseClients(t *testing.T) {
	p := start(t, setup{general: map[string]string{"admin_users": scramUser}})
	a := p.connect(t, scramUser, scramPass, appDB)
	b := p.connect(t, scramUser, scramPass, appDB)
	adm := p.console(t, scramUser, scramPass)
	if _, rows := show(t, adm, "SHOW CLIENTS"); len(rows) != 3 {
		t.Fatalf("SHOW CLIENTS before KILL: %v", rows)
	}
	if err := p.gw.Kill(appDB); err != nil {
		t.Fatal(err)
	}
	cols, rows := show(t, adm, "SHOW CLIENTS")
	if len(rows) != 1 || col(cols, rows[0], "database") != "pgbouncer" && col(cols, rows[0], "database") != "pgbun" {
		t.Fatalf("SHOW CLIENTS after KILL: %v", rows)
	}
	for _, c := range []*pgx.Conn{a, b} {
		if _, err := c.Exec(context.Background(), "select 1"); err == nil {
			t.Fatal("a killed client went on")
		}
	}
}

// TestSuspendMakesClientsWait: after SUSPEND a new client is not turned
// away: it waits for a server, and its query runs after RESUME.
func TestSuspendMakesClientsWait(t *testing.T) {
	p := start(t, setup{general: map[string]string{"admin_users": scramUser}})
	adm := p.console(t, scramUser, scramPass)
	show(t, adm, "SUSPEND")
	done := make(chan error, 1)
	go func() {
		c, err := pgx.Connect(context.Background(), p.url(scramUser, scramPass, appDB))
		if err == nil {
			_, err = c.Exec(context.Background(), "select 1")
			c.Close(context.Background())
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a query ran while suspended: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	show(t, adm, "RESUME")
	if err := <-done; err != nil {
		t.Fatalf("after RESUME: %v", err)
	}
}

// TestReloadChangedDBName: a reload that points an entry at another
// database replaces its servers: the next client lands in the new one.
func TestReloadChangedDBName(t *testing.T) {
	p := start(t, setup{databases: fmt.Sprintf("moved = host=127.0.0.1 port=%d dbname=%s\n", pg.Port(), appDB)})
	c := p.connect(t, scramUser, scramPass, "moved")
	if got := queryString(t, c, "select current_database()"); got != appDB {
		t.Fatal(got)
	}
	c.Close(context.Background())
	b, _ := os.ReadFile(p.ini)
	os.WriteFile(p.ini, []byte(strings.Replace(string(b), "dbname="+appDB, "dbname=postgres", 1)), 0o600)
	cfg, err := config.Load(p.ini)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.gw.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	c = p.connect(t, scramUser, scramPass, "moved")
	if got := queryString(t, c, "select current_database()"); got != "postgres" {
		t.Fatalf("after the reload the client landed in %s", got)
	}
}

// TestKillAll: KILL with no database drops every client session but the
// console's and pauses everything until RESUME.
func TestKillAll(t *testing.T) {
	p := start(t, setup{general: map[string]string{"admin_users": scramUser}})
	a := p.connect(t, scramUser, scramPass, appDB)
	b := p.connect(t, scramUser, scramPass, "postgres")
	adm := p.console(t, scramUser, scramPass)
	show(t, adm, "KILL")
	if _, rows := show(t, adm, "SHOW CLIENTS"); len(rows) != 1 {
		t.Fatalf("SHOW CLIENTS after KILL: %v", rows)
	}
	for _, c := range []*pgx.Conn{a, b} {
		if _, err := c.Exec(context.Background(), "select 1"); err == nil {
			t.Fatal("a client went on after KILL")
		}
	}
	show(t, adm, "RESUME")
	c := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, c, "select 'after resume'")
}
