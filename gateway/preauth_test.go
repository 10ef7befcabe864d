package gateway_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgbun/pgbun/metrics"
)

// These tests play a stranger without a password, over raw sockets, and
// check that nothing it does outlives it, locks real users out, or tells
// it which users and databases exist.

// probe is a stranger's connection that has sent a startup packet.
type probe struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialFrom connects to pgbun from a chosen loopback source address
// ("" lets the kernel choose), so tests can play several hosts.
func dialFrom(t testing.TB, src string, port int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startProbe sends a plaintext startup packet for user and db.
func startProbe(t testing.TB, src string, port int, user, db string) *probe {
	t.Helper()
	c := dialFrom(t, src, port)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(startupPacket(3, 0, "user", user, "database", db)); err != nil {
		t.Fatal(err)
	}
	return &probe{conn: c, r: bufio.NewReader(c)}
}

// next reads one message.
func (p *probe) next() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(p.r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(h[1:])) - 4
	if n < 0 || n > 1<<20 {
		return 0, nil, fmt.Errorf("bad length %d", n)
	}
	body := make([]byte, n)
	_, err := io.ReadFull(p.r, body)
	return h[0], body, err
}

// authRequest reads up to the first authentication request (its code)
// or error (its SQLSTATE and message, code -1).
func (p *probe) authRequest() (code int, sqlstate, msg string, err error) {
	for {
		typ, body, err := p.next()
		if err != nil {
			return 0, "", "", err
		}
		switch typ {
		case 'R':
			return int(binary.BigEndian.Uint32(body)), "", "", nil
		case 'E':
			fields := errorFields(body)
			return -1, fields['C'], fields['M'], nil
		}
	}
}

func errorFields(body []byte) map[byte]string {
	out := make(map[byte]string)
	for len(body) > 1 {
		k := body[0]
		end := strings.IndexByte(string(body[1:]), 0)
		if end < 0 {
			break
		}
		out[k] = string(body[1 : 1+end])
		body = body[2+end:]
	}
	return out
}

