//go:build linux

package main

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/config"
)

// parseWrapped parses a wrapper around a common.ini with pgbun's own
// configuration reader, serving both files from memory.
func parseWrapped(t *testing.T, p iniParams, port int) *config.Config {
	t.Helper()
	const commonPath = "/bench/common.ini"
	files := map[string]string{commonPath: commonINI(p)}
	wrapper := wrapperINI(commonPath, port, "/bench/pgbun.pid", "/bench/pgbun.log")
	cfg, err := config.Parse("/bench/pgbun.ini", []byte(wrapper), config.ParseOptions{
		ReadFile: func(path string) ([]byte, error) {
			if s, ok := files[path]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
	})
	if err != nil {
		t.Fatalf("pgbun cannot parse the generated configuration: %v\n%s", err, files[commonPath])
	}
	return cfg
}

// testParams are complete parameters as setup produces them.
func testParams(mode string, pool int) iniParams {
	return iniParams{
		PGPort: 54321, AuthFile: "/bench/userlist.txt",
		CertFile: "/bench/pooler.crt", KeyFile: "/bench/pooler.key",
		Mode: mode, PoolSize: pool,
	}
}

func TestGeneratedINI(t *testing.T) {
	p := testParams("transaction", 20)
	cfg := parseWrapped(t, p, 6543)
	for _, w := range cfg.Warnings {
		// Every key the runner writes is one pgbun acts on, so a warning
		// means the two poolers would not run the same configuration.
		t.Errorf("unexpected warning: %s", w)
	}
	g := cfg.General
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen_addr", strings.Join(g.ListenAddr, ","), "127.0.0.1"},
		{"listen_port (after the include)", g.ListenPort, 6543},
		{"pidfile (after the include)", g.Pidfile, "/bench/pgbun.pid"},
		{"logfile (after the include)", g.Logfile, "/bench/pgbun.log"},
		{"unix_socket_dir", g.UnixSocketDir, ""},
		{"auth_type", g.AuthType, config.AuthSCRAM},
		{"auth_file", g.AuthFile, p.AuthFile},
		{"pool_mode", g.PoolMode, config.PoolTransaction},
		{"default_pool_size", g.DefaultPoolSize, 20},
		{"max_client_conn", g.MaxClientConn, maxClientConn},
		{"ignore_startup_parameters", strings.Join(g.IgnoreStartupParameters, ","), "extra_float_digits"},
		{"log_connections", g.LogConnections, false},
		{"log_disconnections", g.LogDisconnections, false},
		{"client_tls_sslmode", g.ClientTLS.SSLMode, config.SSLPrefer},
		{"client_tls_cert_file", g.ClientTLS.CertFile, p.CertFile},
		{"client_tls_key_file", g.ClientTLS.KeyFile, p.KeyFile},
		{"server_tls_sslmode", g.ServerTLS.SSLMode, config.SSLDisable},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	db, ok := cfg.Database(benchDB)
	if !ok {
		t.Fatalf("no [databases] entry for %q", benchDB)
	}
	if strings.Join(db.Host, ",") != "127.0.0.1" || db.Port != 54321 || db.DBName != benchDB {
		t.Errorf("database entry: host %v port %d dbname %q", db.Host, db.Port, db.DBName)
	}
	if ps := cfg.Pool(db, benchUser); ps.Mode != config.PoolTransaction || ps.Size != 20 {
		t.Errorf("effective pool: mode %s size %d, want transaction 20", ps.Mode, ps.Size)
	}
}

// TestCommonINIHasOneSection guards the reason the file exists: a second
// [pgbouncer] header would reset the keys before it, and the wrappers rely on
// the section staying open at the end.
func TestCommonINIHasOneSection(t *testing.T) {
	s := commonINI(testParams("session", 55))
	if n := strings.Count(s, "[pgbouncer]"); n != 1 {
		t.Fatalf("%d [pgbouncer] headers, want 1", n)
	}
	if strings.LastIndex(s, "[") != strings.Index(s, "[pgbouncer]") {
		t.Fatalf("common.ini does not end inside [pgbouncer]:\n%s", s)
	}
}

func TestSessionPoolFromINI(t *testing.T) {
	cfg := parseWrapped(t, testParams("session", poolSize("session", 50, 20)), 7000)
	if cfg.General.PoolMode != config.PoolSession || cfg.General.DefaultPoolSize != 55 {
		t.Fatalf("pool_mode %s default_pool_size %d, want session 55",
			cfg.General.PoolMode, cfg.General.DefaultPoolSize)
	}
}

func TestUserlistLine(t *testing.T) {
	for _, c := range []struct{ user, password string }{
		{benchUser, "0123456789abcdef"},
		{`we"ird`, `pa"ss word`},
	} {
		line := userlistLine(c.user, c.password)
		ul, warns, err := authn.ParseUserlist(strings.NewReader(line), "userlist.txt")
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(warns) > 0 {
			t.Errorf("%q: warnings %v", line, warns)
		}
		sec, ok := ul.Lookup(c.user)
		if !ok {
			t.Fatalf("%q: user %q not found", line, c.user)
		}
		if sec.Kind != authn.SecretPlain || !authn.VerifyPassword(c.user, sec, c.password) {
			t.Errorf("%q: the password does not read back as plaintext", line)
		}
		if authn.VerifyPassword(c.user, sec, c.password+"x") {
			t.Errorf("%q: a wrong password verifies", line)
		}
	}
}

func TestWrapperRejectsMissingCommon(t *testing.T) {
	wrapper := wrapperINI("/nowhere/common.ini", 6000, "/p", "/l")
	_, err := config.Parse("/w.ini", []byte(wrapper), config.ParseOptions{
		ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist },
	})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want the missing include reported", err)
	}
}
