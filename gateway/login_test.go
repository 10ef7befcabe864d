package gateway_test

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func pgErr(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("want a PostgreSQL error, got %v", err)
	}
	return pe
}

func tryConnect(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err == nil {
		c.Close(ctx)
	}
	return err
}

func clientTLS(t *testing.T, c *pgx.Conn) tls.ConnectionState {
	t.Helper()
	tc, ok := c.PgConn().Conn().(*tls.Conn)
	if !ok {
		t.Fatalf("client connection is %T, not TLS", c.PgConn().Conn())
	}
	return tc.ConnectionState()
}

// TestVerifyFullSCRAM: verified TLS to pgbun, SCRAM checked by pgbun against
// a plaintext userlist entry, server login with the same password over
// verified TLS.
func TestVerifyFullSCRAM(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB)
	if got := queryString(t, c, "select current_user"); got != scramUser {
		t.Fatalf("current_user = %q", got)
	}
	if got := queryString(t, c, "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()"); got != "true" {
		t.Fatalf("pgbun to server is not TLS: ssl=%s", got)
	}
	if v := clientTLS(t, c).Version; v < tls.VersionTLS12 {
		t.Fatalf("client TLS version %x", v)
	}
}

// TestChannelBindingRequired: SCRAM-SHA-256-PLUS with pgx and with psql.
func TestChannelBindingRequired(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB, "channel_binding", "require")
	if got := queryString(t, c, "select 'ok'"); got != "ok" {
		t.Fatal(got)
	}
	out, err := exec.Command("psql", p.url(scramUser, scramPass, appDB, "channel_binding", "require"),
		"-XAtc", "select current_user").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != scramUser {
		t.Fatalf("psql channel_binding=require: %v: %s", err, out)
	}
	if !strings.Contains(p.logs(), "login") {
		t.Fatal("no login logged")
	}
}

// TestPassThroughWithSCRAMSecretOnly: the userlist holds only the server's
// SCRAM secret; pgbun verifies the client and logs in to PostgreSQL with
// the ClientKey recovered from the client's proof.
func TestPassThroughWithSCRAMSecretOnly(t *testing.T) {
	f := getFixture(t)
	p := start(t, setup{
		userlist: fmt.Sprintf("%q %q\n", scramUser, f.scramSecret),
		general:  map[string]string{"default_pool_size": "1"},
	})
	c := p.connect(t, scramUser, scramPass, appDB)
	pid1 := queryString(t, c, "select pg_backend_pid()::text")
	c.Close(context.Background())
	// The next client reuses the pooled server (session pool): its login
	// needs no new server login.
	c2 := p.connect(t, scramUser, scramPass, appDB, "channel_binding", "require")
	if pid2 := queryString(t, c2, "select pg_backend_pid()::text"); pid2 != pid1 {
		t.Fatalf("server not reused: %s then %s", pid1, pid2)
	}
	err := tryConnect(p.url(scramUser, "wrong", appDB))
	if pe := pgErr(t, err); pe.Code != "28P01" {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestWrongPasswordAndUnknownUserLookAlike: an unknown user goes through a
// mock exchange and fails exactly like a wrong password.
func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	p := start(t, setup{})
	wrong := pgErr(t, tryConnect(p.url(scramUser, "nope", appDB)))
	unknown := pgErr(t, tryConnect(p.url("mallory", "nope", appDB)))
	if wrong.Code != "28P01" || unknown.Code != "28P01" || wrong.Severity != unknown.Severity {
		t.Fatalf("wrong password %+v, unknown user %+v", wrong, unknown)
	}
	if wrong.Message != "SASL authentication failed" || unknown.Message != wrong.Message {
		t.Fatalf("messages differ: %q / %q", wrong.Message, unknown.Message)
	}
	// channel_binding=require also works for the mock exchange: the
	// client cannot tell from the mechanisms offered either.
	mock := pgErr(t, tryConnect(p.url("mallory", "nope", appDB, "channel_binding", "require")))
	if mock.Code != "28P01" {
		t.Fatalf("mock with channel binding: %+v", mock)
	}
}

// TestPlaintextRefusedWhenTLSRequired: sslmode=disable against
// client_tls_sslmode=require gets FATAL "SSL required".
func TestPlaintextRefusedWhenTLSRequired(t *testing.T) {
	p := start(t, setup{general: map[string]string{"client_tls_sslmode": "require"}})
	pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, appDB, "sslmode", "disable")))
	if pe.Code != "28000" || pe.Message != "SSL required" {
		t.Fatalf("got %+v", pe)
	}
	p.connect(t, scramUser, scramPass, appDB, "sslmode", "require")
}

