package gateway_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/pgtest"
)

var authqOnce sync.Once

// authqFixture makes an auth_user that runs lookups through a SECURITY
// DEFINER function which also counts them, and users known only to the
// database.
func authqFixture(t *testing.T) {
	t.Helper()
	getFixture(t)
	var err error
	authqOnce.Do(func() {
		ctx := context.Background()
		for _, r := range []struct {
			name, pass string
			enc        pgtest.PasswordEnc
		}{{"authq", "authq-pass", pgtest.SCRAM}, {"carol", "carol-pass", pgtest.SCRAM}, {"dave", "dave-pass", pgtest.MD5}, {"old", "old-pass", pgtest.SCRAM}} {
			if err = pg.CreateRole(ctx, r.name, r.pass, r.enc); err != nil {
				return
			}
		}
		err = pg.Exec(ctx, `
			ALTER ROLE old VALID UNTIL '2000-01-01';
			GRANT CONNECT ON DATABASE appdb TO carol, dave, old, authq;
			CREATE TABLE public.lookups(usr text, at timestamptz default now());
			CREATE FUNCTION public.lookup(u text) RETURNS TABLE(usename name, passwd text)
			LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS $$
				INSERT INTO public.lookups(usr) VALUES (u);
				SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END
				FROM pg_authid WHERE rolname = u AND rolcanlogin;
			$$;
			REVOKE ALL ON FUNCTION public.lookup(text) FROM PUBLIC;
			GRANT EXECUTE ON FUNCTION public.lookup(text) TO authq;`)
	})
	if err != nil {
		t.Fatalf("auth_query fixture: %v", err)
	}
}

