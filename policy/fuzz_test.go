package policy

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func refuseIncludes(path string) ([]byte, error) {
	return nil, errors.New("includes refused")
}

// checkParseError asserts that err is a *ParseError in file at a line
// that exists in data.
func checkParseError(t *testing.T, err error, file string, data []byte) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if n := bytes.Count(data, []byte("\n")) + 1; pe.File != file || pe.Line < 1 || pe.Line > n {
		t.Fatalf("error at %s:%d, input has %d lines: %v", pe.File, pe.Line, n, err)
	}
}

// renderRule writes r back as an hba line, quoting every name.
func renderRule(r *Rule) string {
	names := func(col []string) string {
		out := make([]string, len(col))
		for i, s := range col {
			switch {
			case s == "all" || s == "sameuser" || s == "replication":
				out[i] = s
			case strings.HasPrefix(s, `"`):
				out[i] = `"` + strings.ReplaceAll(unquoteName(s), `"`, `""`) + `"`
			default:
				out[i] = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
			}
		}
		return strings.Join(out, ",")
	}
	parts := []string{r.Type.String(), names(r.Databases), names(r.Users)}
	if r.Type != Local {
		if r.Addr == nil {
			parts = append(parts, "all")
		} else {
			parts = append(parts, r.Addr.String())
		}
	}
	parts = append(parts, string(r.Method))
	keys := make([]string, 0, len(r.Options))
	for k := range r.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, k+`="`+strings.ReplaceAll(r.Options[k], `"`, `""`)+`"`)
	}
	return strings.Join(parts, " ")
}

func FuzzParseHBA(f *testing.F) {
	for _, s := range []string{
		matchHBA,
		"local all all trust\n",
		"hostssl \"my db\",x @u.txt 10.0.0.0 255.0.0.0 cert map=m clientcert=verify-full # c\n",
		"host all all ::ffff:10.0.0.0/104 md5\r\nhost all all fe80::/10 reject\n",
		"host \"a\"\"b\" \"all\" all scram-sha-256\n",
		"host all all 10.1.2.3/8 md5\n",
		"host db1 , db2 all all md5 \\\n",
		"local all all peer map=\"x y\"\n\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHBA("hba.conf", data, refuseIncludes)
		if err != nil {
			checkParseError(t, err, "hba.conf", data)
			return
		}
		for i := range h.Rules {
			r := &h.Rules[i]
			line := renderRule(r)
			again, err := ParseHBA("again.conf", []byte(line), nil)
			if err != nil {
				t.Fatalf("rule %+v rendered as %q does not parse: %v", r, line, err)
			}
			a := again.Rules[0]
			if !reflect.DeepEqual(a.Databases, r.Databases) || !reflect.DeepEqual(a.Users, r.Users) ||
				a.Type != r.Type || a.Method != r.Method || !reflect.DeepEqual(a.Options, r.Options) ||
				(a.Addr == nil) != (r.Addr == nil) || a.Addr != nil && *a.Addr != *r.Addr {
				t.Fatalf("round trip of %q:\n got %+v\nwant %+v", line, a, *r)
			}
		}
		h.Match(Request{Addr: netip.MustParseAddr("10.1.2.3"), Database: "x", User: "y"})
		h.Match(Request{Local: true, Database: "x", User: "x", Replication: true})
	})
}

// naiveMatch is an independent reading of one rule against a request,
// straight from the exported fields.
func naiveMatch(r *Rule, req Request) bool {
	addr := req.Addr.Unmap().WithZone("")
	switch {
	case r.Type == Local:
		if !req.Local {
			return false
		}
	case req.Local:
		return false
	case r.Type == HostSSL && !req.TLS, r.Type == HostNoSSL && req.TLS:
		return false
	case r.Addr != nil && !(addr.IsValid() && r.Addr.Contains(addr)):
		return false
	}
	dbOK := false
	for _, s := range r.Databases {
		switch {
		case s == "replication":
			dbOK = dbOK || req.Replication
		case req.Replication:
		case s == "all":
			dbOK = true
		case s == "sameuser":
			dbOK = dbOK || req.Database == req.User
		default:
			dbOK = dbOK || unquoteName(s) == req.Database
		}
	}
	userOK := false
	for _, s := range r.Users {
		userOK = userOK || s == "all" || unquoteName(s) == req.User
	}
	return dbOK && userOK
}

func FuzzHBAMatch(f *testing.F) {
	h := mustHBA(f, matchHBA)
	f.Add(false, false, []byte{10, 1, 2, 3}, "x", "repl", true)
	f.Add(true, false, []byte{}, "alice", "alice", false)
	f.Add(false, true, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 1}, "x", "alice", false)
	f.Add(false, false, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "all", "u", false)
	f.Add(false, false, []byte{172, 20, 0, 1}, "x", "u07", false)
	f.Fuzz(func(t *testing.T, local, tls bool, ip []byte, db, user string, repl bool) {
		addr, _ := netip.AddrFromSlice(ip)
		req := Request{Local: local, TLS: tls, Addr: addr, Database: db, User: user, Replication: repl}
		r, ok := h.Match(req)
		want := -1
		for i := range h.Rules {
			if naiveMatch(&h.Rules[i], req) {
				want = i
				break
			}
		}
		switch {
		case want < 0 && (ok || r != nil):
			t.Fatalf("%+v matched line %d, the naive reading matches nothing", req, r.Line)
		case want >= 0 && (!ok || r != &h.Rules[want]):
			t.Fatalf("%+v: Match gave %v %v, the naive reading line %d", req, r, ok, h.Rules[want].Line)
		}
	})
}

func FuzzParseIdent(f *testing.F) {
	f.Add([]byte(identFile), "certs", "bob@example.com", "bob")
	f.Add([]byte("m /^(.*)$ \\1\nm \"a b\" all\n"), "m", "a b", "x")
	f.Add([]byte("m /(a(b)) /x\ninclude f\n"), "m", "ab", "x")
	f.Add([]byte("m \"/[\" x\n"), "", "a", "a")
	f.Fuzz(func(t *testing.T, data []byte, mapName, sys, db string) {
		m, err := ParseIdent("ident.conf", data)
		if err != nil {
			checkParseError(t, err, "ident.conf", data)
			return
		}
		m.Allows(mapName, sys, db)
		if m.Allows("", sys, db) != (sys == db) {
			t.Fatal("without a map name the names must be equal")
		}
	})
}