// randomName makes a user or database name as an attacker would: random
// bytes, some of them terminal escapes.
func randomName(r *rand.Rand) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789_\x1b[31m;"
	b := make([]byte, 8+r.IntN(40))
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// seriesCount counts the sample lines of a metrics page, each of which is
// one series.
func seriesCount(page string) int {
	n := 0
	for _, l := range strings.Split(page, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestStrangersLeaveNoState: thousands of startup packets with made-up
// users and databases, hanging up at the password request or refused by
// hba, create no pool, no SHOW row, no metric series, and no memory that
// stays; a real user afterwards gets a pool as usual.
func TestStrangersLeaveNoState(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_throttle_failures": "0"}})
	h := metrics.NewHandler(p.gw)
	// One real login first, so the baseline holds the pools and series a
	// working pgbun has.
	c := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, c, "select 'ok'")
	c.Close(context.Background())
	basePools, baseUsers := len(p.gw.Pools()), len(p.gw.Users())
	baseSeries := seriesCount(scrape(t, h))
	baseHeap := heapInUse()

	const probes = 3000
	deadline := time.Now().Add(90 * time.Second)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				user, db := fmt.Sprintf("u%d-%s", i, randomName(rand.New(rand.NewPCG(uint64(i), 3)))), appDB
				switch i % 3 {
				case 1:
					db = fmt.Sprintf("db%d", i) // served by the * entry
				case 2:
					user = scramUser // a real user, a made-up database
					db = fmt.Sprintf("nodb%d\x1b[0m", i)
				}
				pr := startProbe(t, "", p.port, user, db)
				code, state, msg, err := pr.authRequest()
				pr.conn.Close()
				if err != nil || code != 10 {
					t.Errorf("probe %d (%q on %q): code %d %s %s %v", i, user, db, code, state, msg, err)
				}
			}
		}()
	}
	for i := 0; i < probes && time.Now().Before(deadline); i++ {
		work <- i
	}
	close(work)
	wg.Wait()

	// The gateway notices each hang-up on its own goroutine: wait until
	// every probe's client is gone.
	waitFor(t, 10*time.Second, func() bool { return len(p.gw.Clients()) == 0 })
	if n := len(p.gw.Pools()); n != basePools {
		t.Errorf("SHOW POOLS: %d rows after the probes, %d before", n, basePools)
	}
	if n := len(p.gw.Users()); n != baseUsers {
		t.Errorf("SHOW USERS: %d rows after the probes, %d before", n, baseUsers)
	}
	page := scrape(t, h)
	if n := seriesCount(page); n != baseSeries {
		t.Errorf("metrics: %d series after the probes, %d before", n, baseSeries)
	}
	if strings.Contains(page, "\x1b") || strings.Contains(page, "nodb") {
		t.Error("a probe's name reached the metrics page")
	}
	// 3,000 pools with their stats cost megabytes; what is left must be
	// noise (buffers the runtime keeps, the audit log's encoder).
	if grown := int64(heapInUse()) - int64(baseHeap); grown > 2<<20 {
		t.Errorf("heap grew by %d KiB over %d probes", grown>>10, probes)
	}
	// A real user still gets in, and only then does its pool exist.
	c = p.connect(t, scramUser, scramPass, "postgres")
	queryString(t, c, "select 'ok'")
	if n := len(p.gw.Pools()); n != basePools+1 {
		t.Errorf("SHOW POOLS: %d rows after a new user logged in, want %d", n, basePools+1)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connectFrom logs in with pgx from a chosen loopback source address.
func connectFrom(ctx context.Context, src, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	cfg.DialFunc = d.DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

// stall opens n connections, each from its own address in 127.0.9.0/24,
// that claim user and stop at the password request, and closes them when
// the test ends.
func stall(t *testing.T, port, n int, user, db string) {
	t.Helper()
	for i := range n {
		pr := startProbe(t, fmt.Sprintf("127.0.9.%d", i+1), port, user, db)
		if code, state, msg, err := pr.authRequest(); err != nil || code <= 0 {
			t.Fatalf("stalled login: code %d %s %s %v", code, state, msg, err)
		}
		pr.conn.SetDeadline(time.Time{})
		t.Cleanup(func() { pr.conn.Close() })
	}
}

// TestStalledLoginsDoNotLockUserOut: connections that receive the
// password request for a real user and never answer cost that user
// nothing; the real user logs in at once from another address.
func TestStalledLoginsDoNotLockUserOut(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_throttle_failures": "5"}})
	stall(t, p.port, 10, scramUser, appDB)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	c, err := connectFrom(ctx, "127.0.0.2", p.url(scramUser, scramPass, appDB))
	if err != nil {
		t.Fatalf("real user behind 10 stalled logins: %v", err)
	}
	defer c.Close(context.Background())
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("real user waited %v behind stalled logins", d)
	}
	// Failed proofs still lock the user: five wrong passwords from five
	// addresses, then the right one from a sixth is refused.
	for i := range 5 {
		_, err := connectFrom(ctx, fmt.Sprintf("127.0.1.%d", i+1), p.url(scramUser, "wrong", appDB))
		if pe := asPgErr(err); pe == nil || pe.Code != "28P01" {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	_, err = connectFrom(ctx, "127.0.2.1", p.url(scramUser, scramPass, appDB))
	if pe := asPgErr(err); pe == nil || !strings.Contains(pe.Message, "too many failed login attempts") {
		t.Fatalf("right password after 5 failures from 5 addresses: %v", err)
	}
}

func asPgErr(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if err != nil && errors.As(err, &pe) {
		return pe
	}
	return nil
}

// TestClientLimitsCountAfterAuthentication: stalled strangers claiming a
// user do not fill max_user_client_connections or
// max_db_client_connections; authenticated clients do.
func TestClientLimitsCountAfterAuthentication(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_type": "md5",
		"max_user_client_connections": "2", "max_db_client_connections": "3"}})
	stall(t, p.port, 10, scramUser, appDB)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var held []*pgx.Conn
	defer func() {
		for _, c := range held {
			c.Close(context.Background())
		}
	}()
	for i := range 2 {
		c, err := connectFrom(ctx, "127.0.0.2", p.url(scramUser, scramPass, appDB))
		if err != nil {
			t.Fatalf("login %d with 10 stalled strangers claiming the user: %v", i, err)
		}
		held = append(held, c)
	}
	_, err := connectFrom(ctx, "127.0.0.2", p.url(scramUser, scramPass, appDB))
	if pe := asPgErr(err); pe == nil || pe.Code != "53300" || !strings.Contains(pe.Message, "max_user_client_connections") {
		t.Fatalf("third client of a user limited to 2: %v", err)
	}
	c, err := connectFrom(ctx, "127.0.0.2", p.url(md5User, md5Pass, appDB))
	if err != nil {
		t.Fatalf("another user on the database: %v", err)
	}
	held = append(held, c)
	_, err = connectFrom(ctx, "127.0.0.2", p.url(md5User, md5Pass, appDB))
	if pe := asPgErr(err); pe == nil || pe.Code != "53300" || !strings.Contains(pe.Message, "max_db_client_connections") {
		t.Fatalf("fourth client of a database limited to 3: %v", err)
	}
}

