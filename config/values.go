package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// cSpace reports whether b is one of the bytes C's isspace accepts in the
// "C" locale; PgBouncer trims values with it.
func cSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// trimCSpace trims what PgBouncer's parser trims around a line or value.
func trimCSpace(s string) string {
	i, j := 0, len(s)
	for i < j && cSpace(s[i]) {
		i++
	}
	for j > i && cSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// parseCInt reads an integer the way C's strtol(s, &end, 0) does when the
// whole string must be consumed: optional sign, then 0x/0X for hex, a
// leading 0 for octal, decimal otherwise. PgBouncer reads every integer
// setting (and its booleans) this way.
func parseCInt(s string) (int64, error) {
	body, neg := s, false
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	base := 10
	switch {
	case len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X'):
		base, body = 16, body[2:]
	case len(body) > 1 && body[0] == '0':
		base, body = 8, body[1:]
	}
	if body == "" || body[0] == '+' || body[0] == '-' || strings.ContainsRune(body, '_') {
		return 0, fmt.Errorf("not an integer: %q", s)
	}
	u, err := strconv.ParseUint(body, base, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("integer out of range: %q", s)
		}
		return 0, fmt.Errorf("not an integer: %q", s)
	}
	if neg {
		if u > 1<<63 {
			return 0, fmt.Errorf("integer out of range: %q", s)
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, fmt.Errorf("integer out of range: %q", s)
	}
	return int64(u), nil
}

// parseIntRange parses an integer and checks min <= v <= max.
func parseIntRange(s string, min, max int64) (int64, error) {
	v, err := parseCInt(s)
	if err != nil {
		return 0, err
	}
	if v < min || v > max {
		if max == math.MaxInt32 {
			return 0, fmt.Errorf("must be at least %d, got %d", min, v)
		}
		return 0, fmt.Errorf("must be between %d and %d, got %d", min, max, v)
	}
	return v, nil
}

// parseBool accepts what PgBouncer accepts (any integer, non-zero = on)
// and, as a pgbun extension, on/off, yes/no, true/false in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "yes", "true":
		return true, nil
	case "off", "no", "false":
		return false, nil
	}
	v, err := parseCInt(s)
	if err != nil {
		return false, fmt.Errorf("not a boolean (use 1/0, on/off, yes/no or true/false): %q", s)
	}
	return v != 0, nil
}

func formatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// decimalNumber is the plain decimal form PgBouncer's strtod accepts in
// practice ("5", "0.5", ".5", "1e3"); hex floats, inf and nan are refused.
var decimalNumber = regexp.MustCompile(`^\+?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?$`)

// maxDurationText bounds the text parseDuration converts exactly, so a
// hostile value cannot make it build huge numbers.
const maxDurationText = 64

// parseDuration reads a non-negative duration: a decimal number of units
// (seconds for most settings, with fractions, as PgBouncer), or Go duration
// syntax such as "250ms" or "1m30s" (a pgbun extension). Numbers convert
// exactly to nanoseconds, rounded to the nearest one.
func parseDuration(s string, unit time.Duration) (time.Duration, error) {
	if len(s) > maxDurationText {
		return 0, fmt.Errorf("duration too long: %d characters", len(s))
	}
	if m := decimalNumber.FindStringSubmatch(s); m != nil {
		if m[1] != "" {
			exp, err := strconv.Atoi(m[1])
			if err != nil || exp < -30 || exp > 30 {
				return 0, fmt.Errorf("duration out of range: %q", s)
			}
		}
		r, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		if !ok {
			return 0, fmt.Errorf("not a duration: %q", s)
		}
		r.Mul(r, new(big.Rat).SetInt64(int64(unit)))
		// Round half up: floor(r + 1/2).
		r.Add(r, big.NewRat(1, 2))
		n := new(big.Int).Quo(r.Num(), r.Denom())
		if !n.IsInt64() {
			return 0, fmt.Errorf("duration out of range: %q", s)
		}
		return time.Duration(n.Int64()), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		what := "seconds"
		if unit == time.Millisecond {
			what = "milliseconds"
		}
		return 0, fmt.Errorf("not a duration (a number of %s such as \"1.5\", or \"250ms\"): %q", what, s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration must not be negative: %q", s)
	}
	return d, nil
}

// formatDuration writes d as an exact decimal number of units, which
// parseDuration reads back to the same value.
func formatDuration(d, unit time.Duration) string {
	whole, frac := d/unit, d%unit
	if frac == 0 {
		return strconv.FormatInt(int64(whole), 10)
	}
	width := len(strconv.FormatInt(int64(unit), 10)) - 1
	fs := strconv.FormatInt(int64(frac), 10)
	fs = strings.Repeat("0", width-len(fs)) + fs
	return strconv.FormatInt(int64(whole), 10) + "." + strings.TrimRight(fs, "0")
}

// parseList splits a comma and/or space separated list, as PgBouncer's
// list settings are read.
func parseList(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || (r < 0x80 && cSpace(byte(r)))
	})
	if len(f) == 0 {
		return nil
	}
	return f
}

