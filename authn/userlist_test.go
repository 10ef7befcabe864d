package authn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseUserlist(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		users    map[string]string // user -> secret kind and text, "kind:text"
		warnings []string
	}{
		{
			name: "pgbouncer format",
			in: `"alice" "pw1"
  "bob"   "` + pgMD5 + `"  trailing text is ignored
` + "\t" + `"carol" "` + pgSecret + `"` + "\r\n",
			users: map[string]string{"alice": "plain:pw1", "bob": "md5", "carol": "scram"},
		},
		{
			name:  "escaped quotes",
			in:    `"a""b" "p""w""" ` + "\n" + `"""" "x"`,
			users: map[string]string{`a"b`: `plain:p"w"`, `"`: "plain:x"},
		},
		{
			name: "comments and blank lines",
			in: "; a comment\n\n   ; indented comment \"not\" \"a user\"\n\n" +
				`"u" "p"` + "\n;\n",
			users: map[string]string{"u": "plain:p"},
		},
		{
			name:     "hash is not a comment and stops the file",
			in:       `"u1" "p1"` + "\n# comment\n" + `"u2" "p2"`,
			users:    map[string]string{"u1": "plain:p1"},
			warnings: []string{"users.txt:2: expected a double-quoted user name" + restIgnored},
		},
		{
			name:     "garbage line stops the file",
			in:       `"u1" "p1"` + "\nu2 p2\n" + `"u3" "p3"`,
			users:    map[string]string{"u1": "plain:p1"},
			warnings: []string{"users.txt:2: expected a double-quoted user name" + restIgnored},
		},
		{
			name:     "unterminated user name",
			in:       `"u1" "p1"` + "\n\"u2 p2\n",
			users:    map[string]string{"u1": "plain:p1"},
			warnings: []string{"users.txt:2: user name has no closing double quote" + restIgnored},
		},
		{
			name:     "no secret",
			in:       `"u1" "p1"` + "\n" + `"u2"`,
			users:    map[string]string{"u1": "plain:p1"},
			warnings: []string{"users.txt:2: no double-quoted secret after the user name" + restIgnored},
		},
		{
			name:  "secret runs into the next line",
			in:    `"u1" "p1` + "\n" + `"u2" "p2`,
			users: map[string]string{"u1": "plain:p1\n"},
			// The secret ends at the quote that opens "u2", the rest of
			// line 2 is ignored: nothing remains of u2.
			warnings: []string{"users.txt:1: a quoted user name or secret spans lines"},
		},
		{
			name:     "unterminated secret at the end",
			in:       `"u1" "p1"` + "\n" + `"u2" "p2`,
			users:    map[string]string{"u1": "plain:p1"},
			warnings: []string{"users.txt:2: secret has no closing double quote" + restIgnored},
		},
		{
			name: "secret on the next line",
			in:   `"u1"` + "\n" + `"u2" "p2"` + "\n" + `"u3" "p3"`,
			// PgBouncer takes "u2" as u1's secret and skips the rest of line 2.
			users:    map[string]string{"u1": "plain:u2", "u3": "plain:p3"},
			warnings: []string{"users.txt:1: no secret on the user name's line: the quoted string on line 2 is taken as the secret, as PgBouncer does"},
		},
		{
			name:     "text between name and secret",
			in:       `"u" = "p"`,
			users:    map[string]string{"u": "plain:p"},
			warnings: []string{"users.txt:1: text between the user name and the secret is ignored"},
		},
		{
			name:     "duplicate user keeps the later entry",
			in:       `"u" "old"` + "\n" + `"u" "new"`,
			users:    map[string]string{"u": "plain:new"},
			warnings: []string{"users.txt:2: user already listed on line 1; this later entry wins"},
		},
		{
			name:     "empty secret and empty name",
			in:       `"u" ""` + "\n" + `"" "p"`,
			users:    map[string]string{"u": "plain:", "": "plain:p"},
			warnings: []string{"users.txt:1: empty secret: this user cannot log in with a password", "users.txt:2: empty user name: no client can log in as it"},
		},
		{
			name:     "broken scram secret is plaintext",
			in:       `"u" "SCRAM-SHA-256$4096:bad$bad:bad"`,
			users:    map[string]string{"u": "plain:SCRAM-SHA-256$4096:bad$bad:bad"},
			warnings: []string{"users.txt:1: secret starts like a SCRAM secret but does not parse as one; it is used as a plaintext password, as PgBouncer does"},
		},
		{
			name:     "uppercase md5 is plaintext",
			in:       `"u" "` + strings.ToUpper(pgMD5) + `"`,
			users:    map[string]string{"u": "plain:" + strings.ToUpper(pgMD5)},
			warnings: []string{"users.txt:1: secret looks like an md5 hash but is not 32 lowercase hex digits; it is used as a plaintext password, as PgBouncer does"},
		},
		{
			name:     "scram with zero iterations",
			in:       `"u" "` + strings.Replace(pgSecret, "$4096:", "$0:", 1) + `"`,
			users:    map[string]string{"u": "scram"},
			warnings: []string{"users.txt:1: SCRAM secret has an iteration count below 1: this user cannot log in"},
		},
		{
			name:     "user name too long",
			in:       `"u" "p"` + "\n\"" + strings.Repeat("x", 128) + `" "p"` + "\n" + `"v" "p"`,
			users:    map[string]string{"u": "plain:p"},
			warnings: []string{"users.txt:2: user name longer than 127 bytes" + restIgnored},
		},
		{
			name:  "secret at the limit",
			in:    `"u" "` + strings.Repeat("s", 65530) + `"`,
			users: map[string]string{"u": "plain:" + strings.Repeat("s", 65530)},
		},
		{
			name:  "user name at the limit",
			in:    `"` + strings.Repeat("x", 127) + `" "p"`,
			users: map[string]string{strings.Repeat("x", 127): "plain:p"},
		},
		{
			name:     "secret too long",
			in:       `"u" "` + strings.Repeat("s", 65531) + `"`,
			users:    map[string]string{},
			warnings: []string{"users.txt:1: secret longer than 65530 bytes" + restIgnored},
		},
		{
			name:     "NUL byte ends the file",
			in:       `"u" "p"` + "\n\x00" + `"v" "p"`,
			users:    map[string]string{"u": "plain:p"},
			warnings: []string{"users.txt:2: NUL byte" + restIgnored},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ul, warnings, err := ParseUserlist(strings.NewReader(tt.in), "users.txt")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(warnings, "\n") != strings.Join(tt.warnings, "\n") {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(warnings, "\n"), strings.Join(tt.warnings, "\n"))
			}
			if ul.Len() != len(tt.users) {
				t.Fatalf("Len() = %d, want %d", ul.Len(), len(tt.users))
			}
			for user, want := range tt.users {
				sec, ok := ul.Lookup(user)
				if !ok {
					t.Fatalf("user %q missing", user)
				}
				if got := describe(sec); got != want {
					t.Fatalf("user %q: %s, want %s", user, got, want)
				}
			}
		})
	}
}

