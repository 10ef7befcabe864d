package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

const matchHBA = `# line 1
local     all          postgres                    peer
local     sameuser     all                         md5
host      replication  repl       10.0.0.0/8       scram-sha-256
hostssl   all          alice,bob  192.168.0.0/16   cert map=certs
hostnossl app          all        192.168.0.0/16   reject
host      app          all        192.168.0.0/16   md5
host      "all"        all        2001:db8::/32    trust
host      all          all        2001:db8::/32    password
host      all          @many.txt  172.16.0.0 255.240.0.0 trust
host      all          all        0.0.0.0/0        scram-sha-256
`

func mustHBA(t testing.TB, text string) *HBA {
	t.Helper()
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprintf("u%02d", i)
	}
	h, err := ParseHBA("hba.conf", []byte(text), files(map[string]string{"many.txt": strings.Join(many, "\n")}))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHBAMatch(t *testing.T) {
	h := mustHBA(t, matchHBA)
	v4 := netip.MustParseAddr
	tests := []struct {
		name string
		req  Request
		line int // 0: no rule
	}{
		{"local named user", Request{Local: true, Database: "x", User: "postgres"}, 2},
		{"local sameuser", Request{Local: true, Database: "alice", User: "alice"}, 3},
		{"local other db", Request{Local: true, Database: "other", User: "alice"}, 0},
		{"local replication needs the keyword", Request{Local: true, Database: "x", User: "postgres", Replication: true}, 0},
		{"replication keyword", Request{Addr: v4("10.1.2.3"), Database: "x", User: "repl", Replication: true}, 4},
		{"replication user, normal connection", Request{Addr: v4("10.1.2.3"), Database: "x", User: "repl"}, 11},
		{"all does not match replication", Request{Addr: v4("10.1.2.3"), Database: "x", User: "alice", Replication: true}, 0},
		{"hostssl with TLS", Request{TLS: true, Addr: v4("192.168.1.1"), Database: "x", User: "alice"}, 5},
		{"hostssl skipped without TLS", Request{Addr: v4("192.168.1.1"), Database: "app", User: "alice"}, 6},
		{"hostnossl skipped with TLS", Request{TLS: true, Addr: v4("192.168.1.1"), Database: "app", User: "carol"}, 7},
		{"hostnossl without TLS", Request{Addr: v4("192.168.1.1"), Database: "app", User: "carol"}, 6},
		{"mapped v4 matches v4 rule", Request{TLS: true, Addr: v4("::ffff:192.168.1.1"), Database: "x", User: "alice"}, 5},
		{"mapped v4 replication", Request{Addr: v4("::ffff:10.9.9.9"), Database: "x", User: "repl", Replication: true}, 4},
		{"quoted all is a database name", Request{Addr: v4("2001:db8::1"), Database: "all", User: "u"}, 8},
		{"v6 range", Request{Addr: v4("2001:db8::1"), Database: "x", User: "u"}, 9},
		{"v6 with zone", Request{Addr: v4("2001:db8::1%eth0"), Database: "x", User: "u"}, 9},
		{"v6 outside ranges", Request{Addr: v4("2001:db9::1"), Database: "x", User: "u"}, 0},
		{"netmask column, large @file list", Request{Addr: v4("172.31.255.255"), Database: "x", User: "u13"}, 10},
		{"netmask column, user not listed", Request{Addr: v4("172.16.0.1"), Database: "x", User: "u20"}, 11},
		{"catch-all v4", Request{Addr: v4("8.8.8.8"), Database: "x", User: "anyone"}, 11},
		{"TCP without address matches no range", Request{Database: "x", User: "anyone"}, 0},
		{"local user on TCP", Request{Addr: v4("8.8.8.8"), Database: "x", User: "postgres"}, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := h.Match(tc.req)
			if tc.line == 0 {
				if ok || r != nil {
					t.Fatalf("matched line %d, want no match", r.Line)
				}
				return
			}
			if !ok || r == nil {
				t.Fatalf("no match, want line %d", tc.line)
			}
			if r.Line != tc.line {
				t.Errorf("matched line %d, want %d", r.Line, tc.line)
			}
		})
	}
}

