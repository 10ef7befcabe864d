package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/pgtest"
)

// sniCert issues pgbun a certificate covering the names SNI tests use.
func sniCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	f := getFixture(t)
	kp, err := f.ca.IssueServer([]string{"localhost", "127.0.0.1", "a.pgbun.test", "*.tenants.pgbun.test"}, pgtest.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := kp.WriteFiles(t.TempDir(), "sni")
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// connectSNI connects through the proxy at 127.0.0.1 with server name sni.
func connectSNI(p *proxy, sni, user, password, db string) (*pgx.Conn, error) {
	f := getFixture(p.t)
	cfg, err := pgx.ParseConfig(p.url(user, password, db))
	if err != nil {
		return nil, err
	}
	cfg.Host = "127.0.0.1"
	cfg.Fallbacks = nil
	cfg.TLSConfig.ServerName = sni
	if sni == "" {
		// No server name at all, as when a client connects by address:
		// verify the chain by hand.
		cfg.TLSConfig.InsecureSkipVerify = true
		cfg.TLSConfig.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: f.ca.Pool()})
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// TestSNIRouting: one listener, tenants told apart by TLS server name.
func TestSNIRouting(t *testing.T) {
	cert, key := sniCert(t)
	dbs := fmt.Sprintf("a = host=127.0.0.1 port=%d dbname=%s sni=a.pgbun.test\n"+
		"tenants = host=127.0.0.1 port=%d sni=*.tenants.pgbun.test\n"+
		"%s = host=127.0.0.1 port=%d\n", pg.Port(), appDB, pg.Port(), appDB, pg.Port())
	p := start(t, setup{databases: dbs, general: map[string]string{
		"client_tls_cert_file": cert, "client_tls_key_file": key, "client_tls_sni_required": "1"}})
	c, err := connectSNI(p, "a.pgbun.test", scramUser, scramPass, "anything")
	if err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, c, "select current_database()"); got != appDB {
		t.Fatalf("a.pgbun.test reached %s", got)
	}
	c.Close(context.Background())
	c, err = connectSNI(p, "x.tenants.pgbun.test", scramUser, scramPass, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, c, "select current_database()"); got != "postgres" {
		t.Fatalf("tenant route reached %s", got)
	}
	c.Close(context.Background())
	// client_tls_sni_required: no name (an IP address) or an unrouted name.
	if _, err := connectSNI(p, "", scramUser, scramPass, appDB); err == nil || !strings.Contains(err.Error(), "server name") {
		t.Fatalf("no SNI: %v", err)
	}
	if _, err := connectSNI(p, "localhost", scramUser, scramPass, appDB); err == nil || !strings.Contains(err.Error(), "no database is served") {
		t.Fatalf("unrouted SNI: %v", err)
	}
}

func writeHBA(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHBA: rules decide per connection, first match wins, and a reload
// that no longer allows a live session closes it.
func TestHBA(t *testing.T) {
	f := getFixture(t)
	hba := filepath.Join(t.TempDir(), "hba.conf")
	writeHBA(t, hba, `
# alice over TLS with SCRAM; bob with md5 without TLS; certificates over TLS
hostssl    all  alice  127.0.0.1/32  scram-sha-256
hostnossl  all  bob    127.0.0.1/32  md5
hostssl    all  all    127.0.0.1/32  cert  map=certs
host     all  all    all           reject
`)
	ident := filepath.Join(t.TempDir(), "ident.conf")
	writeHBA(t, ident, "certs  alice  bob\n")
	p := start(t, setup{general: map[string]string{
		"auth_type": "hba", "auth_hba_file": hba, "auth_ident_file": ident, "client_tls_ca_file": f.clientCAFile}})
	a := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, a, "select 1::text")
	if err := tryConnect(p.url(scramUser, scramPass, appDB, "sslmode", "disable")); err == nil ||
		!strings.Contains(err.Error(), "no pg_hba.conf entry") {
		t.Fatalf("alice without TLS: %v", err)
	}
	p.connect(t, md5User, md5Pass, appDB, "sslmode", "disable")
	// The certificate (CN alice) maps to bob through the ident map.
	b := p.connect(t, md5User, "", appDB, "sslcert", f.clientCrt, "sslkey", f.clientKy)
	if got := queryString(t, b, "select current_user"); got != md5User {
		t.Fatal(got)
	}
	if !strings.Contains(p.logs(), "method=cert") {
		t.Error("cert login not logged with its method")
	}

	// Revoke alice: her live session is closed with a clear error.
	writeHBA(t, hba, "hostnossl all bob 127.0.0.1/32 md5\nhost all all all reject\n")
	cfg, err := config.Load(p.ini)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.gw.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := a.Exec(context.Background(), "select 1")
		if err != nil {
			if !strings.Contains(err.Error(), "no longer allowed") && !a.IsClosed() {
				t.Fatalf("revoked session ended with %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revoked session still works")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.logs(), "auth_hba_file no longer allows it") {
		t.Fatal("revocation not logged")
	}
}

// TestThrottle: failed logins lock the source out, even for the right
// password, and concurrent attempts cannot slip past the limit.
func TestThrottle(t *testing.T) {
	p := start(t, setup{general: map[string]string{
		"auth_throttle_failures": "3", "auth_throttle_window": "60", "auth_throttle_lockout": "30"}})
	for i := range 3 {
		if pe := pgErr(t, tryConnect(p.url(scramUser, "wrong", appDB))); pe.Code != "28P01" {
			t.Fatalf("attempt %d: %+v", i, pe)
		}
	}
	pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, appDB)))
	if pe.Code != "28000" || !strings.Contains(pe.Message, "too many failed login attempts") {
		t.Fatalf("right password during lockout: %+v", pe)
	}

	// Another user from the same address is locked out too (the source
	// is); concurrency: 10 attempts at once on a fresh gateway.
	p2 := start(t, setup{general: map[string]string{"auth_throttle_failures": "3"}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tryConnect(p2.url(md5User, "wrong", appDB))
			if err != nil && strings.Contains(err.Error(), "28P01") {
				mu.Lock()
				wrong++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wrong > 3 {
		t.Fatalf("%d password checks ran for 10 concurrent attempts with auth_throttle_failures=3", wrong)
	}
}

// TestSlowloris: silent connections hold no more than
// max_unauthenticated_clients slots and are dropped after
// client_login_timeout; logged-in clients are not disturbed.
func TestSlowloris(t *testing.T) {
	p := start(t, setup{general: map[string]string{"max_unauthenticated_clients": "4", "client_login_timeout": "1"}})
	live := p.connect(t, scramUser, scramPass, appDB)
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte{0, 0, 0}) // a third of a length word, then silence
		idle = append(idle, c)
	}
	time.Sleep(100 * time.Millisecond)
	if got := refusal(t, p.port); !strings.Contains(got, "too many connections") {
		t.Fatalf("5th unauthenticated client: %q", got)
	}
	queryString(t, live, "select 'unharmed'")
	for _, c := range idle {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(c).ReadByte(); err == nil {
			t.Fatal("a silent client got an answer")
		}
	}
	p.connect(t, scramUser, scramPass, appDB) // slots free again
}

