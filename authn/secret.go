package authn

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// SecretKind tells how a stored secret verifies a password.
type SecretKind int

// The kinds of stored secret. The zero SecretKind means "no secret".
const (
	SecretPlain SecretKind = iota + 1 // the password itself
	SecretMD5                         // "md5" + hex(md5(password + user))
	SecretSCRAM                       // a SCRAM-SHA-256 secret
)

// String names the kind, as Secret.String does.
func (k SecretKind) String() string {
	switch k {
	case SecretPlain:
		return "plain"
	case SecretMD5:
		return "md5"
	case SecretSCRAM:
		return "SCRAM-SHA-256"
	default:
		return "none"
	}
}

// SCRAMSecret is a SCRAM-SHA-256 secret as PostgreSQL stores it in
// pg_authid.rolpassword. StoredKey and ServerKey are SHA-256 sized (32
// bytes). A *SCRAMSecret handed out by this package is shared: treat it as
// read-only.
type SCRAMSecret struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// String renders the secret in PostgreSQL's text form,
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>. Unlike every
// other String in this package it IS the secret: use it only to write
// userlists, never in logs.
func (s *SCRAMSecret) String() string {
	enc := base64.StdEncoding
	return "SCRAM-SHA-256$" + strconv.Itoa(s.Iterations) + ":" + enc.EncodeToString(s.Salt) +
		"$" + enc.EncodeToString(s.StoredKey) + ":" + enc.EncodeToString(s.ServerKey)
}

// LogValue implements slog.LogValuer: structured logs get the kind and
// iteration count, not the keys (String, used by %v, is the secret itself).
func (s *SCRAMSecret) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("no SCRAM secret")
	}
	return slog.StringValue("SCRAM-SHA-256 secret, " + strconv.Itoa(s.Iterations) + " iterations")
}

// usable reports whether the secret can run a SCRAM exchange: PgBouncer and
// PostgreSQL classify a secret with a non-positive iteration count as SCRAM,
// but no client accepts such a count.
func (s *SCRAMSecret) usable() bool {
	return s != nil && s.Iterations >= 1 && len(s.Salt) > 0 &&
		len(s.StoredKey) == scramKeyLen && len(s.ServerKey) == scramKeyLen
}

// Secret is a stored secret: a plaintext password, an md5 hash or a SCRAM
// secret. The zero Secret is no secret and verifies nothing. Formatting a
// Secret with any fmt verb or logging it with slog prints only its kind.
type Secret struct {
	Kind  SecretKind
	text  string // plaintext password, or "md5" + 32 lowercase hex digits
	scram *SCRAMSecret
}

// Equal reports whether two secrets are the same, in constant time for
// secrets of the same kind and size.
func (s Secret) Equal(o Secret) bool {
	if s.Kind != o.Kind {
		return false
	}
	if s.Kind == SecretSCRAM {
		return s.scram != nil && o.scram != nil && s.scram.Iterations == o.scram.Iterations &&
			subtle.ConstantTimeCompare(s.scram.Salt, o.scram.Salt) == 1 &&
			subtle.ConstantTimeCompare(s.scram.StoredKey, o.scram.StoredKey) == 1 &&
			subtle.ConstantTimeCompare(s.scram.ServerKey, o.scram.ServerKey) == 1
	}
	return subtle.ConstantTimeCompare([]byte(s.text), []byte(o.text)) == 1
}

// ParseSecret classifies s the way PgBouncer's get_password_type does
// (src/scram.c; PostgreSQL's matches it for every string either can store):
//
//   - "md5" followed by exactly 32 lowercase hex digits is an md5 hash;
//   - a string that parses as SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>
//     is a SCRAM secret, with PgBouncer's tokenizing (C strtok: empty fields
//     are skipped), PostgreSQL's base64 rules, C strtol rules for the
//     iteration count, and 32-byte keys;
//   - anything else, including a malformed SCRAM-looking string, is a
//     plaintext password. PgBouncer and PostgreSQL do exactly this, so a
//     broken secret in a userlist silently becomes a password; ParseUserlist
//     warns about it.
//
// One deliberate difference: PgBouncer stores the iteration count in a C int
// and silently truncates values outside its range; pgbun treats such a
// string as plaintext. A SCRAM secret with an iteration count below 1 keeps
// its kind (as in PgBouncer) but cannot verify any login.
func ParseSecret(s string) Secret {
	if isMD5Hash(s) {
		return Secret{Kind: SecretMD5, text: s}
	}
	if sc, ok := parseSCRAMSecret(s); ok {
		return Secret{Kind: SecretSCRAM, scram: sc}
	}
	return Secret{Kind: SecretPlain, text: s}
}

