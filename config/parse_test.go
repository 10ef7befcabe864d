package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// memFS serves %include files from memory and records what was read.
type memFS struct {
	files map[string]string
	reads []string
}

func (m *memFS) ReadFile(path string) ([]byte, error) {
	m.reads = append(m.reads, path)
	data, ok := m.files[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return []byte(data), nil
}

func parseString(t *testing.T, text string) *Config {
	t.Helper()
	cfg, err := Parse("test.ini", []byte(text), ParseOptions{ReadFile: refuseIncludes})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func parseError(t *testing.T, text string) *Error {
	t.Helper()
	_, err := Parse("test.ini", []byte(text), ParseOptions{ReadFile: refuseIncludes})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse error = %v (%T), want *Error", err, err)
	}
	return e
}

func TestDefaultsWithFileArePgBouncers(t *testing.T) {
	g := parseString(t, "[pgbouncer]\n").General
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen_addr", g.ListenAddr, []string(nil)},
		{"listen_port", g.ListenPort, 6432},
		{"unix_socket_dir", g.UnixSocketDir, "/tmp"},
		{"unix_socket_mode", g.UnixSocketMode, os.FileMode(0o777)},
		{"auth_type", g.AuthType, AuthMD5},
		{"pool_mode", g.PoolMode, PoolSession},
		{"default_pool_size", g.DefaultPoolSize, 20},
		{"max_client_conn", g.MaxClientConn, 100},
		{"server_reset_query", g.ServerResetQuery, "DISCARD ALL"},
		{"server_check_query", g.ServerCheckQuery, ""},
		{"server_check_disabled", g.ServerCheckDisabled, false},
		{"server_lifetime", g.ServerLifetime, time.Hour},
		{"query_wait_timeout", g.QueryWaitTimeout, 120 * time.Second},
		{"reserve_pool_timeout", g.ReservePoolTimeout, 5 * time.Second},
		{"client_tls_sslmode", g.ClientTLS.SSLMode, SSLDisable},
		{"server_tls_sslmode", g.ServerTLS.SSLMode, SSLPrefer},
		{"client_tls_protocols", g.ClientTLS.Protocols, "secure"},
		{"track_extra_parameters", g.TrackExtraParameters, []string{"IntervalStyle"}},
		{"max_packet_size", g.MaxPacketSize, 2147483647},
		{"tcp_keepalive", g.TCPKeepalive, true},
		{"log_connections", g.LogConnections, true},
		{"auth_query", g.AuthQuery, defaultAuthQuery},
		{"conffile", g.Conffile, "test.ini"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	g := c.General
	if !reflect.DeepEqual(g.ListenAddr, []string{"127.0.0.1"}) || g.ListenPort != 6432 || g.UnixSocketDir != "" {
		t.Errorf("listeners: %v:%d unix %q", g.ListenAddr, g.ListenPort, g.UnixSocketDir)
	}
	if g.PoolMode != PoolSession || g.MaxClientConn != 100 || g.DefaultPoolSize != 25 || g.AuthType != AuthServer {
		t.Errorf("pooling/auth: %s %d %d %s", g.PoolMode, g.MaxClientConn, g.DefaultPoolSize, g.AuthType)
	}
	if g.ServerResetQuery != "DISCARD ALL" || g.ServerTLS.SSLMode != SSLPrefer || g.QueryWaitTimeout != 120*time.Second {
		t.Error("other keys are not at PgBouncer's defaults")
	}
	if len(c.Files) != 0 || len(c.Warnings) != 0 {
		t.Errorf("Files %v, Warnings %v; want both empty", c.Files, c.Warnings)
	}
	db, ok := c.Database("anything")
	if !ok || db.Name != "*" || !reflect.DeepEqual(db.Host, []string{"localhost"}) || db.Port != 5432 || db.DBName != "" {
		t.Errorf("Database(anything) = %+v, %v", db, ok)
	}
	// Each call builds a fresh value: changing one leaves the next alone.
	other := Default()
	other.General.ListenAddr[0] = "0.0.0.0"
	other.Databases["*"].Port = 1
	if c.General.ListenAddr[0] != "127.0.0.1" || c.Databases["*"].Port != 5432 {
		t.Error("two Default() results share state")
	}
}

func TestInlineHashIsPartOfValue(t *testing.T) {
	cfg := parseString(t, "[pgbouncer]\nserver_reset_query = DISCARD ALL # not a comment\n"+
		"[databases]\napp = host=db password=pa#ss;word\n")
	if got := cfg.General.ServerResetQuery; got != "DISCARD ALL # not a comment" {
		t.Errorf("server_reset_query = %q", got)
	}
	db := cfg.Databases["app"]
	if db.Password != "pa#ss;word" {
		t.Errorf("password = %q", db.Password)
	}
	if db.Raw != "host=db password=***" {
		t.Errorf("Raw = %q, want the password redacted", db.Raw)
	}
}

func TestQuotedNames(t *testing.T) {
	cfg := parseString(t, "[pgbouncer]\n[databases]\n"+
		`"my db" = host=a`+"\n"+
		`"say ""hi""" = host=b`+"\n"+
		`'it''s' = host=c`+"\n"+
		`'x y'=host=d`+"\n"+
		"[users]\n"+
		`"user@example.com" = pool_size=3`+"\n")
	for name, host := range map[string]string{"my db": "a", `say "hi"`: "b", "it's": "c", "x y": "d"} {
		db, ok := cfg.Databases[name]
		if !ok || db.Host[0] != host {
			t.Errorf("database %q = %+v, %v", name, db, ok)
		}
	}
	if u, ok := cfg.Users["user@example.com"]; !ok || u.PoolSize != 3 {
		t.Errorf("user entry = %+v, %v", u, ok)
	}
	for _, bad := range []string{`"" = host=a`, `"open = host=a`, `'' = host=a`} {
		if e := parseError(t, "[pgbouncer]\n[databases]\n"+bad+"\n"); e.Line != 3 {
			t.Errorf("%s: error at line %d: %v", bad, e.Line, e)
		}
	}
}

func TestLineEndingsAndBOM(t *testing.T) {
	cfg := parseString(t, "\ufeff[pgbouncer]\r\nlisten_port = 7000\r\n[databases] \r\napp = host=db\r\n")
	if cfg.General.ListenPort != 7000 || cfg.Databases["app"].Host[0] != "db" {
		t.Errorf("CRLF file read wrong: port %d, db %+v", cfg.General.ListenPort, cfg.Databases["app"])
	}
	if e := parseError(t, "[pgbouncer]\nlisten_port = 1\x00\n"); e.Line != 2 || !strings.Contains(e.Problem, "NUL") {
		t.Errorf("NUL byte error = %v", e)
	}
}

func TestHeaderFollowedByText(t *testing.T) {
	// PgBouncer keeps reading after "]": a comment is a comment, and a
	// setting on the same line is a setting.
	cfg := parseString(t, "[pgbouncer] listen_port = 7100\n[databases] # dbs\napp = host=db\n")
	if cfg.General.ListenPort != 7100 {
		t.Errorf("listen_port = %d", cfg.General.ListenPort)
	}
}

func TestUnknownAndUnsupportedWarnings(t *testing.T) {
	cfg := parseString(t, "[pgbouncer]\nlisten_port = 1\nnot_a_key = 1\nserver_round_robin = 1\nservice_name = x\n"+
		"[databases]\napp = host=db sni=db.example.com auth_user=u colour=red\n"+
		"[users]\nu = pool_mode=session query_timeout=5 max_user_client_connections=3\n")
	want := []string{
		"test.ini:3: not_a_key: " + msgUnknown,
		"test.ini:4: server_round_robin: " + msgUnsupported,
		"test.ini:5: service_name: " + msgUnsupported,
		"test.ini:7: colour: " + msgUnknown,
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cfg.Databases["app"].SNI != "db.example.com" || cfg.General.JobName != "x" {
		t.Error("accepted values were not kept")
	}
}

func TestRepeatedSectionResetsLikePgBouncer(t *testing.T) {
	cfg := parseString(t, "[pgbouncer]\nlisten_port = 7000\nauth_file = /u.txt\nverbose = 2\n[pgbouncer]\n")
	g := cfg.General
	if g.ListenPort != 6432 {
		t.Errorf("listen_port = %d, want the default after the repeated header", g.ListenPort)
	}
	// Keys without a PgBouncer default survive.
	if g.AuthFile != "/u.txt" || g.Verbose != 2 {
		t.Errorf("auth_file %q, verbose %d: want them kept", g.AuthFile, g.Verbose)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Line != 5 || !strings.Contains(cfg.Warnings[0].Msg, "listen_port") {
		t.Errorf("warnings = %v", cfg.Warnings)
	}
}

func TestIncludes(t *testing.T) {
	m := &memFS{files: map[string]string{
		"conf.d/dbs.ini":   "app = host=db\n%include more.ini\n",
		"conf.d/more.ini":  "other = host=db2\n[users]\nbob = pool_size=2\n",
		"shared/users.ini": "alice = pool_size=1\n",
		"/abs/tail.ini":    "[pgbouncer]\nmax_client_conn = 7\n",
	}}
	main := "[pgbouncer]\n[databases]\n%include conf.d/dbs.ini\n%include shared/users.ini\n%include /abs/tail.ini\n"
	cfg, err := Parse("etc/main.ini", []byte(main), ParseOptions{ReadFile: m.ReadFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Databases["other"]; !ok {
		t.Error("nested include relative to the including file was not read")
	}
	// The section set inside an include carries on after it, as in PgBouncer.
	if cfg.Users["alice"] == nil || cfg.Users["bob"] == nil {
		t.Errorf("users = %v", cfg.Users)
	}
	if cfg.General.MaxClientConn != 7 {
		t.Errorf("max_client_conn = %d", cfg.General.MaxClientConn)
	}
	wantFiles := []string{"etc/main.ini", "conf.d/dbs.ini", "conf.d/more.ini", "shared/users.ini", "/abs/tail.ini"}
	if !reflect.DeepEqual(cfg.Files, wantFiles) {
		t.Errorf("Files = %q, want %q", cfg.Files, wantFiles)
	}
	// more.ini is missing from the working directory and found next to dbs.ini.
	if !reflect.DeepEqual(m.reads[:3], []string{"conf.d/dbs.ini", "more.ini", "conf.d/more.ini"}) {
		t.Errorf("reads = %q", m.reads)
	}
}

func TestIncludeErrors(t *testing.T) {
	m := &memFS{files: map[string]string{
		"self.ini":  "%include self.ini\n",
		"loop1.ini": "%include loop2.ini\n",
		"loop2.ini": "\n%include ./loop1.ini\n",
	}}
	parse := func(text string) *Error {
		_, err := Parse("main.ini", []byte(text), ParseOptions{ReadFile: m.ReadFile})
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error = %v, want *Error", err)
		}
		return e
	}
	if e := parse("[pgbouncer]\n%include self.ini\n"); e.File != "self.ini" || e.Line != 1 || !strings.Contains(e.Problem, "cycle") {
		t.Errorf("self include: %v", e)
	}
	e := parse("[pgbouncer]\n%include loop1.ini\n")
	if e.File != "loop2.ini" || e.Line != 2 || e.Problem != "include cycle: loop1.ini -> loop2.ini -> loop1.ini" {
		t.Errorf("loop: %v", e)
	}
	e = parse("[pgbouncer]\n\n%include missing.ini\n")
	if e.File != "main.ini" || e.Line != 3 || !errors.Is(e, fs.ErrNotExist) {
		t.Errorf("missing include: %v (errors.Is ErrNotExist = %v)", e, errors.Is(e, fs.ErrNotExist))
	}
}

func TestIncludeDepth(t *testing.T) {
	chain := func(n int) *memFS {
		m := &memFS{files: map[string]string{}}
		for i := 1; i < n; i++ {
			m.files[fmt.Sprintf("d%d.ini", i)] = fmt.Sprintf("%%include d%d.ini\n", i+1)
		}
		m.files[fmt.Sprintf("d%d.ini", n)] = "listen_port = 7777\n"
		return m
	}
	// PgBouncer allows ten nested levels below the main file.
	cfg, err := Parse("main.ini", []byte("[pgbouncer]\n%include d1.ini\n"), ParseOptions{ReadFile: chain(10).ReadFile})
	if err != nil || cfg.General.ListenPort != 7777 {
		t.Fatalf("ten levels: %v", err)
	}
	_, err = Parse("main.ini", []byte("[pgbouncer]\n%include d1.ini\n"), ParseOptions{ReadFile: chain(11).ReadFile})
	var e *Error
	if !errors.As(err, &e) || e.File != "d10.ini" || !strings.Contains(e.Problem, "nested more than 10") {
		t.Errorf("eleven levels: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "pgbun.ini")
	if err := os.WriteFile(filepath.Join(dir, "dbs.ini"), []byte("app = host=db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, []byte("[pgbouncer]\n[databases]\n%include dbs.ini\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Databases["app"] == nil || len(cfg.Files) != 2 || cfg.Files[1] != filepath.Join(dir, "dbs.ini") {
		t.Errorf("Load: files %q, dbs %v", cfg.Files, cfg.Databases)
	}
	if _, err := Load(filepath.Join(dir, "absent.ini")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(absent) = %v, want ErrNotExist", err)
	}
}

func TestLoadIsDeterministic(t *testing.T) {
	var first string
	for i := 0; i < 5; i++ {
		cfg, err := Load(filepath.Join("testdata", "production.ini"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := render(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatal("two loads of the same files differ")
		}
	}
}

func TestPerEntryZeroMeansInherit(t *testing.T) {
	cfg := parseString(t, "[pgbouncer]\n[databases]\napp = max_db_connections=0 server_lifetime=0 pool_size=0 min_pool_size=-1\n"+
		"[users]\nu = max_user_connections=0 query_timeout=0 pool_size=0\n")
	db, u := cfg.Databases["app"], cfg.Users["u"]
	if db.MaxDBConnections != -1 || db.ServerLifetime != -1 || db.PoolSize != 0 || db.MinPoolSize != -1 {
		t.Errorf("database = %+v", db)
	}
	if u.MaxUserConnections != -1 || u.QueryTimeout != -1 || u.PoolSize != 0 {
		t.Errorf("user = %+v", u)
	}
}

func TestErrorText(t *testing.T) {
	e := parseError(t, "[pgbouncer]\n\nlisten_port = x\n")
	if e.Error() != `test.ini:3: listen_port: not an integer: "x"` {
		t.Errorf("Error() = %q", e.Error())
	}
	e = parseError(t, "[databases]\n")
	if e.Error() != "test.ini:1: missing [pgbouncer] section" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	for _, text := range []string{
		"[pgbouncer]\n[databases]\napp = password='hunter2\n",
		"[pgbouncer]\n[databases]\napp = password='hunter2'x\n",
		"[pgbouncer]\n[databases]\napp = password=hunter2 port=x\n",
		"[pgbouncer]\n[databases]\napp = password= hunter2=\n",
	} {
		e := parseError(t, text)
		if strings.Contains(e.Error(), "hunter2") {
			t.Errorf("error reveals the password: %v", e)
		}
	}
}

// auth_throttle_failures defaults to 5 when absent; an explicit 0 must
// reach the gateway as 0, which turns the failed-login throttle off.
func TestAuthThrottleFailures(t *testing.T) {
	if got := parseString(t, "[pgbouncer]\n").General.AuthThrottleFailures; got != 5 {
		t.Errorf("absent: auth_throttle_failures = %d, want 5", got)
	}
	if got := Default().General.AuthThrottleFailures; got != 5 {
		t.Errorf("Default(): auth_throttle_failures = %d, want 5", got)
	}
	if got := parseString(t, "[pgbouncer]\nauth_throttle_failures = 0\n").General.AuthThrottleFailures; got != 0 {
		t.Errorf("explicit 0: auth_throttle_failures = %d, want 0", got)
	}
	if got := parseString(t, "[pgbouncer]\nauth_throttle_failures = 12\n").General.AuthThrottleFailures; got != 12 {
		t.Errorf("explicit 12: auth_throttle_failures = %d, want 12", got)
	}
	if e := parseError(t, "[pgbouncer]\nauth_throttle_failures = -1\n"); !strings.Contains(e.Error(), "auth_throttle_failures") {
		t.Errorf("negative value: %v", e)
	}
}
