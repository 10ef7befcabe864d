package authn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Secrets produced by PostgreSQL 15 (CREATE ROLE ... PASSWORD with
// password_encryption scram-sha-256 or md5) together with their passwords.
// They pin pgbun's derivation, SASLprep included, to PostgreSQL's.
const (
	pgPassword = "pencil"
	pgSecret   = "SCRAM-SHA-256$4096:EhxCYn4PAnV60VF69oCgbg==$S9/mtp1mlluyQwvA3Nitbr3BlSaR9q/6NfkIy4xE0uc=:4AuEsKLbIV2WI/YPLT7WQh/wK25Eor+xYlxF5EqSBi4="
	pgMD5User  = "u_md5"
	pgMD5      = "md56520b9e6d1360465923cccaa4a18e5f0" // role u_md5, password "pencil"
)

var pgSCRAMSecrets = []struct {
	name, password, secret string
}{
	{"ascii", pgPassword, pgSecret},
	// Soft hyphen maps to nothing, U+2168 (ROMAN NUMERAL NINE) normalizes
	// to "IX": SASLprep yields "IXIX".
	{"saslprep", "I\u00adX\u2168", "SCRAM-SHA-256$4096:ZclpEmccMr5egsj2UvG9Ew==$XD2WsVbeXU2j2VoLmNCgDbIZsPepvBCqVX3N6OKuGcA=:cNLi2UwXvBRUuxHeCgDPY/WP3cTp9YDfhE3qLCNUi9k="},
	// A private-use character is prohibited: the raw bytes are used.
	{"prohibited", "pa\ue000ss", "SCRAM-SHA-256$4096:3NP1Mv7wikwQB4tBtlu6UA==$RSyU4Hw8A/qfRySxC6TJ1B9uHNnHRgbtk3zkX+/Fh1Q=:/5rcQYk4an12pt6Xm+P7ZsiOJ4n+DJ9sOmiN5IQzSTw="},
	// Pure ASCII is used as is, control characters included.
	{"ascii-control", "ctl\apw", "SCRAM-SHA-256$4096:DgNuELMSuy9z8D6ClazFIA==$sObfiYIkmSl6vm5K4RqueQ7hWReQhWvVxY2Zjs5rzj8=:sSjcebfK01lPw2dzNGONZons2nG0VMRfIggKXe+U/xM="},
	// U+200B is both a non-ASCII space and "mapped to nothing";
	// PostgreSQL maps it to a space.
	{"zero-width-space", "a\u200bb", "SCRAM-SHA-256$4096:fv/l6UW6h+B9OaSeiwFdPA==$wMsoOJvl2WxxLkYDA2RvzA3Fv+VUBCrD2fImOy16ERQ=:OhtjzTJScLA9KvwoJFcZ3JlJO2lnECnIltHIWWOqSuY="},
	// A password that maps to nothing is used raw.
	{"maps-to-nothing", "\u00ad", "SCRAM-SHA-256$4096:+tWbr5HiVpyxAWHDYhwTfg==$SAbE54T24uw+nnGQIl2/LG69rQuFfO//w4rw2ZcMvgQ=:U5JTRqPvJ7iWkRKZOakmp78Q4ABLgFgFdv0gi9p3RXs="},
}

func TestParseSecret(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	salt := "c2FsdHNhbHQ="
	tests := []struct {
		name  string
		in    string
		kind  SecretKind
		iters int
	}{
		{"postgres scram", pgSecret, SecretSCRAM, 4096},
		{"postgres md5", pgMD5, SecretMD5, 0},
		{"plain", "secret", SecretPlain, 0},
		{"empty", "", SecretPlain, 0},
		{"md5 uppercase hex is plain", strings.ToUpper(pgMD5[3:]), SecretPlain, 0},
		{"md5 uppercase digits", "md5" + strings.ToUpper(pgMD5[3:]), SecretPlain, 0},
		{"md5 too short", pgMD5[:34], SecretPlain, 0},
		{"md5 too long", pgMD5 + "0", SecretPlain, 0},
		{"scram other iterations", "SCRAM-SHA-256$10000:" + salt + "$" + key + ":" + key, SecretSCRAM, 10000},
		{"scram strtol space and sign", "SCRAM-SHA-256$ +42:" + salt + "$" + key + ":" + key, SecretSCRAM, 42},
		{"scram zero iterations keeps kind", "SCRAM-SHA-256$0:" + salt + "$" + key + ":" + key, SecretSCRAM, 0},
		{"scram negative iterations", "SCRAM-SHA-256$-1:" + salt + "$" + key + ":" + key, SecretSCRAM, -1},
		{"scram strtok skips leading delimiters", "$$SCRAM-SHA-256$:4096:$" + salt + "$:" + key + ":" + key, SecretSCRAM, 4096},
		{"scram doubled delimiter", "SCRAM-SHA-256$$4096:" + salt + "$" + key + ":" + key, SecretPlain, 0},
		{"scram iterations beyond int32", "SCRAM-SHA-256$4294967297:" + salt + "$" + key + ":" + key, SecretPlain, 0},
		{"scram iterations not a number", "SCRAM-SHA-256$4096x:" + salt + "$" + key + ":" + key, SecretPlain, 0},
		{"scram iterations empty", "SCRAM-SHA-256$ :" + salt + "$" + key + ":" + key, SecretPlain, 0},
		{"scram wrong scheme", "SCRAM-SHA-1$4096:" + salt + "$" + key + ":" + key, SecretPlain, 0},
		{"scram short stored key", "SCRAM-SHA-256$4096:" + salt + "$c2FsdHNhbHQ=:" + key, SecretPlain, 0},
		{"scram bad base64 salt", "SCRAM-SHA-256$4096:c2Fsd$" + key + ":" + key, SecretPlain, 0},
		{"scram space in base64", "SCRAM-SHA-256$4096:c2Fs dA==$" + key + ":" + key, SecretPlain, 0},
		{"scram missing server key", "SCRAM-SHA-256$4096:" + salt + "$" + key, SecretPlain, 0},
		{"scram trailing garbage", pgSecret + "x", SecretPlain, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ParseSecret(tt.in)
			if s.Kind != tt.kind {
				t.Fatalf("ParseSecret(%q).Kind = %v, want %v", tt.in, s.Kind, tt.kind)
			}
			sc, ok := s.SCRAM()
			if ok != (tt.kind == SecretSCRAM) {
				t.Fatalf("SCRAM() ok = %v", ok)
			}
			if ok && sc.Iterations != tt.iters {
				t.Fatalf("Iterations = %d, want %d", sc.Iterations, tt.iters)
			}
		})
	}
}