func TestHBAMatchFirstRuleWins(t *testing.T) {
	h := mustHBA(t, "host all mallory all reject\nhost all all 10.0.0.0/8 trust\nhost all all 10.1.0.0/16 md5\n")
	r, ok := h.Match(Request{Addr: netip.MustParseAddr("10.1.1.1"), Database: "d", User: "mallory"})
	if !ok || r.Method != MethodReject {
		t.Errorf("mallory: %v %v", r, ok)
	}
	r, ok = h.Match(Request{Addr: netip.MustParseAddr("10.1.1.1"), Database: "d", User: "alice"})
	if !ok || r.Method != MethodTrust {
		t.Errorf("alice: the broader earlier rule must win, got %v %v", r, ok)
	}
}

func TestHBAMatchAllAddress(t *testing.T) {
	h := mustHBA(t, "host all all all md5\n")
	for _, addr := range []string{"1.2.3.4", "::1", "::ffff:1.2.3.4"} {
		if _, ok := h.Match(Request{Addr: netip.MustParseAddr(addr), Database: "d", User: "u"}); !ok {
			t.Errorf("%s: no match for address all", addr)
		}
	}
	if _, ok := h.Match(Request{Local: true, Database: "d", User: "u"}); ok {
		t.Error("a host line matched a Unix-socket request")
	}
}

func TestHBAMatchNil(t *testing.T) {
	var h *HBA
	if r, ok := h.Match(Request{Local: true}); ok || r != nil {
		t.Error("nil HBA matched")
	}
}

func TestHBAMatchHandBuilt(t *testing.T) {
	h := &HBA{Rules: []Rule{
		{Type: Host, Databases: []string{`"all"`, "sameuser"}, Users: []string{"all"}, Method: MethodMD5},
		{Type: Local, Databases: []string{"replication"}, Users: []string{`"+x"`}, Method: MethodTrust},
	}}
	tcp := netip.MustParseAddr("1.2.3.4")
	for _, tc := range []struct {
		req  Request
		want bool
	}{
		{Request{Addr: tcp, Database: "all", User: "u"}, true},
		{Request{Addr: tcp, Database: "u", User: "u"}, true},
		{Request{Addr: tcp, Database: "other", User: "u"}, false},
		{Request{Local: true, Database: "x", User: "+x", Replication: true}, true},
		{Request{Local: true, Database: "replication", User: "+x"}, false},
	} {
		if _, ok := h.Match(tc.req); ok != tc.want {
			t.Errorf("%+v: match %v, want %v", tc.req, ok, tc.want)
		}
	}
}

func TestQuoteNameRoundTrip(t *testing.T) {
	for _, s := range []string{"all", "sameuser", "replication", "samerole", `"x`, `a"b`, "@f", "+g", "plain", `""`} {
		nl := compileNames([]string{quoteName(s)})
		if nl.all || nl.sameUser || nl.replication || !nl.has(s) {
			t.Errorf("%q: quoted as %q, compiled to %+v", s, quoteName(s), nl)
		}
	}
}

func TestConnTypeString(t *testing.T) {
	for c, want := range map[ConnType]string{Local: "local", Host: "host", HostSSL: "hostssl", HostNoSSL: "hostnossl", 9: "ConnType(9)"} {
		if c.String() != want {
			t.Errorf("%d: %q", int(c), c.String())
		}
	}
}

// TestHBAAddressBeyondMask: a rule whose address has bits set beyond its
// mask never matches, as in PgBouncer, and the file says so in its notes.
func TestHBAAddressBeyondMask(t *testing.T) {
	h, err := ParseHBA("hba.conf", []byte("host all all 10.1.2.3/8 trust\nhost all all 192.168.1.1 0.0.0.0 trust\nhost all all all reject\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Notes) != 2 || !strings.Contains(h.Notes[0], "hba.conf:1: address 10.1.2.3 has bits set beyond its /8 mask (did you mean 10.0.0.0/8?)") {
		t.Fatalf("notes: %q", h.Notes)
	}
	r, ok := h.Match(Request{Addr: netip.MustParseAddr("10.1.2.3"), Database: "d", User: "u"})
	if !ok || r.Method != MethodReject {
		t.Fatalf("matched %+v", r)
	}
}
