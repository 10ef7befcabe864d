package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/gateway"
	"github.com/pgbun/pgbun/internal/logline"
	"github.com/pgbun/pgbun/internal/pgtest"
	"go.uber.org/goleak"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{}, &pg)) }

// Roles and passwords every test may use.
const (
	scramUser = "alice" // SCRAM-SHA-256 secret on the server
	scramPass = "alice's p@ss word"
	md5User   = "bob" // md5 secret on the server
	md5Pass   = "bob-secret"
	appDB     = "appdb"
)

// fixture holds what is made once per package: roles, a database, and a
// CA with pgbun's certificates.
type fixture struct {
	dir                 string
	ca                  *pgtest.CA
	caFile              string
	certFile, keyFile   string // ECDSA server certificate for localhost
	clientCA            *pgtest.CA
	clientCAFile        string
	clientCrt, clientKy string // client certificate (CN alice) signed by clientCA
	scramSecret         string // alice's pg_authid secret
	md5Secret           string // bob's pg_authid secret
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func getFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() { fixErr = makeFixture() })
	if fixErr != nil {
		t.Fatalf("fixture: %v", fixErr)
	}
	return &fix
}

func makeFixture() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.CreateRole(ctx, scramUser, scramPass, pgtest.SCRAM); err != nil {
		return err
	}
	if err := pg.CreateRole(ctx, md5User, md5Pass, pgtest.MD5); err != nil {
		return err
	}
	if err := pg.CreateDatabase(ctx, appDB, scramUser); err != nil {
		return err
	}
	if err := pg.Exec(ctx, "GRANT CONNECT ON DATABASE "+appDB+" TO "+md5User); err != nil {
		return err
	}
	var err error
	if fix.scramSecret, err = pg.RoleSecret(ctx, scramUser); err != nil {
		return err
	}
	if fix.md5Secret, err = pg.RoleSecret(ctx, md5User); err != nil {
		return err
	}
	fix.dir = filepath.Join(pg.Dir(), "pgbun-test")
	if err := os.MkdirAll(fix.dir, 0o755); err != nil {
		return err
	}
	if fix.ca, err = pgtest.NewCA("pgbun test CA", pgtest.ECDSAP256); err != nil {
		return err
	}
	fix.caFile = filepath.Join(fix.dir, "ca.crt")
	if err := fix.ca.WriteCert(fix.caFile); err != nil {
		return err
	}
	kp, err := fix.ca.IssueServer([]string{"localhost", "127.0.0.1", "::1"}, pgtest.ECDSAP256, 24*time.Hour)
	if err != nil {
		return err
	}
	if fix.certFile, fix.keyFile, err = kp.WriteFiles(fix.dir, "server"); err != nil {
		return err
	}
	if fix.clientCA, err = pgtest.NewCA("pgbun client CA", pgtest.ECDSAP256); err != nil {
		return err
	}
	fix.clientCAFile = filepath.Join(fix.dir, "client-ca.crt")
	if err := fix.clientCA.WriteCert(fix.clientCAFile); err != nil {
		return err
	}
	ck, err := fix.clientCA.IssueClient(scramUser, pgtest.ECDSAP256, 24*time.Hour)
	if err != nil {
		return err
	}
	fix.clientCrt, fix.clientKy, err = ck.WriteFiles(fix.dir, "client")
	return err
}

// setup describes one pgbun for a test.
type setup struct {
	general   map[string]string // [pgbouncer] keys over the defaults below
	databases string            // [databases] body; default routes appdb and *
	userlist  string            // userlist.txt body; default: alice plaintext, bob md5
	users     string            // [users] body
	// port is the TCP port to listen on; 0 picks a free one. For a peer
	// that must know the port before pgbun starts, such as an ACME CA
	// validating TLS-ALPN-01 on pgbun's own listener.
	port int
	// leakIgnores are goroutines the setup's libraries keep past
	// Shutdown on purpose; the leak check at the end skips them.
	leakIgnores []goleak.Option
	extra       string // more sections, appended as is ([peers] ...)
}

// proxy is a running pgbun.
type proxy struct {
	t      testing.TB
	gw     *gateway.Gateway
	port   int
	ini    string
	logBuf *pgtest.LogBuffer
}

