package policy

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

const identFile = `# MAPNAME   SYSTEM-USERNAME            PG-USERNAME
certs       alice.example.com          alice
certs       alice.example.com          alice_ro    # a second user for the same CN
certs       "/^(.*)@example\.com$"     \1
certs       /^svc-([a-z]+)$            \1_app\1
certs       /^ops-                     all
certs       root                       "all"
certs       /^bot\d+$                  /^bots?_
os          postgres                   postgres
os          deploy                     "+deployers"
`

func TestIdentAllows(t *testing.T) {
	m, err := ParseIdent("ident.conf", []byte(identFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mapName, sys, db string
		want             bool
	}{
		{"certs", "alice.example.com", "alice", true},
		{"certs", "alice.example.com", "alice_ro", true},
		{"certs", "alice.example.com", "bob", false},
		{"certs", "bob@example.com", "bob", true},
		{"certs", "bob@example.com", "alice", false},
		{"certs", "bob@example.org", "bob", false},
		{"certs", "@example.com", "", true},
		{"certs", "svc-billing", "billing_appbilling", false}, // only the first \1 is replaced
		{"certs", "svc-billing", `billing_app\1`, true},
		{"certs", "svc-Billing", `Billing_app\1`, false},
		{"certs", "ops-anna", "postgres", true},
		{"certs", "xops-anna", "postgres", false},
		{"certs", "root", "all", true}, // quoted all is a name
		{"certs", "root", "postgres", false},
		{"certs", "bot7", "bots_x", true},
		{"certs", "bot7", "bot_x", true},
		{"certs", "bot7", "robot", false},
		{"os", "postgres", "postgres", true},
		{"os", "deploy", "+deployers", true},
		{"os", "alice.example.com", "alice", false}, // other map
		{"nosuchmap", "postgres", "postgres", false},
		{"", "postgres", "postgres", true}, // no map: names must be equal
		{"", "postgres", "alice", false},
	}
	for _, tc := range tests {
		if got := m.Allows(tc.mapName, tc.sys, tc.db); got != tc.want {
			t.Errorf("Allows(%q, %q, %q) = %v, want %v", tc.mapName, tc.sys, tc.db, got, tc.want)
		}
	}
}

func TestIdentNil(t *testing.T) {
	var m *IdentMap
	if !m.Allows("certs", "alice", "alice") || m.Allows("certs", "alice", "bob") {
		t.Error("a nil map must require equal names")
	}
}

func TestParseIdentBad(t *testing.T) {
	tests := []struct{ text, want string }{
		{"certs alice", "ident.conf:2: want 3 fields (map name, system user, database user), got 2"},
		{"certs alice bob carol", "ident.conf:2: want 3 fields (map name, system user, database user), got 4"},
		{"certs alice,bob carol", "ident.conf:2: an ident map field must be a single value, not a comma list"},
		{"include other.conf", "ident.conf:2: include directives are not supported"},
		{"include_dir conf.d", "ident.conf:2: include_dir directives are not supported"},
		// RE2 has no lookbehind; the rest of these messages is regexp's own.
		{`certs "/(unclosed" bob`, `ident.conf:2: invalid regular expression "(unclosed": error parsing regexp: `},
		{`certs alice /(?<=x)y`, `ident.conf:2: invalid regular expression "(?<=x)y": error parsing regexp: `},
		{`certs /^bot$ \1`, `ident.conf:2: database user "\\1" uses \1 but the regular expression has no capture group`},
		{"certs alice +admins", "ident.conf:2: group membership (+admins) is not supported: pgbun does not know role membership"},
		{`"" alice bob`, "ident.conf:2: empty map name"},
		{`certs "" bob`, "ident.conf:2: empty system user name"},
		{`certs alice ""`, "ident.conf:2: empty database user name"},
		{`certs "alice bob`, "ident.conf:2: unterminated quoted string"},
	}
	for _, tc := range tests {
		_, err := ParseIdent("ident.conf", []byte("ok alice alice\n"+tc.text+"\n"))
		if err == nil {
			t.Errorf("%q: parsed", tc.text)
			continue
		}
		if err.Error() != tc.want && !(strings.HasSuffix(tc.want, "regexp: ") && strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%q:\n got %q\nwant %q", tc.text, err, tc.want)
		}
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != 2 {
			t.Errorf("%q: not a *ParseError at line 2: %#v", tc.text, err)
		}
	}
}

func TestLoadIdent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/ident.conf", "m a b\n")
	m, err := LoadIdent(dir + "/ident.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Allows("m", "a", "b") {
		t.Error("loaded map does not allow a as b")
	}
	if _, err := LoadIdent(dir + "/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