func TestSCRAMSecretString(t *testing.T) {
	sc, ok := ParseSecret(pgSecret).SCRAM()
	if !ok {
		t.Fatal("not SCRAM")
	}
	if got := sc.String(); got != pgSecret {
		t.Fatalf("String() = %q, want PostgreSQL's text %q", got, pgSecret)
	}
}

func TestSCRAMSecretFromPasswordMatchesPostgres(t *testing.T) {
	for _, tc := range pgSCRAMSecrets {
		t.Run(tc.name, func(t *testing.T) {
			want, ok := ParseSecret(tc.secret).SCRAM()
			if !ok {
				t.Fatal("fixture is not SCRAM")
			}
			got := SCRAMSecretFromPassword(tc.password, want.Salt, want.Iterations)
			if got.String() != tc.secret {
				t.Fatalf("derived %s\nwant    %s", got, tc.secret)
			}
		})
	}
}

func TestSCRAMSecretFromPasswordDefaults(t *testing.T) {
	a := SCRAMSecretFromPassword("pw", nil, 0)
	b := SCRAMSecretFromPassword("pw", nil, -5)
	if a.Iterations != defaultIterations || len(a.Salt) != defaultSaltLen {
		t.Fatalf("defaults: iterations %d salt %d bytes", a.Iterations, len(a.Salt))
	}
	if bytes.Equal(a.Salt, b.Salt) {
		t.Fatal("two random salts are equal")
	}
	salt := []byte("0123456789abcdef")
	c := SCRAMSecretFromPassword("pw", salt, 1)
	salt[0] = 'X'
	if c.Salt[0] != '0' {
		t.Fatal("salt was not copied")
	}
}

