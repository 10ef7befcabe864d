package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgbun/pgbun/internal/localca"
)

// dropAtEnd runs sql on the shared cluster when t ends, so that a test leaves
// nothing behind that would make its next run fail (go test -count=N).
func dropAtEnd(t *testing.T, sql string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pg.Exec(ctx, sql); err != nil {
			t.Errorf("clean-up %q: %v", sql, err)
		}
	})
}

// connect opens a pgx connection with a ConnString and checks that it runs
// as user over TLS (when want) with the cluster's server certificate.
func connect(t *testing.T, c *Cluster, connString, user string, wantTLS bool) *pgx.Conn {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect as %q: %v", user, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	var got string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != user {
		t.Errorf("current_user = %q, want %q", got, user)
	}
	tc, isTLS := conn.PgConn().Conn().(*tls.Conn)
	if isTLS != wantTLS {
		t.Fatalf("TLS = %v, want %v", isTLS, wantTLS)
	}
	if isTLS {
		peer := tc.ConnectionState().PeerCertificates
		if len(peer) == 0 || !peer[0].Equal(c.ServerCert()) {
			t.Error("server did not present ServerCert")
		}
	}
	return conn
}

func TestPasswordRolesOverTLS(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	tests := []struct {
		role, password string
		enc            PasswordEnc
		prefix         string
	}{
		{"scram_user", "scram secret", SCRAM, "SCRAM-SHA-256$4096:"},
		{"md5_user", "md5 secret", MD5, "md5"},
		// The server quotes names and passwords: quotes, backslashes and
		// non-ASCII text must arrive intact.
		{`we"ird 'rôle`, `pa'ss\wo"rd ü`, SCRAM, "SCRAM-SHA-256$"},
		{`md5 "q'uote`, `\'; DROP ROLE x; --`, MD5, "md5"},
	}
	for _, tc := range tests {
		// Dropped when the whole test ends: its last checks need them.
		dropAtEnd(t, "DROP ROLE IF EXISTS "+quoteIdent(tc.role))
		t.Run(tc.role, func(t *testing.T) {
			if err := pg.CreateRole(ctx, tc.role, tc.password, tc.enc); err != nil {
				t.Fatal(err)
			}
			secret, err := pg.RoleSecret(ctx, tc.role)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(secret, tc.prefix) {
				t.Errorf("secret %.20q... does not start with %q", secret, tc.prefix)
			}
			if strings.Contains(secret, tc.password) {
				t.Error("secret holds the plaintext password")
			}
			connect(t, pg, pg.ConnString(tc.role, tc.password, "postgres"), tc.role, true)
			if _, err := pgx.Connect(ctx, pg.ConnString(tc.role, tc.password+"x", "postgres")); err == nil {
				t.Error("login with a wrong password succeeded")
			}
		})
	}
	if err := pg.CreateRole(ctx, "scram_user", "again", SCRAM); err == nil {
		t.Error("creating an existing role succeeded")
	} else if strings.Contains(err.Error(), "again") {
		t.Errorf("error %q holds the password", err)
	}
	if err := pg.CreateRole(ctx, "bad_enc", "x", PasswordEnc(7)); err == nil {
		t.Error("unknown password encoding accepted")
	}
	if _, err := pg.RoleSecret(ctx, "no_such_role"); err == nil {
		t.Error("RoleSecret of a missing role succeeded")
	}
	if !strings.Contains(pg.LogTail(1000), "already exists") {
		t.Error("server log lacks the failed CREATE ROLE")
	}
	if log := pg.LogTail(1000); strings.Contains(log, "again") || strings.Contains(log, "scram secret") {
		t.Error("server log holds a password")
	}
}

func TestConnStringTLSSettings(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pg.ConnString("a b", "p@ss/word", "my db"))
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	q := u.Query()
	if u.Scheme != "postgres" || u.Hostname() != "127.0.0.1" || u.Port() != strconv.Itoa(pg.Port()) ||
		u.User.Username() != "a b" || pw != "p@ss/word" || u.Path != "/my db" ||
		q.Get("sslmode") != "verify-full" || q.Get("sslrootcert") != pg.CAFile() {
		t.Errorf("ConnString parsed to %#v", u)
	}
	fi, err := os.Stat(pg.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o004 == 0 {
		t.Errorf("CA file mode %v is not world-readable", fi.Mode().Perm())
	}
}