// start runs a gateway for s on a free loopback port and stops it when
// the test ends, checking that no goroutine outlives it.
func start(t *testing.T, s setup) *proxy {
	t.Helper()
	f := getFixture(t)
	ignore := goleak.IgnoreCurrent()
	dir := t.TempDir()
	userlist := s.userlist
	if userlist == "" {
		userlist = fmt.Sprintf("%q %q\n%q %q\n", scramUser, scramPass, md5User, "md5"+md5Hex(md5Pass+md5User))
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(userlist), 0o600); err != nil {
		t.Fatal(err)
	}
	general := map[string]string{
		"listen_addr":          "127.0.0.1",
		"listen_port":          "6432",
		"unix_socket_dir":      "",
		"auth_type":            "scram-sha-256",
		"auth_file":            filepath.Join(dir, "userlist.txt"),
		"client_tls_sslmode":   "prefer",
		"client_tls_cert_file": f.certFile,
		"client_tls_key_file":  f.keyFile,
		"server_tls_sslmode":   "verify-full",
		"server_tls_ca_file":   pg.CAFile(),
		"default_pool_size":    "5",
		"client_login_timeout": "10",
		"query_wait_timeout":   "10",
		"server_login_retry":   "1",
	}
	for k, v := range s.general {
		general[k] = v
	}
	dbs := s.databases
	if dbs == "" {
		dbs = fmt.Sprintf("%s = host=127.0.0.1 port=%d\n* = host=127.0.0.1 port=%d\n", appDB, pg.Port(), pg.Port())
	}
	var ini strings.Builder
	fmt.Fprintf(&ini, "[databases]\n%s\n", dbs)
	if s.users != "" {
		fmt.Fprintf(&ini, "[users]\n%s\n", s.users)
	}
	if s.extra != "" {
		fmt.Fprintf(&ini, "%s\n", s.extra)
	}
	ini.WriteString("[pgbouncer]\n")
	keys := make([]string, 0, len(general))
	for k := range general {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&ini, "%s = %s\n", k, general[k])
	}
	path := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(path, []byte(ini.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, ini.String())
	}
	logs := &pgtest.LogBuffer{}
	log := slog.New(logline.New(io.MultiWriter(logs, testWriter{t}), slog.LevelDebug)) // the format pgbun writes
	gw, err := gateway.New(cfg, log)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)))
	if err != nil {
		t.Fatal(err)
	}
	lns := []net.Listener{ln}
	if cfg.General.UnixSocketDir != "" {
		unixOnly := cfg.General
		unixOnly.ListenAddr = nil
		more, err := gateway.Listen(&unixOnly)
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, more...)
	}
	served := make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gw.Serve(l)
		}()
	}
	go func() {
		wg.Wait()
		close(served)
	}()
	// As the command does: ACME certificates once the listener is served,
	// so a TLS-ALPN-01 validation on pgbun's own port reaches pgbun.
	if err := gw.StartCertificates(context.Background()); err != nil {
		gw.Close()
		t.Fatalf("certificates: %v", err)
	}
	p := &proxy{t: t, gw: gw, port: ln.Addr().(*net.TCPAddr).Port, ini: path, logBuf: logs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
		<-served
		goleak.VerifyNone(t, append([]goleak.Option{ignore}, s.leakIgnores...)...)
	})
	return p
}

// url returns a libpq URI for user on db through the proxy. extra holds
// more query parameters (sslmode defaults to verify-full).
func (p *proxy) url(user, password, db string, extra ...string) string {
	f := getFixture(p.t)
	u := url.URL{Scheme: "postgres", Host: net.JoinHostPort("localhost", strconv.Itoa(p.port)), Path: "/" + db}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	q := url.Values{}
	q.Set("sslmode", "verify-full")
	q.Set("sslrootcert", f.caFile)
	q.Set("connect_timeout", "10")
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	// libpq and pgx decode %20, not '+', in URI values.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

func (p *proxy) connect(t testing.TB, user, password, db string, extra ...string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.url(user, password, db, extra...))
	if err != nil {
		t.Fatalf("connect %s@%s: %v", user, db, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (p *proxy) logs() string { return p.logBuf.String() }

func queryString(t testing.TB, c *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var s string
	if err := c.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// testWriter sends logs to the test's output, shown on failure or -v.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