func TestMD5SecretMatchesPostgres(t *testing.T) {
	if got := MD5Secret(pgMD5User, pgPassword); got != pgMD5 {
		t.Fatalf("MD5Secret = %s, want %s", got, pgMD5)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const pw = "hunter2-very-secret"
	secrets := []Secret{ParseSecret(pw), ParseSecret(MD5Secret("u", pw)), ParseSecret(pgSecret)}
	for _, s := range secrets {
		needles := []string{pw, MD5Secret("u", pw)[3:], "S9/mtp1m", "EhxCYn4P"}
		var outs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
			outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, []Secret{s}))
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secret", s)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s)
		outs = append(outs, buf.String(), s.String())
		j, _ := json.Marshal(s)
		outs = append(outs, string(j))
		for _, out := range outs {
			for _, n := range needles {
				if strings.Contains(out, n) {
					t.Fatalf("%s secret leaked in %q", s.Kind, out)
				}
			}
		}
		if s.String() != s.Kind.String() {
			t.Fatalf("String() = %q", s.String())
		}
	}
	if (Secret{}).String() != "none" {
		t.Fatal("zero Secret should print none")
	}
}

func TestSecretServerCredentials(t *testing.T) {
	if got := ParseSecret("pw").ServerCredentials(); got.Password != "pw" || got.MD5 != "" {
		t.Fatalf("plain: %+v", got)
	}
	if got := ParseSecret(pgMD5).ServerCredentials(); got.MD5 != pgMD5 || got.Password != "" {
		t.Fatalf("md5: %+v", got)
	}
	if got := ParseSecret(pgSecret).ServerCredentials(); got != (ServerCredentials{}) {
		t.Fatalf("scram: %+v", got)
	}
}

func TestPGBase64Decode(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "", true},
		{"YQ==", "a", true},
		{"YWI=", "ab", true},
		{"YWJj", "abc", true},
		{"YQ", "", false},      // missing padding
		{"Y===", "", false},    // '=' in second position
		{"=AAA", "", false},    // '=' first
		{"YQ=A", "a", true},    // pg_b64_decode keeps decoding after padding
		{"YW\nJj", "", false},  // white space
		{"YWJj\r", "", false},  // white space
		{"YW-j", "", false},    // URL alphabet
		{"YWJ\x80", "", false}, // non-ASCII
		{"YWJjZA==", "abcd", true},
	}
	for _, tt := range tests {
		got, ok := pgB64Decode(tt.in)
		if ok != tt.ok || (ok && string(got) != tt.want) {
			t.Errorf("pgB64Decode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStrtok(t *testing.T) {
	s := "::a:b::"
	var toks []string
	pos := 0
	for {
		tok, next, ok := strtok(s, pos, ":")
		if !ok {
			break
		}
		toks = append(toks, tok)
		pos = next
	}
	if strings.Join(toks, ",") != "a,b" {
		t.Fatalf("tokens %q", toks)
	}
	if tok, _, ok := strtok("rest:of", 0, ""); !ok || tok != "rest:of" {
		t.Fatalf("empty delimiters: %q %v", tok, ok)
	}
	if _, _, ok := strtok("abc", 3, ""); ok {
		t.Fatal("strtok at end must fail")
	}
}

func TestCredentialsNeverPrinted(t *testing.T) {
	const pw = "hunter2-very-secret"
	keys := &PassThroughKeys{ClientKey: []byte("CLIENTKEY-CLIENTKEY-CLIENTKEY-12"), ServerKey: []byte("SERVERKEY"), Salt: []byte("SALT"), Iterations: 4096}
	cred := ServerCredentials{Password: pw, MD5: MD5Secret("u", pw), Keys: keys}
	sc := mustSCRAM(t, pgSecret)
	var nilSC *SCRAMSecret
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, cred), fmt.Sprintf(verb, &cred), fmt.Sprintf(verb, keys), fmt.Sprintf(verb, *keys))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("x", "cred", cred, "keys", keys, "scram", sc, "nil", nilSC)
	}
	outs = append(outs, buf.String())
	for _, out := range outs {
		for _, needle := range []string{pw, cred.MD5[3:], "CLIENTKEY", "SERVERKEY", "S9/mtp1m", "EhxCYn4P"} {
			if strings.Contains(out, needle) {
				t.Fatalf("secret %q leaked in %q", needle, out)
			}
		}
	}
	if got := fmt.Sprint(cred); got != "ServerCredentials{password,md5,scram-keys}" {
		t.Fatalf("Sprint = %q", got)
	}
}