// TestUnknownDatabaseLooksLikeWrongPassword: before the password is
// proved, a database no entry serves gets the same exchange and the same
// error as a wrong password; after it, the client may learn the truth.
func TestUnknownDatabaseLooksLikeWrongPassword(t *testing.T) {
	dbs := fmt.Sprintf("%s = host=127.0.0.1 port=%d\n", appDB, pg.Port()) // no fallback
	p := start(t, setup{databases: dbs})
	pr := startProbe(t, "", p.port, scramUser, "no_such_db")
	defer pr.conn.Close()
	if code, state, msg, err := pr.authRequest(); err != nil || code != 10 {
		t.Fatalf("unknown database before the password: code %d %s %q %v", code, state, msg, err)
	}
	wrongDB := pgErr(t, tryConnect(p.url(scramUser, "wrong", "no_such_db")))
	wrongPass := pgErr(t, tryConnect(p.url(scramUser, "wrong", appDB)))
	if wrongDB.Code != wrongPass.Code || wrongDB.Message != wrongPass.Message {
		t.Fatalf("unknown database %q/%q, wrong password %q/%q", wrongDB.Code, wrongDB.Message, wrongPass.Code, wrongPass.Message)
	}
	known := pgErr(t, tryConnect(p.url(scramUser, scramPass, "no_such_db")))
	if known.Code != "3D000" {
		t.Fatalf("right password, unknown database: %+v", known)
	}
}