func TestSettingsApplied(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	conn := superConn(t, pg, "postgres")
	want := map[string]string{
		"cluster_name":            clusterName,
		"cluster.raw":             rawSetting,
		"work_mem":                "8MB",
		"ssl":                     "on",
		"max_connections":         "300",
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"password_encryption":     "scram-sha-256",
		"log_min_messages":        "warning",
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": pg.SocketDir(),
		"port":                    strconv.Itoa(pg.Port()),
	}
	for name, v := range want {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
}

func TestPsqlOverTLS(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	dropAtEnd(t, "DROP ROLE IF EXISTS psql_user")
	if err := pg.CreateRole(ctx, "psql_user", "psql pw", SCRAM); err != nil {
		t.Fatal(err)
	}
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if bin != pg.BinDir() {
		t.Errorf("cluster BinDir %q differs from BinDir %q", pg.BinDir(), bin)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "psql"), "-X", "-A", "-t",
		"-c", "select 1", "-c", "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
		pg.ConnString("psql_user", "psql pw", "postgres"))
	cmd.Env = envWith(os.Environ(), "PGPASSWORD=", "PGSSLMODE=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "1 t" {
		t.Errorf("psql printed %q, want 1 and t", out)
	}
}

func TestCreateDatabaseAndPgbenchInit(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	// Clean-ups run last first: the database goes before its owner.
	dropAtEnd(t, `DROP ROLE IF EXISTS "bench owner"`)
	dropAtEnd(t, `DROP DATABASE IF EXISTS "bench db" WITH (FORCE)`)
	if err := pg.CreateRole(ctx, "bench owner", "bench pw", MD5); err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "bench db", "bench owner"); err != nil {
		t.Fatal(err)
	}
	if err := pg.PgbenchInit(ctx, "bench db", 1); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, pg, pg.ConnString("bench owner", "bench pw", "bench db"), "bench owner", true)
	var owner string
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").
		Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != "bench owner" {
		t.Errorf("owner = %q", owner)
	}
	// pgbench ran as the superuser, who owns its tables.
	su := superConn(t, pg, "bench db")
	var accounts int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM pgbench_accounts").Scan(&accounts); err != nil {
		t.Fatal(err)
	}
	if accounts != 100000 {
		t.Errorf("pgbench_accounts has %d rows, want 100000", accounts)
	}
	if err := pg.PgbenchInit(ctx, "no such db", 1); err == nil {
		t.Error("PgbenchInit on a missing database succeeded")
	}
	if err := pg.CreateDatabase(ctx, "bench db", ""); err == nil {
		t.Error("creating an existing database succeeded")
	}
}

func TestExecAndLogTail(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	marker := fmt.Sprintf("cluster marker %d-%d", os.Getpid(), time.Now().UnixNano())
	dropAtEnd(t, "DROP TABLE IF EXISTS exec_t")
	if err := pg.Exec(ctx, "CREATE TABLE exec_t (x int); DO $$ BEGIN RAISE WARNING '"+marker+"'; END $$"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "INSERT INTO exec_t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "SELECT * FROM no_such_table"); err == nil {
		t.Error("Exec of a failing statement succeeded")
	}
	if !strings.Contains(pg.LogTail(50), marker) {
		t.Errorf("marker not in log tail:\n%s", pg.LogTail(50))
	}
	if got := strings.Count(pg.LogTail(3), "\n"); got > 2 {
		t.Errorf("LogTail(3) has %d line breaks", got)
	}
}

func TestCertAuthWithClusterCA(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Options{HBA: []string{
		"local all all trust",
		"hostssl all all 127.0.0.1/32 cert",
	}})
	ctx := testCtx(t)
	if err := c.CreateRole(ctx, "cert_user", "", SCRAM); err != nil {
		t.Fatal(err)
	}
	if s, err := c.RoleSecret(ctx, "cert_user"); err != nil || s != "" {
		t.Errorf("RoleSecret = %q, %v; want no secret", s, err)
	}
	kp, err := c.CA().IssueClient("cert_user", localca.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := kp.WriteFiles(t.TempDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	cs := c.ConnString("cert_user", "", "postgres") + "&sslcert=" + url.QueryEscape(certFile) +
		"&sslkey=" + url.QueryEscape(keyFile)
	connect(t, c, cs, "cert_user", true)
	if _, err := pgx.Connect(ctx, c.ConnString("cert_user", "", "postgres")); err == nil {
		t.Error("login without a client certificate succeeded")
	}
}

func TestRestartKeepsPortAndRoles(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Options{})
	ctx := testCtx(t)
	if err := c.CreateRole(ctx, "survivor", "pw", SCRAM); err != nil {
		t.Fatal(err)
	}
	port, pid := c.Port(), c.pid()
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Errorf("port changed from %d to %d", port, c.Port())
	}
	if c.pid() == pid {
		t.Error("postmaster pid unchanged: not restarted")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("old postmaster %d still exists (kill 0: %v)", pid, err)
	}
	connect(t, c, c.ConnString("survivor", "pw", "postgres"), "survivor", true)
}