// String names the kind of secret ("plain", "md5", "SCRAM-SHA-256", or
// "none" for the zero Secret); it never contains the secret.
func (s Secret) String() string { return s.Kind.String() }

// Format implements fmt.Formatter so that no verb (%d and %x included) can
// print the secret's fields.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer: structured logs see only the kind.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SCRAM returns the SCRAM secret of a SCRAM-kind Secret.
func (s Secret) SCRAM() (*SCRAMSecret, bool) {
	if s.Kind != SecretSCRAM || s.scram == nil {
		return nil, false
	}
	return s.scram, true
}

// ServerCredentials returns what this stored secret can do when pgbun logs
// in to PostgreSQL as its user: a plaintext password answers every method,
// an md5 hash answers md5 challenges only, and a SCRAM secret alone answers
// nothing (pass-through keys come from the client's own SCRAM login).
func (s Secret) ServerCredentials() ServerCredentials {
	switch s.Kind {
	case SecretPlain:
		return ServerCredentials{Password: s.text}
	case SecretMD5:
		return ServerCredentials{MD5: s.text}
	default:
		return ServerCredentials{}
	}
}

// plaintext returns the password of a plaintext Secret; an empty stored
// password is never usable, as PostgreSQL never accepts an empty password.
func (s Secret) plaintext() (string, bool) {
	if s.Kind != SecretPlain || s.text == "" {
		return "", false
	}
	return s.text, true
}

// md5Hex returns the 32 hex digits of an md5 Secret.
func (s Secret) md5Hex() (string, bool) {
	if s.Kind != SecretMD5 || len(s.text) != md5SecretLen {
		return "", false
	}
	return s.text[len("md5"):], true
}

// md5SecretLen is len("md5") + 32 hex digits (PgBouncer's MD5_PASSWD_LEN).
const md5SecretLen = 35

// MD5Secret returns PostgreSQL's md5 secret for user and password:
// "md5" + hex(md5(password + user)).
func MD5Secret(user, password string) string {
	h := md5.New()
	io.WriteString(h, password)
	io.WriteString(h, user)
	return "md5" + hex.EncodeToString(h.Sum(nil))
}