// TestLongNamesAreCut: user and database names are cut to 63 bytes as
// PostgreSQL cuts them, so "name + anything" is the same user for the
// throttle as for PostgreSQL, and logs carry at most 63 bytes of a name.
func TestLongNamesAreCut(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_throttle_failures": "3"}})
	long := scramUser + strings.Repeat("x", 63-len(scramUser))
	if len(long) != 63 {
		t.Fatal(len(long))
	}
	// Three wrong guesses, each under a different over-long spelling of
	// one 63-byte name, lock that name out.
	for i := range 3 {
		name := long + strings.Repeat(strconv.Itoa(i), 100+i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := connectFrom(ctx, fmt.Sprintf("127.0.3.%d", i+1), p.url(name, "wrong", appDB))
		cancel()
		if pe := asPgErr(err); pe == nil || pe.Code != "28P01" || strings.Contains(pe.Message, long+"0") {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := connectFrom(ctx, "127.0.3.9", p.url(long+"tail", "wrong", appDB))
	if pe := asPgErr(err); pe == nil || !strings.Contains(pe.Message, "too many failed login attempts") {
		t.Fatalf("fourth spelling of a locked name: %v", err)
	}
	if strings.Contains(p.logs(), long+"0") || strings.Contains(p.logs(), long+"1") {
		t.Fatal("a name longer than 63 bytes reached the log")
	}
	// A multibyte character across the cut is dropped whole.
	name := strings.Repeat("a", 62) + "é" + "zzz"
	pr := startProbe(t, "", p.port, name, appDB)
	defer pr.conn.Close()
	pr.authRequest()
	pr.conn.Close()
	waitFor(t, 5*time.Second, func() bool { return len(p.gw.Clients()) == 0 })
}

// TestThrottleOff: auth_throttle_failures = 0 turns the throttle off.
func TestThrottleOff(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_throttle_failures": "0"}})
	for i := range 8 {
		if pe := pgErr(t, tryConnect(p.url(scramUser, "wrong", appDB))); pe.Code != "28P01" {
			t.Fatalf("attempt %d: %+v", i, pe)
		}
	}
	p.connect(t, scramUser, scramPass, appDB)
}

// TestLockedOutCostsNoQuery: once an address is locked out, its attempts
// run no auth_query.
func TestLockedOutCostsNoQuery(t *testing.T) {
	authqFixture(t)
	p := start(t, authqSetup("auth_throttle_failures", "3", "auth_cache_ttl", "0", "auth_negative_cache_ttl", "0"))
	for i := range 3 {
		if pe := pgErr(t, tryConnect(p.url("carol", "wrong", appDB))); pe.Code != "28P01" {
			t.Fatalf("attempt %d: %+v", i, pe)
		}
	}
	before := lookups(t, "carol") + lookups(t, "dave")
	for range 20 {
		pe := pgErr(t, tryConnect(p.url("dave", "dave-pass", appDB)))
		if !strings.Contains(pe.Message, "too many failed login attempts") {
			t.Fatalf("locked-out address: %+v", pe)
		}
	}
	if after := lookups(t, "carol") + lookups(t, "dave"); after != before {
		t.Fatalf("a locked-out address made pgbun run %d auth queries", after-before)
	}
}

// TestIdlePoolsAreFreed: a pool made through the * entry is freed after
// autodb_idle_timeout once it has neither clients nor servers; a pool of
// a configured database after pool_idle_timeout, its counters kept in its
// database's totals.
func TestIdlePoolsAreFreed(t *testing.T) {
	p := start(t, setup{general: map[string]string{
		"autodb_idle_timeout": "1", "pool_idle_timeout": "2", "server_idle_timeout": "1"}})
	has := func(db string) bool {
		for _, row := range p.gw.Pools() {
			if row.Database == db {
				return true
			}
		}
		return false
	}
	xacts := func(db string) uint64 {
		for _, s := range p.gw.Stats() {
			if s.Database == db {
				return s.Total.Transactions
			}
		}
		return 0
	}
	for _, db := range []string{"postgres", appDB} {
		c := p.connect(t, scramUser, scramPass, db)
		queryString(t, c, "select 'ok'")
		c.Close(context.Background())
		if !has(db) {
			t.Fatalf("no pool for %s after a login", db)
		}
	}
	before := xacts(appDB)
	if before == 0 {
		t.Fatal("no transaction counted")
	}
	waitFor(t, 15*time.Second, func() bool { return !has("postgres") })
	if !has(appDB) {
		t.Error("the configured database's pool went with the fallback's")
	}
	waitFor(t, 15*time.Second, func() bool { return !has(appDB) })
	if got := xacts(appDB); got < before {
		t.Errorf("SHOW STATS for %s went back from %d to %d transactions when its pool was freed", appDB, before, got)
	}
	for _, s := range p.gw.Stats() {
		if s.Database == "postgres" {
			t.Error("a freed fallback database still has statistics")
		}
	}
	// A freed pool is made again on the next login.
	c := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, c, "select 'again'")
	if !has(appDB) {
		t.Fatal("no pool after logging in again")
	}
}

// TestUnknownDatabaseUnderFallbackWithAuthQuery: with a * entry and no
// auth_dbname, auth_query runs in the database the client names; one that
// PostgreSQL does not have still answers like a wrong password.
func TestUnknownDatabaseUnderFallbackWithAuthQuery(t *testing.T) {
	authqFixture(t)
	s := authqSetup("auth_dbname", "", "server_login_retry", "1")
	s.databases = fmt.Sprintf("%s = host=127.0.0.1 port=%d\n* = host=127.0.0.1 port=%d\n", appDB, pg.Port(), pg.Port())
	p := start(t, s)
	// The lookup function lives in the database postgres.
	wrongPass := pgErr(t, tryConnect(p.url("carol", "wrong", "postgres")))
	for _, pass := range []string{"wrong", "carol-pass"} {
		got := pgErr(t, tryConnect(p.url("carol", pass, "no_such_db_anywhere")))
		if got.Code != wrongPass.Code || got.Message != wrongPass.Message {
			t.Fatalf("password %q on a database PostgreSQL lacks: %s %q; a wrong password: %s %q",
				pass, got.Code, got.Message, wrongPass.Code, wrongPass.Message)
		}
	}
	for _, row := range p.gw.Pools() {
		if row.Database == "no_such_db_anywhere" {
			t.Fatal("a pool for a database nobody logged in to")
		}
	}
}
