package certs

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// normalizeName lowers a DNS name and drops a trailing dot, the form in
// which names are compared everywhere in this package.
func normalizeName(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// checkHostname accepts a normalized DNS host name in ASCII (an IDN in its
// xn-- form): labels of letters, digits and inner hyphens, 1 to 63 bytes
// each, 253 bytes in all, at least two labels, and not an IP address.
func checkHostname(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > 253 {
		return fmt.Errorf("name %q is longer than 253 bytes", name)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return fmt.Errorf("%q is an IP address; only DNS names are supported", name)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return fmt.Errorf("name %q has a single label", name)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("name %q has an empty or over-long label", name)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("name %q has a label that starts or ends with a hyphen", name)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return fmt.Errorf("name %q has a character outside a-z, 0-9 and -", name)
			}
		}
	}
	return nil
}

// allowList is the set of names for which certificates may be obtained
// during a handshake. A client chooses the SNI it sends, so this list is
// what keeps a stranger from making pgbun order certificates for names of
// the stranger's choosing. Patterns are exact names or "*.suffix", which
// covers exactly one label in front of suffix (as a certificate wildcard
// would): "*.tenants.example" allows "a.tenants.example" but neither
// "tenants.example" nor "a.b.tenants.example".
type allowList struct {
	exact    map[string]bool
	suffixes []string // ".tenants.example" for "*.tenants.example"
}

// parseAllowList checks and normalizes patterns. A wildcard's suffix needs
// two labels, so "*.com" is refused.
func parseAllowList(patterns []string) (allowList, error) {
	a := allowList{exact: map[string]bool{}}
	for _, p := range patterns {
		n := normalizeName(p)
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			if err := checkHostname(rest); err != nil {
				return allowList{}, fmt.Errorf("pattern %q: %w", p, err)
			}
			a.suffixes = append(a.suffixes, "."+rest)
			continue
		}
		if err := checkHostname(n); err != nil {
			return allowList{}, fmt.Errorf("pattern %q: %w", p, err)
		}
		a.exact[n] = true
	}
	return a, nil
}

func (a allowList) empty() bool { return len(a.exact) == 0 && len(a.suffixes) == 0 }

// allows reports whether a certificate may be obtained for name, which
// must already be normalized; names that are not valid host names never
// pass.
func (a allowList) allows(name string) bool {
	if checkHostname(name) != nil {
		return false
	}
	if a.exact[name] {
		return true
	}
	for _, s := range a.suffixes {
		if label, ok := strings.CutSuffix(name, s); ok && label != "" && !strings.Contains(label, ".") {
			return true
		}
	}
	return false
}