// TestPerAddressLimits: max_client_conn_per_addr and the connect rate.
func TestPerAddressLimits(t *testing.T) {
	p := start(t, setup{general: map[string]string{"max_client_conn_per_addr": "2"}})
	p.connect(t, scramUser, scramPass, appDB)
	p.connect(t, scramUser, scramPass, appDB)
	if got := refusal(t, p.port); !strings.Contains(got, "too many connections from your address") {
		t.Fatalf("3rd connection from one address: %q", got)
	}
}

// refusal connects and returns what pgbun says before it hangs up, to a
// client that sends nothing.
func refusal(t *testing.T, port int) string {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestAuditLog: one JSON object per line, no secret anywhere.
func TestAuditLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	p := start(t, setup{general: map[string]string{"audit_log": path}})
	p.connect(t, scramUser, scramPass, appDB)
	tryConnect(p.url(scramUser, "wrong-"+scramPass, appDB))
	tryConnect(p.url("mallory", "nope", appDB))
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)), &tls.Config{InsecureSkipVerify: true})
	if err == nil { // a TLS client hello without SSLRequest and without ALPN
		conn.Close()
	}
	var events []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		events = events[:0]
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line == "" {
				continue
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			events = append(events, e)
		}
		if len(events) >= 3 || time.Now().After(deadline) {
			if strings.Contains(string(b), scramPass) {
				t.Fatal("a password reached the audit log")
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	kinds := map[string]int{}
	for _, e := range events {
		kinds[fmt.Sprint(e["msg"])]++
	}
	if kinds["login_ok"] != 1 || kinds["login_failed"] != 2 {
		t.Fatalf("events %v: %v", kinds, events)
	}
	for _, e := range events {
		if e["msg"] == "login_failed" && e["user"] == "mallory" && e["reason"] != "unknown user" {
			t.Fatalf("unknown user's reason: %v", e)
		}
	}
}

// TestSeveralCertificates: client_tls_sni_certs serves a second
// certificate to clients asking for its name.
func TestSeveralCertificates(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	kp, err := f.ca.IssueServer([]string{"other.pgbun.test"}, pgtest.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, k, _ := kp.WriteFiles(dir, "other")
	p := start(t, setup{general: map[string]string{"client_tls_sni_certs": c + " " + k}})
	conn, err := connectSNI(p, "other.pgbun.test", scramUser, scramPass, appDB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if got := clientTLS(t, conn).PeerCertificates[0].DNSNames[0]; got != "other.pgbun.test" {
		t.Fatalf("served %s", got)
	}
	def := p.connect(t, scramUser, scramPass, appDB)
	if got := clientTLS(t, def).PeerCertificates[0].DNSNames[0]; got != "localhost" {
		t.Fatalf("default certificate: %s", got)
	}
}

// TestHBACertOnHostLine: cert on a host line (which PgBouncer accepts) lets
// in a client with a verified certificate and refuses one without.
func TestHBACertOnHostLine(t *testing.T) {
	f := getFixture(t)
	hba := filepath.Join(t.TempDir(), "hba.conf")
	writeHBA(t, hba, "host all all 127.0.0.1/32 cert map=certs\n")
	ident := filepath.Join(t.TempDir(), "ident.conf")
	writeHBA(t, ident, "certs  alice  bob\n")
	p := start(t, setup{general: map[string]string{
		"auth_type": "hba", "auth_hba_file": hba, "auth_ident_file": ident, "client_tls_ca_file": f.clientCAFile}})
	if err := tryConnect(p.url(md5User, "", appDB, "sslmode", "disable")); err == nil ||
		!strings.Contains(err.Error(), "connection requires a valid client certificate") {
		t.Fatalf("plain client on a cert line: %v", err)
	}
	b := p.connect(t, md5User, "", appDB, "sslcert", f.clientCrt, "sslkey", f.clientKy)
	if got := queryString(t, b, "select current_user"); got != md5User {
		t.Fatal(got)
	}
}