func lookups(t *testing.T, user string) int {
	t.Helper()
	c, err := pg.SuperConn(context.Background(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(context.Background(), "select count(*) from public.lookups where usr = $1", user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func authqSetup(extra ...string) setup {
	g := map[string]string{
		"auth_type": "scram-sha-256", "auth_user": "authq", "auth_dbname": "postgres",
		"auth_query": "SELECT usename, passwd FROM public.lookup($1)",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		g[extra[i]] = extra[i+1]
	}
	return setup{
		general:   g,
		userlist:  `"authq" "authq-pass"` + "\n",
		databases: fmt.Sprintf("%s = host=127.0.0.1 port=%d\npostgres = host=127.0.0.1 port=%d\n", appDB, pg.Port(), pg.Port()),
	}
}

// TestAuthQuery: users known only to PostgreSQL log in through
// auth_query; their SCRAM secret also logs the server connection in
// (pass-through), lookups are cached and shared, unknown and expired users
// fail like a wrong password.
func TestAuthQuery(t *testing.T) {
	authqFixture(t)
	p := start(t, authqSetup())
	base := lookups(t, "carol")
	c := p.connect(t, "carol", "carol-pass", appDB, "channel_binding", "require")
	if got := queryString(t, c, "select current_user"); got != "carol" {
		t.Fatal(got)
	}
	// Five logins at once and five more: one query while the entry is fresh.
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := tryConnect(p.url("carol", "carol-pass", appDB)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for range 5 {
		if err := tryConnect(p.url("carol", "carol-pass", appDB)); err != nil {
			t.Fatal(err)
		}
	}
	if n := lookups(t, "carol") - base; n != 1 {
		t.Fatalf("%d auth_query runs for 11 logins within auth_cache_ttl", n)
	}
	for _, u := range []string{"nobody", "old"} {
		pe := pgErr(t, tryConnect(p.url(u, "old-pass", appDB)))
		if pe.Code != "28P01" || pe.Message != "SASL authentication failed" {
			t.Fatalf("%s: %+v", u, pe)
		}
	}
	// Unknown users are remembered briefly: a second try runs no query.
	before := lookups(t, "nobody")
	tryConnect(p.url("nobody", "x", appDB))
	if lookups(t, "nobody") != before {
		t.Fatal("negative cache not used")
	}
}

// TestAuthQueryPasswordChange: a changed password is picked up by
// refetching once: at once for md5, on the next attempt for SCRAM.
func TestAuthQueryPasswordChange(t *testing.T) {
	authqFixture(t)
	p := start(t, authqSetup("auth_type", "md5", "auth_cache_ttl", "3600"))
	ctx := context.Background()
	p.connect(t, "dave", "dave-pass", appDB)
	p.connect(t, "carol", "carol-pass", appDB)
	time.Sleep(1100 * time.Millisecond) // a refetch needs the cached entry to be older than a second
	if err := pg.Exec(ctx, "SET password_encryption = 'md5'; ALTER ROLE dave PASSWORD 'dave-new'; "+
		"SET password_encryption = 'scram-sha-256'; ALTER ROLE carol PASSWORD 'carol-new'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pg.Exec(ctx, "SET password_encryption = 'md5'; ALTER ROLE dave PASSWORD 'dave-pass'; "+
			"SET password_encryption = 'scram-sha-256'; ALTER ROLE carol PASSWORD 'carol-pass'")
	})
	if err := tryConnect(p.url("dave", "dave-new", appDB)); err != nil {
		t.Fatalf("md5 login with the changed password: %v", err)
	}
	if err := tryConnect(p.url("carol", "carol-new", appDB)); err == nil {
		t.Log("SCRAM login with the changed password worked at once")
	}
	if err := tryConnect(p.url("carol", "carol-new", appDB)); err != nil {
		t.Fatalf("SCRAM login after the refetch: %v", err)
	}
	if err := tryConnect(p.url("carol", "carol-pass", appDB)); err == nil || !strings.Contains(err.Error(), "28P01") {
		t.Fatalf("old password still accepted: %v", err)
	}
}

// TestAuthQueryUnavailable: when auth_query cannot run, the client gets a
// clear error and nothing about the user.
func TestAuthQueryUnavailable(t *testing.T) {
	authqFixture(t)
	s := authqSetup()
	s.userlist = `"authq" "wrong-password"` + "\n"
	p := start(t, s)
	pe := pgErr(t, tryConnect(p.url("carol", "carol-pass", appDB)))
	if pe.Code != "08006" || !strings.Contains(pe.Message, "auth_query") {
		t.Fatalf("got %+v", pe)
	}
	_ = time.Second
}

// TestAuthQueryPoolFollowsReload: the pool auth_query runs on dials the
// auth_dbname entry as the configuration says now: an entry pointing at
// the wrong port fails lookups, and a reload that corrects it makes them
// work, without a restart.
func TestAuthQueryPoolFollowsReload(t *testing.T) {
	authqFixture(t)
	s := authqSetup()
	wrong := fmt.Sprintf("postgres = host=127.0.0.1 port=%d\n", unusedPort(t))
	s.databases = fmt.Sprintf("%s = host=127.0.0.1 port=%d\n", appDB, pg.Port()) + wrong
	p := start(t, s)
	if err := tryConnect(p.url("carol", "carol-pass", appDB)); err == nil {
		t.Fatal("logged in although auth_query's database is unreachable")
	}
	b, err := os.ReadFile(p.ini)
	if err != nil {
		t.Fatal(err)
	}
	right := fmt.Sprintf("postgres = host=127.0.0.1 port=%d\n", pg.Port())
	if err := os.WriteFile(p.ini, []byte(strings.Replace(string(b), wrong, right, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p.ini)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.gw.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	// server_login_retry (1 s in the tests) may still hold back the pool
	// whose login just failed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := tryConnect(p.url("carol", "carol-pass", appDB))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the reload: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// unusedPort returns a loopback port nothing listens on.
func unusedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// TestAuthQueryTrust: under trust, auth_query only says who exists: a role
// it finds with no password passes pgbun (PostgreSQL then decides), a name
// it does not find is refused.
func TestAuthQueryTrust(t *testing.T) {
	authqFixture(t)
	p := start(t, authqSetup("auth_type", "trust"))
	if pe := pgErr(t, tryConnect(p.url("nobody", "", appDB))); pe.Message != `"trust" authentication failed` {
		t.Fatalf("unknown user: %+v", pe)
	}
	// "old" has no password as the lookup returns it: pgbun lets it by,
	// and the server login (which has no credentials for it) is what fails.
	if pe := pgErr(t, tryConnect(p.url("old", "", appDB))); pe.Message == `"trust" authentication failed` {
		t.Fatalf("a role with no password was refused by pgbun: %+v", pe)
	}
}