func TestStopEndsEveryProcessAndRemovesDir(t *testing.T) {
	t.Parallel()
	c, err := Start(testCtx(t), Options{NoTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	// The test calls Stop itself; this one only covers an early failure.
	t.Cleanup(func() { c.Stop() })
	ctx := testCtx(t)
	if err := c.CreateRole(ctx, "plain", "pw", MD5); err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(c.ConnString("plain", "pw", "postgres")); u.Query().Get("sslmode") != "disable" {
		t.Errorf("ConnString without TLS: %s", u.Redacted())
	}
	// An open session keeps a backend process alive during Stop.
	conn := connect(t, c, c.ConnString("plain", "pw", "postgres"), "plain", false)
	procs := serverProcs(t, c, conn)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s still there: %v", c.Dir(), err)
	}
	// A fast shutdown waits for every child, so nothing may be left at all.
	for _, p := range procs {
		if err := syscall.Kill(p, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists (kill 0: %v)", p, err)
		}
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := c.Restart(ctx); err == nil {
		t.Error("Restart after Stop succeeded")
	}
	if c.LogTail(10) != "" {
		t.Error("LogTail after Stop is not empty")
	}
}

// TestStopKillsUnresponsiveServer stops a postmaster that ignores SIGINT and
// SIGQUIT (it is SIGSTOPped) and checks that the SIGKILL step ends it and
// every child, which PostgreSQL puts in sessions of their own.
func TestStopKillsUnresponsiveServer(t *testing.T) {
	t.Parallel()
	c, err := Start(testCtx(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The test calls Stop itself; this one only covers an early failure.
	t.Cleanup(func() { c.Stop() })
	conn := superConn(t, c, "postgres")
	procs := serverProcs(t, c, conn)
	c.mu.Lock()
	c.waits = stopWaits{fast: 200 * time.Millisecond, quit: 200 * time.Millisecond, kill: 5 * time.Second}
	c.mu.Unlock()
	if err := syscall.Kill(procs[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < 400*time.Millisecond {
		t.Errorf("Stop took %v: the stopped postmaster cannot have honoured SIGINT", d)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s still there: %v", c.Dir(), err)
	}
	waitGone(t, procs)
}

// serverProcs returns the postmaster's pid followed by its children's,
// checking that conn's backend is among them.
func serverProcs(t *testing.T, c *Cluster, conn *pgx.Conn) []int {
	t.Helper()
	var backend int
	if err := conn.QueryRow(testCtx(t), "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	pid := c.pid()
	children := childPIDs(pid)
	if !slices.Contains(children, backend) {
		t.Fatalf("backend %d not among the postmaster's children %v", backend, children)
	}
	if ppid, ok := parentPID(backend); !ok || ppid != pid {
		t.Fatalf("parentPID(%d) = %d, %v; want %d", backend, ppid, ok, pid)
	}
	return append([]int{pid}, children...)
}

// waitGone waits up to 5 s for every process in pids to end. A zombie
// counts as ended: it runs no code and holds no port or file.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range pids {
		for {
			stat, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
			if err != nil {
				break
			}
			i := strings.LastIndexByte(string(stat), ')')
			if f := strings.Fields(string(stat)[i+1:]); len(f) > 0 && f[0] == "Z" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("process %d still running: %s", p, stat)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// pid returns the running postmaster's pid, or 0.
func (c *Cluster) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.srv == nil {
		return 0
	}
	return c.srv.cmd.Process.Pid
}

func TestStartRetriesWhenPortTaken(t *testing.T) {
	t.Parallel()
	taken := holdPort(t)
	var calls atomic.Int32
	pick := func() (int, error) {
		if calls.Add(1) == 1 {
			return taken, nil
		}
		return FreePort()
	}
	c, err := start(testCtx(t), Options{}, pick)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	if calls.Load() != 2 {
		t.Errorf("port picked %d times, want 2", calls.Load())
	}
	if c.Port() == taken {
		t.Error("cluster reports the taken port")
	}
	if err := c.Exec(testCtx(t), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}