// TestMD5 logs in with md5 against an md5 userlist entry and an md5 role.
func TestMD5(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_type": "md5"}})
	c := p.connect(t, md5User, md5Pass, appDB)
	if got := queryString(t, c, "select current_user"); got != md5User {
		t.Fatal(got)
	}
	if pe := pgErr(t, tryConnect(p.url(md5User, "bad", appDB))); pe.Code != "28P01" {
		t.Fatalf("got %+v", pe)
	}
	// With auth_type=md5, a plaintext entry answers md5 and the SCRAM
	// secret switches the client to SCRAM, as PgBouncer does.
	c2 := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, c2, "select 1::text")
	// A user auth_file lacks gets the exchange most of its users get (md5
	// here) and a wrong password's answer.
	if pe := pgErr(t, tryConnect(p.url("mallory", "bad", appDB))); pe.Code != "28P01" ||
		pe.Message != `password authentication failed for user "mallory"` {
		t.Fatalf("unknown user: %+v", pe)
	}
}

// TestMD5UnknownUserMostlySCRAM: where most of auth_file's users have
// SCRAM secrets, a user it lacks gets a SCRAM exchange under auth_type md5.
func TestMD5UnknownUserMostlySCRAM(t *testing.T) {
	stored := "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$zLhPd5a2NbV7GByblJJ+eNqjjyUXD4Kx8EGL3IHT2yw=:Cu8Vs3YqXoGvWQo4nk6jZ+gzq4lDtKM0WkL0L/3Xxes="
	p := start(t, setup{general: map[string]string{"auth_type": "md5"},
		userlist: fmt.Sprintf("%q %q\n%q %q\n%q %q\n", scramUser, scramPass, "carol", stored, "dave", stored)})
	if pe := pgErr(t, tryConnect(p.url("mallory", "bad", appDB))); pe.Code != "28P01" || pe.Message != "SASL authentication failed" {
		t.Fatalf("unknown user: %+v", pe)
	}
}

// TestPlainAuth asks for the cleartext password (over TLS).
func TestPlainAuth(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_type": "plain"}})
	p.connect(t, scramUser, scramPass, appDB)
	if pe := pgErr(t, tryConnect(p.url(scramUser, "bad", appDB))); pe.Code != "28P01" {
		t.Fatalf("got %+v", pe)
	}
}

// TestTrust lets listed users in without a password, not others.
func TestTrust(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_type": "trust"}})
	p.connect(t, scramUser, "", appDB)
	if pe := pgErr(t, tryConnect(p.url("mallory", "", appDB))); pe.Code != "28000" || pe.Message != `"trust" authentication failed` {
		t.Fatalf("got %+v", pe)
	}
}

// TestRelayedAuth: auth_type=server relays the client's own SCRAM login to
// PostgreSQL on a server connection of its own, closed afterwards.
func TestRelayedAuth(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_type": "server", "auth_file": ""}})
	c := p.connect(t, scramUser, scramPass, appDB, "sslmode", "disable")
	pid := queryString(t, c, "select pg_backend_pid()::text")
	c.Close(context.Background())
	c2 := p.connect(t, md5User, md5Pass, appDB, "sslmode", "disable")
	if got := queryString(t, c2, "select current_user"); got != md5User {
		t.Fatal(got)
	}
	c3 := p.connect(t, scramUser, scramPass, appDB, "sslmode", "disable")
	if queryString(t, c3, "select pg_backend_pid()::text") == pid {
		t.Fatal("a relayed login's server was handed to another login")
	}
	pe := pgErr(t, tryConnect(p.url(scramUser, "wrong", appDB, "sslmode", "disable")))
	if pe.Code != "28P01" {
		t.Fatalf("got %+v", pe)
	}
}

func TestUnknownDatabase(t *testing.T) {
	p := start(t, setup{databases: fmt.Sprintf("%s = host=127.0.0.1 port=%d\n", appDB, pg.Port())})
	pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, "nosuchdb")))
	if pe.Code != "3D000" {
		t.Fatalf("got %+v", pe)
	}
}

func TestMaxClientConn(t *testing.T) {
	p := start(t, setup{general: map[string]string{"max_client_conn": "2"}})
	p.connect(t, scramUser, scramPass, appDB)
	p.connect(t, scramUser, scramPass, appDB)
	pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, appDB)))
	if pe.Code != "53300" || !strings.Contains(pe.Message, "max_client_conn") {
		t.Fatalf("got %+v", pe)
	}
}