func formatList(l []string) string { return strings.Join(l, ", ") }

// parseFileMode reads unix_socket_mode, always as octal ("0777", "777" or
// "0o777"). PgBouncer reads a value without a leading 0 as decimal; pgbun
// takes the digits as the octal mode they nearly always mean.
func parseFileMode(s string) (os.FileMode, error) {
	digits := s
	if len(s) > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O') {
		digits = s[2:]
	}
	v, err := strconv.ParseUint(digits, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("not an octal file mode such as 0777: %q", s)
	}
	if v > 0o777 {
		return 0, fmt.Errorf("file mode must be at most 0777, got %#o", v)
	}
	return os.FileMode(v), nil
}

func formatFileMode(m os.FileMode) string { return fmt.Sprintf("%#04o", uint32(m)) }

// lookupEnum matches s case-insensitively against names, as PgBouncer's
// lookup settings do, and returns the canonical spelling.
func lookupEnum(s string, names []string) (string, error) {
	for _, n := range names {
		if strings.EqualFold(s, n) {
			return n, nil
		}
	}
	return "", fmt.Errorf("must be one of %s, got %q", strings.Join(names, ", "), s)
}

var (
	poolModes    = []string{string(PoolSession), string(PoolTransaction), string(PoolStatement)}
	sslModes     = []string{string(SSLDisable), string(SSLAllow), string(SSLPrefer), string(SSLRequire), string(SSLVerifyCA), string(SSLVerifyFull)}
	authTypes    = []string{string(AuthAny), string(AuthCert), string(AuthHBA), string(AuthMD5), string(AuthPlain), string(AuthSCRAM), string(AuthServer), string(AuthTrust)}
	balanceModes = []string{"round-robin", "disable"}
	sessionAttrs = []string{"any", "read-write", "read-only", "primary", "standby"}
)

func parsePoolMode(s string) (PoolMode, error) {
	v, err := lookupEnum(s, poolModes)
	return PoolMode(v), err
}

func parseAuthType(s string) (AuthType, error) {
	switch strings.ToLower(s) {
	case "pam", "ldap":
		return "", fmt.Errorf("%q is a PgBouncer method pgbun does not support", strings.ToLower(s))
	}
	v, err := lookupEnum(s, authTypes)
	return AuthType(v), err
}

func parseSSLMode(s string) (SSLMode, error) {
	v, err := lookupEnum(s, sslModes)
	return SSLMode(v), err
}

// checkTLSProtocols validates a *_tls_protocols value with the grammar of
// PgBouncer's TLS library: items separated by ',' or ':', each optionally
// negated with '!'. The tlsconf package maps the value to versions.
func checkTLSProtocols(s string) error {
	if s == "" {
		return nil
	}
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ':' }) {
		name := strings.TrimPrefix(strings.TrimSpace(item), "!")
		switch strings.ToLower(name) {
		case "all", "legacy", "default", "secure", "tlsv1", "tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3":
		default:
			return fmt.Errorf("unknown TLS protocol %q (use secure, all, legacy or tlsv1.0 to tlsv1.3)", name)
		}
	}
	return nil
}

// ldapBindPassword finds the bind password inside auth_ldap_options so it
// can be redacted.
var ldapBindPassword = regexp.MustCompile(`(ldapbindpasswd\s*=\s*)("(?:[^"]|"")*"|\S+)`)

func redactLDAPOptions(s string) string {
	return ldapBindPassword.ReplaceAllString(s, "${1}***")
}
