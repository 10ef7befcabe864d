package policy

import (
	"net/netip"
	"strings"
)

// nameSetMin is the list length from which names are looked up in a map;
// below it a linear scan is faster. @file lists of thousands of users are
// common, so both cases matter.
const nameSetMin = 8

// nameList is the compiled form of a database or user column.
type nameList struct {
	all, sameUser, replication bool
	names                      []string
	set                        map[string]struct{}
}

// compileNames decodes a column in Rule's notation (see Rule.Databases).
// Parsed rules are compiled once; Match compiles rules built by hand on
// each call, so both kinds mean the same.
func compileNames(col []string) *nameList {
	nl := &nameList{}
	for _, s := range col {
		switch {
		case strings.HasPrefix(s, `"`):
			nl.names = append(nl.names, unquoteName(s))
		case s == "all":
			nl.all = true
		case s == "sameuser":
			nl.sameUser = true
		case s == "replication":
			nl.replication = true
		default:
			nl.names = append(nl.names, s)
		}
	}
	if len(nl.names) >= nameSetMin {
		nl.set = make(map[string]struct{}, len(nl.names))
		for _, s := range nl.names {
			nl.set[s] = struct{}{}
		}
		nl.names = nil
	}
	return nl
}

func (nl *nameList) has(s string) bool {
	if nl.set != nil {
		_, ok := nl.set[s]
		return ok
	}
	for _, n := range nl.names {
		if n == s {
			return true
		}
	}
	return false
}

// matchDatabase follows PostgreSQL: a physical replication connection
// matches only the replication keyword, and that keyword matches nothing
// else (a database called "replication" needs quotes).
func (nl *nameList) matchDatabase(r *Request) bool {
	if r.Replication {
		return nl.replication
	}
	return nl.all || nl.sameUser && r.Database == r.User || nl.has(r.Database)
}

func (nl *nameList) matchUser(user string) bool {
	return nl.all || nl.has(user)
}

// quoteName writes a literal name in Rule's notation: quoted when it would
// otherwise read as a keyword, a quoted name, an @file or a group.
func quoteName(s string) string {
	switch s {
	case "all", "sameuser", "samerole", "samegroup", "replication":
		return `"` + s + `"`
	}
	if s != "" && strings.ContainsRune(`"@+`, rune(s[0])) {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func unquoteName(s string) string {
	s = strings.TrimPrefix(s, `"`)
	s = strings.TrimSuffix(s, `"`)
	return strings.ReplaceAll(s, `""`, `"`)
}

// Match returns the first rule that applies to r. ok is false when no rule
// applies, which means the connection must be rejected, as in PostgreSQL
// and PgBouncer. A nil HBA matches nothing. The returned rule belongs to h
// and must not be modified.
//
// An IPv4 client that reached a dual-stack socket shows up as an
// IPv4-mapped IPv6 address (::ffff:a.b.c.d); it is matched as the IPv4
// address it is, so IPv4 ranges apply to it and IPv6 ranges do not.
func (h *HBA) Match(r Request) (*Rule, bool) {
	if h == nil {
		return nil, false
	}
	addr := r.Addr.Unmap().WithZone("")
	for i := range h.Rules {
		rule := &h.Rules[i]
		if rule.Never || !rule.matchConn(&r, addr) {
			continue
		}
		db, user := rule.db, rule.user
		if db == nil {
			db = compileNames(rule.Databases)
		}
		if user == nil {
			user = compileNames(rule.Users)
		}
		if db.matchDatabase(&r) && user.matchUser(r.User) {
			return rule, true
		}
	}
	return nil, false
}

// matchConn checks the connection type and the address range; addr is
// the client address already unmapped and stripped of any zone.
func (rule *Rule) matchConn(r *Request, addr netip.Addr) bool {
	if rule.Type == Local {
		return r.Local
	}
	if r.Local {
		return false
	}
	switch rule.Type {
	case HostSSL:
		if !r.TLS {
			return false
		}
	case HostNoSSL:
		if r.TLS {
			return false
		}
	case Host:
	default:
		return false
	}
	// Contains is false for an invalid address and across families.
	return rule.Addr == nil || rule.Addr.Contains(addr)
}