func describe(s Secret) string {
	switch s.Kind {
	case SecretPlain:
		return "plain:" + s.text
	case SecretMD5:
		return "md5"
	case SecretSCRAM:
		return "scram"
	}
	return "none"
}

func TestUserlistWarningsNeverShowSecrets(t *testing.T) {
	const secret = "Sup3rS3cret"
	in := `"u" junk "` + secret + `"` + "\n" +
		`"u" "` + secret + `"` + "\n" +
		`"v"` + "\n" + `"` + secret + `" "x"` + "\n" +
		`"SCRAM-SHA-256$` + secret + `" "SCRAM-SHA-256$` + secret + `"` + "\n" +
		`"w" "` + secret + "\n"
	_, warnings, err := ParseUserlist(strings.NewReader(in), "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) < 4 {
		t.Fatalf("expected several warnings, got %q", warnings)
	}
	for _, w := range warnings {
		if strings.Contains(w, secret) {
			t.Fatalf("warning shows a secret: %q", w)
		}
	}
}

func TestNilUserlist(t *testing.T) {
	var ul *Userlist
	if _, ok := ul.Lookup("x"); ok || ul.Len() != 0 {
		t.Fatal("nil Userlist must be empty")
	}
}

func TestLoadUserlist(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(path, []byte(`"u" "p"`+"\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ul, warnings, err := LoadUserlist(path)
	if err != nil {
		t.Fatal(err)
	}
	if ul.Len() != 1 || len(warnings) != 1 || !strings.HasPrefix(warnings[0], path+":2: ") {
		t.Fatalf("users %d, warnings %q", ul.Len(), warnings)
	}
	if _, _, err := LoadUserlist(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseUserlistReadError(t *testing.T) {
	if _, _, err := ParseUserlist(failingReader{}, "f"); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
}
