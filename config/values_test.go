package config

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCInt(t *testing.T) {
	ok := map[string]int64{
		"0": 0, "42": 42, "-7": -7, "+7": 7, "0x1F": 31, "0X10": 16, "010": 8,
		"-0x10": -16, "9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64,
	}
	for in, want := range ok {
		got, err := parseCInt(in)
		if err != nil || got != want {
			t.Errorf("parseCInt(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-", "0x", "08", "1_000", "10k", " 1", "1.0", "+-1", "0x-1", "9223372036854775808"} {
		if got, err := parseCInt(in); err == nil {
			t.Errorf("parseCInt(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseIntRange(t *testing.T) {
	if _, err := parseIntRange("65536", 1, 65535); err == nil || err.Error() != "must be between 1 and 65535, got 65536" {
		t.Errorf("range error = %v", err)
	}
	if _, err := parseIntRange("-1", 0, math.MaxInt32); err == nil || err.Error() != "must be at least 0, got -1" {
		t.Errorf("minimum error = %v", err)
	}
	if v, err := parseIntRange("65535", 1, 65535); err != nil || v != 65535 {
		t.Errorf("upper bound: %d, %v", v, err)
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{
		"1": true, "0": false, "2": true, "-1": true, "0x0": false,
		"on": true, "OFF": false, "Yes": true, "no": false, "TRUE": true, "false": false,
	} {
		got, err := parseBool(in)
		if err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "y", "enable", "1.0", "maybe"} {
		if _, err := parseBool(in); err == nil {
			t.Errorf("parseBool(%q) accepted", in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		unit time.Duration
		want time.Duration
	}{
		{"0", time.Second, 0},
		{"5", time.Second, 5 * time.Second},
		{"5.", time.Second, 5 * time.Second},
		{"0.5", time.Second, 500 * time.Millisecond},
		{".25", time.Second, 250 * time.Millisecond},
		{"+3", time.Second, 3 * time.Second},
		{"010", time.Second, 10 * time.Second}, // decimal, as strtod reads it
		{"1e3", time.Second, 1000 * time.Second},
		{"1.5E-3", time.Second, 1500 * time.Microsecond},
		{"0.1", time.Second, 100 * time.Millisecond}, // exact, no float drift
		{"0.0000000004", time.Second, 0},             // rounds to the nearest nanosecond
		{"0.0000000005", time.Second, 1},
		{"3600", time.Second, time.Hour},
		{"250ms", time.Second, 250 * time.Millisecond},
		{"1m30s", time.Second, 90 * time.Second},
		{"1500", time.Millisecond, 1500 * time.Millisecond},
		{"1.5s", time.Millisecond, 1500 * time.Millisecond},
		{"9223372036.854775807", time.Second, math.MaxInt64},
	}
	for _, c := range cases {
		got, err := parseDuration(c.in, c.unit)
		if err != nil || got != c.want {
			t.Errorf("parseDuration(%q, %v) = %v, %v; want %v", c.in, c.unit, got, err, c.want)
		}
	}
	for _, in := range []string{"", "-1", "-1s", "abc", "1 s", "inf", "nan", "0x10", "1e31", "1e-31",
		"9223372036.854775808", "3000000h", strings.Repeat("1", 65)} {
		if got, err := parseDuration(in, time.Second); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatDurationRoundTrips(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, time.Microsecond, 250 * time.Millisecond,
		time.Second, 90 * time.Second, time.Hour + 1, math.MaxInt64} {
		for _, unit := range []time.Duration{time.Second, time.Millisecond} {
			s := formatDuration(d, unit)
			back, err := parseDuration(s, unit)
			if err != nil || back != d {
				t.Errorf("formatDuration(%v, %v) = %q, read back as %v, %v", d, unit, s, back, err)
			}
		}
	}
	if got := formatDuration(1500*time.Millisecond, time.Second); got != "1.5" {
		t.Errorf("formatDuration(1.5s) = %q", got)
	}
	if got := formatDuration(30*time.Second, time.Millisecond); got != "30000" {
		t.Errorf("formatDuration(30s, ms) = %q", got)
	}
}

func TestParseList(t *testing.T) {
	for in, want := range map[string][]string{
		"":                 nil,
		" , ":              nil,
		"a":                {"a"},
		"a,b":              {"a", "b"},
		"a, b ,c":          {"a", "b", "c"},
		"a b\tc":           {"a", "b", "c"},
		"IntervalStyle, *": {"IntervalStyle", "*"},
	} {
		if got := parseList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFileMode(t *testing.T) {
	for in, want := range map[string]os.FileMode{"0777": 0o777, "777": 0o777, "0o660": 0o660, "0": 0, "0600": 0o600} {
		got, err := parseFileMode(in)
		if err != nil || got != want {
			t.Errorf("parseFileMode(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := parseFileMode(formatFileMode(got)); err != nil || back != got {
			t.Errorf("formatFileMode(%v) does not read back: %v", got, err)
		}
	}
	for _, in := range []string{"", "0o", "0999", "1777", "rw-", "-0777", "+0777", "0x1ff"} {
		if _, err := parseFileMode(in); err == nil {
			t.Errorf("parseFileMode(%q) accepted", in)
		}
	}
}

func TestLookupEnumIsCaseInsensitive(t *testing.T) {
	if m, err := parsePoolMode("TRANSACTION"); err != nil || m != PoolTransaction {
		t.Errorf("parsePoolMode(TRANSACTION) = %q, %v", m, err)
	}
	if m, err := parseSSLMode("Verify-Full"); err != nil || m != SSLVerifyFull {
		t.Errorf("parseSSLMode(Verify-Full) = %q, %v", m, err)
	}
	for _, in := range []string{"server", "SCRAM-SHA-256", "hba", "any"} {
		if _, err := parseAuthType(in); err != nil {
			t.Errorf("parseAuthType(%q): %v", in, err)
		}
	}
	for _, in := range []string{"pam", "LDAP", "gss", "password", ""} {
		if _, err := parseAuthType(in); err == nil {
			t.Errorf("parseAuthType(%q) accepted", in)
		}
	}
}

func TestCheckTLSProtocols(t *testing.T) {
	for _, ok := range []string{"", "secure", "all", "legacy", "default", "tlsv1.2,tlsv1.3", "TLSv1.2:TLSv1.3", "all,!tlsv1.0, !tlsv1.1", "tlsv1"} {
		if err := checkTLSProtocols(ok); err != nil {
			t.Errorf("checkTLSProtocols(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"sslv3", "tls1.2", "secure,fast"} {
		if err := checkTLSProtocols(bad); err == nil {
			t.Errorf("checkTLSProtocols(%q) accepted", bad)
		}
	}
}

func TestRedactLDAPOptions(t *testing.T) {
	in := `ldapurl="ldap://h/dc=x?uid" ldapbinddn="cn=admin" ldapbindpasswd="a ""b"" c" ldaptls=1`
	got := redactLDAPOptions(in)
	if strings.Contains(got, "a \"\"b") || !strings.Contains(got, "ldapbindpasswd=***") || !strings.Contains(got, "ldaptls=1") {
		t.Errorf("redactLDAPOptions = %q", got)
	}
	if got := redactLDAPOptions("ldapbindpasswd = plain other=1"); got != "ldapbindpasswd = *** other=1" {
		t.Errorf("redactLDAPOptions(bare) = %q", got)
	}
}
