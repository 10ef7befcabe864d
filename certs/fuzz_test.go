package certs

import (
	"strings"
	"testing"
)

// FuzzAllowList checks the on-demand policy on names a client chooses:
// whatever the pattern and SNI, a name passes only if it is a valid host
// name equal to an exact pattern or one label in front of a wildcard's
// suffix.
func FuzzAllowList(f *testing.F) {
	for _, s := range [][2]string{
		{"*.tenants.example", "a.tenants.example"},
		{"*.tenants.example", "a.b.tenants.example"},
		{"*.tenants.example", "tenants.example"},
		{"*.tenants.example", ".tenants.example"},
		{"db.example", "DB.example."},
		{"db.example", "db.example"},
		{"*.example.com", "x.example.com\x00"},
		{"*.xn--bcher-kva.example", "a.xn--bcher-kva.example"},
		{"*.com", "a.com"},
		{"127.0.0.1", "127.0.0.1"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, sni string) {
		a, err := parseAllowList([]string{pattern})
		if err != nil {
			return
		}
		name := normalizeName(sni)
		if !a.allows(name) {
			return
		}
		if err := checkHostname(name); err != nil {
			t.Fatalf("pattern %q allowed invalid name %q: %v", pattern, name, err)
		}
		p := normalizeName(pattern)
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			label, found := strings.CutSuffix(name, "."+rest)
			if !found || label == "" || strings.Contains(label, ".") {
				t.Fatalf("pattern %q allowed %q", pattern, name)
			}
			return
		}
		if name != p {
			t.Fatalf("pattern %q allowed %q", pattern, name)
		}
	})
}