// TestClientCertificateRequired: verify-ca demands a client certificate
// signed by client_tls_ca_file.
func TestClientCertificateRequired(t *testing.T) {
	f := getFixture(t)
	p := start(t, setup{general: map[string]string{
		"client_tls_sslmode": "verify-ca", "client_tls_ca_file": f.clientCAFile,
	}})
	if err := tryConnect(p.url(scramUser, scramPass, appDB)); err == nil {
		t.Fatal("connected without a client certificate")
	}
	p.connect(t, scramUser, scramPass, appDB, "sslcert", f.clientCrt, "sslkey", f.clientKy)
}

// TestDirectTLS: PostgreSQL 17's sslnegotiation=direct (TLS first, ALPN
// "postgresql"), as pgx speaks it.
func TestDirectTLS(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB, "sslnegotiation", "direct")
	if cs := clientTLS(t, c); cs.NegotiatedProtocol != "postgresql" {
		t.Fatalf("ALPN %q", cs.NegotiatedProtocol)
	}
}

// TestProtocol32 speaks protocol 3.2 (long cancel keys) with pgx.
func TestProtocol32(t *testing.T) {
	p := start(t, setup{})
	c := p.connect(t, scramUser, scramPass, appDB, "max_protocol_version", "3.2", "min_protocol_version", "3.2")
	if n := len(c.PgConn().SecretKey()); n != 32 {
		t.Fatalf("secret key of %d bytes on protocol 3.2", n)
	}
	if err := sleepAndCancel(c); err != nil {
		t.Fatalf("cancel with a 32-byte key: %v", err)
	}
}

// TestDisconnectLogLines: every client that goes is logged as PgBouncer
// logs it, "closing because: <why> (age=Ns)", the why being what the
// client was told; a server's refusal of a login is logged as it came.
func TestDisconnectLogLines(t *testing.T) {
	p := start(t, setup{databases: fmt.Sprintf("%s = host=127.0.0.1 port=%d\nghost = host=127.0.0.1 port=%d dbname=no_such_pg_db\n",
		appDB, pg.Port(), pg.Port())})
	pgErr(t, tryConnect(p.url(scramUser, "nope", appDB)))
	pgErr(t, tryConnect(p.url(scramUser, scramPass, "ghost")))
	c := p.connect(t, scramUser, scramPass, appDB)
	c.Close(context.Background())
	for _, want := range []string{
		`WARNING closing because: SASL authentication failed (age=0s) step=login`,
		`WARNING server login failed: FATAL database "no_such_pg_db" does not exist server=`,
		`WARNING closing because: database "no_such_pg_db" does not exist (age=0s) step=server`,
		`LOG closing because: client close request (age=0s) client=`,
	} {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.logs(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("log lacks %q:\n%s", want, p.logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestServerLoginWrongPasswordType: a server asks for SCRAM and all pgbun
// holds for the user is a SCRAM secret no client login has unlocked yet
// (auth_type trust): the client is told so, as PgBouncer tells it.
func TestServerLoginWrongPasswordType(t *testing.T) {
	f := getFixture(t)
	p := start(t, setup{general: map[string]string{"auth_type": "trust"},
		userlist: fmt.Sprintf("%q %q\n", scramUser, f.scramSecret)})
	pe := pgErr(t, tryConnect(p.url(scramUser, "", appDB)))
	if pe.Code != "28P01" || pe.Message != "server login failed: wrong password type" {
		t.Fatalf("got %+v", pe)
	}
}

// TestLongPasswords: passwords as long as PgBouncer takes (65530 bytes,
// long tokens used as passwords) are checked like any other; longer ones
// are refused as a protocol violation.
func TestLongPasswords(t *testing.T) {
	p := start(t, setup{general: map[string]string{"auth_type": "plain"}})
	if pe := pgErr(t, tryConnect(p.url(scramUser, strings.Repeat("x", 65530), appDB))); pe.Code != "28P01" {
		t.Fatalf("long password: %+v", pe)
	}
	// pgbun answers as soon as it has read the message's length, so the
	// client may still be writing when the connection closes: it sees the
	// error or a broken pipe; the log says which refusal it was.
	if err := tryConnect(p.url(scramUser, strings.Repeat("x", 70000), appDB)); err == nil {
		t.Fatal("an overlong password was taken")
	}
	waitFor(t, 5*time.Second, func() bool {
		return strings.Contains(p.logs(), "closing because: invalid authentication message: too long")
	})
}