func isMD5Hash(s string) bool {
	if len(s) != md5SecretLen || !strings.HasPrefix(s, "md5") {
		return false
	}
	for i := len("md5"); i < len(s); i++ {
		c := s[i]
		// Lowercase only: PgBouncer's MD5_PASSWD_CHARSET is "0123456789abcdef".
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// SCRAMSecretFromPassword derives the SCRAM-SHA-256 secret of password with
// salt and iterations, as PostgreSQL's CREATE ROLE ... PASSWORD does: the
// password is SASLprepped PostgreSQL's way, falling back to its raw bytes
// when SASLprep rejects it. An empty salt is replaced by 16 random bytes
// (PostgreSQL's salt length) and an iteration count below 1 by 4096
// (PostgreSQL's default). The salt is copied. It returns nil only when the
// runtime refuses the derivation (FIPS 140-only mode with a salt shorter
// than 16 bytes).
func SCRAMSecretFromPassword(password string, salt []byte, iterations int) *SCRAMSecret {
	if len(salt) == 0 {
		salt = make([]byte, defaultSaltLen)
		_, _ = rand.Read(salt) // never fails: crypto/rand.Read crashes the program instead
	} else {
		salt = append([]byte(nil), salt...)
	}
	if iterations < 1 {
		iterations = defaultIterations
	}
	keys, err := deriveKeys(password, salt, iterations)
	if err != nil {
		return nil
	}
	return &SCRAMSecret{
		Iterations: iterations,
		Salt:       salt,
		StoredKey:  keys.storedKey,
		ServerKey:  keys.serverKey,
	}
}

// parseSCRAMSecret follows PgBouncer's parse_scram_secret.
func parseSCRAMSecret(s string) (*SCRAMSecret, bool) {
	scheme, pos, ok := strtok(s, 0, "$")
	if !ok {
		return nil, false
	}
	iterStr, pos, ok := strtok(s, pos, ":")
	if !ok {
		return nil, false
	}
	saltStr, pos, ok := strtok(s, pos, "$")
	if !ok {
		return nil, false
	}
	storedStr, pos, ok := strtok(s, pos, ":")
	if !ok {
		return nil, false
	}
	serverStr, _, ok := strtok(s, pos, "")
	if !ok || scheme != "SCRAM-SHA-256" {
		return nil, false
	}
	iters, ok := cStrtolInt(iterStr)
	if !ok {
		return nil, false
	}
	salt, ok := pgB64Decode(saltStr)
	if !ok {
		return nil, false
	}
	stored, ok := pgB64Decode(storedStr)
	if !ok || len(stored) != scramKeyLen {
		return nil, false
	}
	server, ok := pgB64Decode(serverStr)
	if !ok || len(server) != scramKeyLen {
		return nil, false
	}
	return &SCRAMSecret{Iterations: iters, Salt: salt, StoredKey: stored, ServerKey: server}, true
}

// strtok mimics one call of C's strtok on s from pos: it skips leading
// delimiters, returns the token up to the next delimiter (or the end) and
// the position after that delimiter. An empty delimiter set returns the rest
// of the string. ok is false where strtok returns NULL.
func strtok(s string, pos int, delims string) (tok string, next int, ok bool) {
	for pos < len(s) && strings.IndexByte(delims, s[pos]) >= 0 {
		pos++
	}
	if pos >= len(s) {
		return "", pos, false
	}
	start := pos
	for pos < len(s) && strings.IndexByte(delims, s[pos]) < 0 {
		pos++
	}
	tok = s[start:pos]
	if pos < len(s) {
		pos++ // strtok overwrites the delimiter and resumes after it
	}
	return tok, pos, true
}

// cStrtolInt accepts what C strtol(s, &end, 10) accepts with *end == '\0'
// and errno == 0: optional leading white space, an optional sign and at
// least one digit. Values that do not fit a 32-bit int are rejected (see
// ParseSecret).
func cStrtolInt(s string) (int, bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var v int64
	for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		v = v*10 + int64(s[i]-'0')
		if v > 1<<31 {
			return 0, false
		}
	}
	if i == start || i != len(s) {
		return 0, false
	}
	if neg {
		v = -v
	}
	if v > 1<<31-1 || v < -1<<31 {
		return 0, false
	}
	return int(v), true
}

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// pgB64Decode decodes base64 with the rules of PostgreSQL's pg_b64_decode
// (src/common/base64.c), which PgBouncer shares: standard alphabet, no white
// space, input a multiple of four characters, '=' first allowed only as the
// third or fourth character of a group. Its quirks are kept: once padding
// has started, further characters still decode, each group emitting as many
// bytes as the first padding allowed.
func pgB64Decode(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s)*3/4)
	var buf uint32
	pos, end := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var b uint32
		switch {
		case c == '=':
			if end == 0 {
				switch pos {
				case 2:
					end = 1
				case 3:
					end = 2
				default:
					return nil, false
				}
			}
		default:
			v := b64Value(c)
			if v < 0 {
				return nil, false
			}
			b = uint32(v)
		}
		buf = buf<<6 + b
		pos++
		if pos == 4 {
			out = append(out, byte(buf>>16))
			if end == 0 || end > 1 {
				out = append(out, byte(buf>>8))
			}
			if end == 0 || end > 2 {
				out = append(out, byte(buf))
			}
			buf, pos = 0, 0
		}
	}
	if pos != 0 {
		return nil, false
	}
	return out, true
}

// b64Value returns the value of a standard base64 digit, or -1 (white
// space included, which pg_b64_decode rejects).
func b64Value(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return int(c-'a') + 26
	case '0' <= c && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	default:
		return -1
	}
}
