package policy

import (
	"net/netip"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// sourceKey maps a client address to the key its throttling and admission
// state is kept under. IPv4 addresses are their own key. IPv6 addresses
// are grouped by their /64: the /64 is the smallest block a provider
// assigns to a subscriber, SLAAC and privacy extensions let one host pick
// any address in it, and so a per-address key would hand an attacker 2^64
// fresh identities. An IPv4 client seen as an IPv4-mapped IPv6 address is
// keyed as IPv4. The zero Addr (a Unix-socket client) has no key.
func sourceKey(a netip.Addr) (netip.Prefix, bool) {
	if !a.IsValid() {
		return netip.Prefix{}, false
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	p, err := a.Prefix(64)
	return p, err == nil
}

// sourceString renders a key for operators: a plain IPv4 address, or an
// IPv6 /64 in CIDR notation.
func sourceString(p netip.Prefix) string {
	if p.Addr().Is4() {
		return p.Addr().String()
	}
	return p.String()
}

// newLRU builds an LRU whose size the caller has already made positive,
// the only condition under which simplelru fails. The LRUs are the plain,
// unlocked simplelru kind: every access is already under the owner's
// mutex, which must also cover the read-modify-write of the values, and
// unlike the expirable cache they start no goroutines.
func newLRU[K comparable, V any](size int) *simplelru.LRU[K, V] {
	l, err := simplelru.NewLRU[K, V](max(size, 1), nil)
	if err != nil {
		panic("policy: " + err.Error()) // unreachable: size >= 1
	}
	return l
}
