package authn

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Userlist is a parsed PgBouncer auth_file (userlist.txt): user names and
// their stored secrets. It is immutable once parsed and safe for concurrent
// use; a nil *Userlist has no users.
type Userlist struct {
	users map[string]Secret
}

// Lookup returns the stored secret of user. User names are case-sensitive.
func (u *Userlist) Lookup(user string) (Secret, bool) {
	if u == nil {
		return Secret{}, false
	}
	s, ok := u.users[user]
	return s, ok
}

// MostlySCRAM reports whether more users have SCRAM secrets than md5 or
// plaintext ones: the exchange a login of an unknown user is given where
// the method depends on the secret (auth_type md5), so that the exchange
// tells as little as it can about which users exist.
func (u *Userlist) MostlySCRAM() bool {
	if u == nil {
		return false
	}
	n := 0
	for _, s := range u.users {
		if s.Kind == SecretSCRAM {
			n++
		}
	}
	return 2*n > len(u.users)
}

// Len returns the number of users.
func (u *Userlist) Len() int {
	if u == nil {
		return 0
	}
	return len(u.users)
}

// Limits of PgBouncer's loader (include/bouncer.h: MAX_USERNAME 128 and,
// since PgBouncer raised it for long tokens, MAX_PASSWORD 65531, each
// including the C string terminator), measured on the quoted text as
// PgBouncer measures it.
const (
	maxUserNameLen   = 127
	maxPasswordLen   = 65530
	maxUserlistBytes = 64 << 20
)

// LoadUserlist reads and parses the userlist file at path; see ParseUserlist.
func LoadUserlist(path string) (*Userlist, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open userlist: %w", err)
	}
	defer f.Close()
	return ParseUserlist(f, path)
}

// ParseUserlist parses a PgBouncer auth_file read from r; file names it in
// warnings. It accepts exactly what PgBouncer's loader (load_auth_file in
// src/loader.c) accepts and yields the same users:
//
//   - white space, blank lines included, is skipped; a line whose first
//     non-blank character is ';' is a comment ('#' is not a comment);
//   - an entry is a double-quoted user name, then the next double-quoted
//     string is the secret; inside quotes "" stands for one quote. Any text
//     between the two is skipped, even line breaks, so a line holding only a
//     user name takes its secret from the next quoted string below it. The
//     rest of the line after the secret is ignored;
//   - the first entry that does not parse (no opening or closing quote, a
//     name over 127 bytes, a secret over 2047 bytes) ends the file: it and
//     every later line are ignored. So does a NUL byte;
//   - a user listed twice keeps the later secret; secrets are classified by
//     ParseSecret.
//
// Nothing of this happens silently: each such line yields a warning of the
// form "file:line: problem", never containing a user name or secret. The
// error reports read failures only (and a file over 64 MiB).
func ParseUserlist(r io.Reader, file string) (*Userlist, []string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxUserlistBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read userlist %s: %w", file, err)
	}
	if len(data) > maxUserlistBytes {
		return nil, nil, fmt.Errorf("read userlist %s: larger than %d bytes", file, maxUserlistBytes)
	}
	p := newUserlistParser(file, data)
	p.parse()
	return &Userlist{users: p.users}, p.warnings, nil
}

type userlistParser struct {
	file     string
	buf      []byte
	nulAt    int   // offset of the first NUL byte, or -1
	newlines []int // offsets of '\n', for line numbers
	users    map[string]Secret
	lineOf   map[string]int // line of each user's entry, for duplicate warnings
	warnings []string
}

func newUserlistParser(file string, data []byte) *userlistParser {
	p := &userlistParser{
		file:   file,
		buf:    data,
		nulAt:  bytes.IndexByte(data, 0),
		users:  make(map[string]Secret),
		lineOf: make(map[string]int),
	}
	if p.nulAt >= 0 {
		// PgBouncer reads the file as a C string: nothing after a NUL exists.
		p.buf = data[:p.nulAt]
	}
	for i, c := range p.buf {
		if c == '\n' {
			p.newlines = append(p.newlines, i)
		}
	}
	return p
}

// line returns the 1-based line number of byte offset off.
func (p *userlistParser) line(off int) int {
	return sort.SearchInts(p.newlines, off) + 1
}

func (p *userlistParser) warn(off int, format string, args ...any) {
	p.warnings = append(p.warnings,
		fmt.Sprintf("%s:%d: ", p.file, p.line(off))+fmt.Sprintf(format, args...))
}

const restIgnored = "; this line and the rest of the file are ignored, as PgBouncer does"

