package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEntryAliasesAndUnsupportedKeys(t *testing.T) {
	cfg := parseString(t, "[pgbouncer]\n[databases]\n"+
		"app = host=db reserve_pool=3 query_wait_timeout=5 target_session_attrs=Primary\n"+
		"[users]\n"+
		"u = reserve_pool=4 query_wait_timeout=-1 query_timeout=0\n"+
		"[peers]\n"+
		"1 = host=peer1 port=7000\n")
	want := []string{
		"test.ini:3: target_session_attrs: " + msgUnsupported,
	}
	var got []string
	for _, w := range cfg.Warnings {
		got = append(got, w.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if db := cfg.Databases["app"]; db.ReservePoolSize != 3 || !reflect.DeepEqual(db.Host, []string{"db"}) || db.QueryWaitTimeout != 5*time.Second {
		t.Errorf("database: reserve_pool_size %d, host %v, query_wait_timeout %v", db.ReservePoolSize, db.Host, db.QueryWaitTimeout)
	}
	// query_timeout=0 means "inherit", stored as -1.
	if u := cfg.Users["u"]; u.ReservePoolSize != 4 || u.QueryTimeout != -1 || u.QueryWaitTimeout != -1 {
		t.Errorf("user: reserve_pool_size %d, query_timeout %v", u.ReservePoolSize, u.QueryTimeout)
	}
	if p := cfg.Peers[1]; p.Host != "peer1" || p.Port != 7000 || p.PoolSize != cfg.General.DefaultPoolSize {
		t.Errorf("peer: %+v", *p)
	}
}

func TestEntryKeyErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[databases]\napp = host=db Reserve_Pool=1\n", "test.ini:3: Reserve_Pool: parameter names are case-sensitive: did you mean reserve_pool?"},
		{"[users]\nu = Pool_Size=1\n", "test.ini:3: Pool_Size: parameter names are case-sensitive: did you mean pool_size?"},
		{"[peers]\n1 = Host=p\n", "test.ini:3: Host: parameter names are case-sensitive: did you mean host?"},
		{"[databases]\napp = target_session_attrs=primry\n", "test.ini:3: target_session_attrs: must be one of"},
		{"[users]\nu = query_wait_timeout=soon\n", "test.ini:3: query_wait_timeout: not a duration"},
		{"[users]\nu = reserve_pool=-2\n", "test.ini:3: reserve_pool: must be at least -1, got -2"},
		{"[peers]\n1 = port=0 host=p\n", "test.ini:3: port: must be between 1 and 65535, got 0"},
	} {
		e := parseError(t, "[pgbouncer]\n"+tc.text)
		if !strings.HasPrefix(e.Error(), tc.want) {
			t.Errorf("%q: error %q, want %q...", tc.text, e.Error(), tc.want)
		}
	}
}

// TestDefaultDatabaseIsParsed checks that Default's "*" entry is the one
// the parser builds from its Raw text.
func TestDefaultDatabaseIsParsed(t *testing.T) {
	def := Default().Databases["*"]
	parsed := parseString(t, "[pgbouncer]\n[databases]\n* = "+def.Raw+"\n").Databases["*"]
	parsed.File, parsed.Line = "", 0
	if !reflect.DeepEqual(def, parsed) {
		t.Errorf("Default's * entry = %+v, parsed = %+v", *def, *parsed)
	}
}