func (p *userlistParser) parse() {
	buf := p.buf
	pos := 0
	for {
		for pos < len(buf) && isCSpace(buf[pos]) {
			pos++
		}
		if pos >= len(buf) {
			break
		}
		if buf[pos] == ';' {
			pos = skipLine(buf, pos)
			continue
		}
		next, ok := p.entry(pos)
		if !ok {
			return
		}
		pos = next
	}
	if p.nulAt >= 0 {
		p.warn(p.nulAt, "NUL byte"+restIgnored)
	}
}

// entry parses the entry starting at start and returns the offset of the
// end of its line, or false when the entry ends the file.
func (p *userlistParser) entry(start int) (int, bool) {
	buf := p.buf
	if buf[start] != '"' {
		p.warn(start, "expected a double-quoted user name"+restIgnored)
		return 0, false
	}
	userStart := start + 1
	userEnd := findQuote(buf, userStart, false)
	if userEnd >= len(buf) {
		p.warn(start, "user name has no closing double quote"+restIgnored)
		return 0, false
	}
	if userEnd-userStart > maxUserNameLen {
		p.warn(start, "user name longer than %d bytes%s", maxUserNameLen, restIgnored)
		return 0, false
	}
	pwQuote := findQuote(buf, userEnd+1, true)
	if pwQuote >= len(buf) {
		p.warn(start, "no double-quoted secret after the user name"+restIgnored)
		return 0, false
	}
	pwStart := pwQuote + 1
	pwEnd := findQuote(buf, pwStart, false)
	if pwEnd >= len(buf) {
		p.warn(start, "secret has no closing double quote"+restIgnored)
		return 0, false
	}
	if pwEnd-pwStart > maxPasswordLen {
		p.warn(start, "secret longer than %d bytes%s", maxPasswordLen, restIgnored)
		return 0, false
	}

	switch gap := buf[userEnd+1 : pwQuote]; {
	case bytes.IndexByte(gap, '\n') >= 0:
		p.warn(start, "no secret on the user name's line: the quoted string on line %d is taken as the secret, as PgBouncer does",
			p.line(pwQuote))
	case len(bytes.TrimLeft(gap, " \t\v\f\r")) > 0:
		p.warn(start, "text between the user name and the secret is ignored")
	}
	if bytes.IndexByte(buf[userStart:userEnd], '\n') >= 0 || bytes.IndexByte(buf[pwStart:pwEnd], '\n') >= 0 {
		p.warn(start, "a quoted user name or secret spans lines")
	}
	p.add(start, unquote(buf[userStart:userEnd]), unquote(buf[pwStart:pwEnd]))
	return skipLine(buf, pwEnd+1), true
}

func (p *userlistParser) add(off int, user, secret string) {
	line := p.line(off)
	if prev, dup := p.lineOf[user]; dup {
		p.warn(off, "user already listed on line %d; this later entry wins", prev)
	}
	sec := ParseSecret(secret)
	p.users[user] = sec
	p.lineOf[user] = line

	if user == "" {
		p.warn(off, "empty user name: no client can log in as it")
	}
	switch {
	case secret == "":
		p.warn(off, "empty secret: this user cannot log in with a password")
	case sec.Kind == SecretPlain && strings.HasPrefix(secret, "SCRAM-SHA-256$"):
		p.warn(off, "secret starts like a SCRAM secret but does not parse as one; it is used as a plaintext password, as PgBouncer does")
	case sec.Kind == SecretPlain && looksLikeMD5(secret):
		p.warn(off, "secret looks like an md5 hash but is not 32 lowercase hex digits; it is used as a plaintext password, as PgBouncer does")
	case sec.Kind == SecretSCRAM && !sec.scram.usable():
		p.warn(off, "SCRAM secret has an iteration count below 1: this user cannot log in")
	}
}

// looksLikeMD5 is "md5" + 32 characters, as a mistyped md5 hash would be.
func looksLikeMD5(s string) bool {
	return len(s) == md5SecretLen && strings.HasPrefix(strings.ToLower(s), "md5")
}

// findQuote returns the offset of the next double quote from i (len(buf)
// when there is none). Inside a quoted string (!opening), "" is an escaped
// quote and is skipped, as in PgBouncer's find_quote.
func findQuote(buf []byte, i int, opening bool) int {
	for {
		for i < len(buf) && buf[i] != '"' {
			i++
		}
		if !opening && i+1 < len(buf) && buf[i+1] == '"' {
			i += 2
			continue
		}
		return i
	}
}

// unquote turns each "" into ", as PgBouncer's copy_quoted does.
func unquote(raw []byte) string {
	if bytes.IndexByte(raw, '"') < 0 {
		return string(raw)
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '"' {
			i++
			if i == len(raw) {
				break
			}
		}
		b.WriteByte(raw[i])
	}
	return b.String()
}

// skipLine returns the offset of the next '\n' from i, or len(buf).
func skipLine(buf []byte, i int) int {
	if j := bytes.IndexByte(buf[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(buf)
}
