package policy

import (
	"math/bits"
	"net/netip"
	"strings"
)

// maxIncludeDepth bounds @file nesting; PostgreSQL uses the same limit for
// its configuration files. It also ends include cycles.
const maxIncludeDepth = 10

type column int

const (
	colDatabase column = iota
	colUser
)

func (c column) String() string {
	if c == colDatabase {
		return "database"
	}
	return "user"
}

type hbaParser struct {
	readFile func(string) ([]byte, error)
}

// parseLine parses one line of an hba file; it returns nil for blank and
// comment lines.
func (p *hbaParser) parseLine(file string, n int, ln string) (*Rule, error) {
	fields, msg := splitLine(ln)
	if msg != "" {
		return nil, parseErrorf(file, n, "%s", msg)
	}
	if len(fields) == 0 {
		return nil, nil
	}
	r := &Rule{File: file, Line: n}
	typ, err := single(file, n, fields[0], "connection type")
	if err != nil {
		return nil, err
	}
	if r.Type, err = parseConnType(file, n, typ); err != nil {
		return nil, err
	}
	if len(fields) < 2 {
		return nil, parseErrorf(file, n, "missing database field")
	}
	if len(fields) < 3 {
		return nil, parseErrorf(file, n, "missing user field")
	}
	if r.Databases, err = p.names(file, n, fields[1], colDatabase, 0, nil); err != nil {
		return nil, err
	}
	if r.Users, err = p.names(file, n, fields[2], colUser, 0, nil); err != nil {
		return nil, err
	}
	rest := fields[3:]
	if r.Type != Local {
		if len(rest) == 0 {
			return nil, parseErrorf(file, n, "missing address field")
		}
		var used int
		if r.Addr, used, err = parseAddress(file, n, rest); err != nil {
			return nil, err
		}
		r.Never = r.Addr != nil && r.Addr.Masked() != *r.Addr
		rest = rest[used:]
	}
	if len(rest) == 0 {
		return nil, parseErrorf(file, n, "missing authentication method")
	}
	m, err := single(file, n, rest[0], "authentication method")
	if err != nil {
		return nil, err
	}
	if r.Method, err = parseMethod(file, n, m, r.Type); err != nil {
		return nil, err
	}
	if r.Options, err = parseOptions(file, n, rest[1:], r); err != nil {
		return nil, err
	}
	r.db = compileNames(r.Databases)
	r.user = compileNames(r.Users)
	return r, nil
}

// single returns the only token of a field that must not be a list.
func single(file string, n int, f field, what string) (token, error) {
	if len(f) != 1 {
		return token{}, parseErrorf(file, n, "%s must be a single value, not a comma list", what)
	}
	return f[0], nil
}

func parseConnType(file string, n int, t token) (ConnType, error) {
	if !t.quoted {
		switch t.text {
		case "local":
			return Local, nil
		case "host":
			return Host, nil
		case "hostssl":
			return HostSSL, nil
		case "hostnossl":
			return HostNoSSL, nil
		case "hostgssenc", "hostnogssenc":
			return 0, parseErrorf(file, n, "connection type %q is not supported: pgbun has no GSSAPI encryption", t.text)
		case "include", "include_if_exists", "include_dir":
			return 0, parseErrorf(file, n, "%s directives are not supported (PgBouncer does not support them either)", t.text)
		}
	}
	return 0, parseErrorf(file, n, "unknown connection type %q (want local, host, hostssl or hostnossl)", t.text)
}

// names expands one database or user field, following @file references,
// and returns the column in Rule's notation. Unsupported keywords are
// errors rather than names: PgBouncer and PostgreSQL disagree on them, and
// a rule that silently means something else is a security hole.
func (p *hbaParser) names(file string, n int, f field, col column, depth int, out []string) ([]string, error) {
	for _, t := range f {
		if !t.leadQuoted && strings.HasPrefix(t.text, "@") {
			var err error
			if out, err = p.include(file, n, t.text[1:], col, depth, out); err != nil {
				return nil, err
			}
			continue
		}
		if !t.quoted {
			switch t.text {
			case "all":
				out = append(out, "all")
				continue
			case "sameuser", "replication":
				if col != colDatabase {
					return nil, parseErrorf(file, n, "%s is only valid in the database field (quote it to name a user %q)", t.text, t.text)
				}
				out = append(out, t.text)
				continue
			case "samerole", "samegroup":
				return nil, parseErrorf(file, n, "%s is not supported: pgbun does not know role membership", t.text)
			}
			if strings.HasPrefix(t.text, "+") {
				if col == colUser {
					return nil, parseErrorf(file, n, "group membership (%s) is not supported: pgbun does not know role membership", t.text)
				}
				return nil, parseErrorf(file, n, "database name %s must be quoted (a leading + means a group)", t.text)
			}
		}
		if t.text == "" {
			return nil, parseErrorf(file, n, "empty %s name", col)
		}
		out = append(out, quoteName(t.text))
	}
	return out, nil
}

// include reads the names listed in an @file: whitespace or comma
// separated, '#' comments, keywords and nested @files as on an hba line.
func (p *hbaParser) include(file string, n int, name string, col column, depth int, out []string) ([]string, error) {
	if name == "" {
		return nil, parseErrorf(file, n, "@ must be followed by a file name")
	}
	if p.readFile == nil {
		return nil, parseErrorf(file, n, "@%s: @file lists are not available here", name)
	}
	if depth >= maxIncludeDepth {
		return nil, parseErrorf(file, n, "@%s: @file lists nested more than %d deep (an include cycle?)", name, maxIncludeDepth)
	}
	path := resolveInclude(file, name)
	data, err := p.readFile(path)
	if err != nil {
		e := parseErrorf(file, n, "read @%s: %v", name, err)
		e.Err = err
		return nil, e
	}
	for i, ln := range lines(data) {
		fields, msg := splitLine(ln)
		if msg != "" {
			return nil, parseErrorf(path, i+1, "%s (in @%s, used at %s:%d)", msg, name, file, n)
		}
		for _, f := range fields {
			if out, err = p.names(path, i+1, f, col, depth+1, out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// parseAddress reads the address of a host* line from fields: "all", an
// address with /length, or an address followed by a netmask field. It
// returns how many fields it used.
func parseAddress(file string, n int, fields []field) (*netip.Prefix, int, error) {
	t, err := single(file, n, fields[0], "address")
	if err != nil {
		return nil, 0, err
	}
	if t.quoted {
		return nil, 0, parseErrorf(file, n, "address %q must not be quoted", t.text)
	}
	switch t.text {
	case "all":
		return nil, 1, nil
	case "samehost", "samenet":
		return nil, 0, parseErrorf(file, n, "address keyword %s is not supported (PgBouncer does not support it either)", t.text)
	}
	if a, l, ok := strings.Cut(t.text, "/"); ok {
		addr, err := parseIP(file, n, a)
		if err != nil {
			return nil, 0, err
		}
		pfx, err := netip.ParsePrefix(addr.String() + "/" + l)
		if err != nil {
			return nil, 0, parseErrorf(file, n, "invalid prefix length %q in address %s", l, t.text)
		}
		return checkPrefix(pfx), 1, nil
	}
	addr, err := parseIP(file, n, t.text)
	if err != nil {
		return nil, 0, err
	}
	if len(fields) < 2 {
		return nil, 0, parseErrorf(file, n, "address %s needs a /length or a netmask field", t.text)
	}
	mt, err := single(file, n, fields[1], "netmask")
	if err != nil {
		return nil, 0, err
	}
	mask, err := netip.ParseAddr(mt.text)
	if err != nil || mt.quoted || mask.Zone() != "" {
		return nil, 0, parseErrorf(file, n, "address %s needs a /length or a netmask field, got %q", t.text, mt.text)
	}
	if mask.Is4() != addr.Is4() {
		return nil, 0, parseErrorf(file, n, "netmask %s does not match the address family of %s", mt.text, t.text)
	}
	ones, ok := maskBits(mask)
	if !ok {
		return nil, 0, parseErrorf(file, n, "netmask %s is not contiguous", mt.text)
	}
	return checkPrefix(netip.PrefixFrom(addr, ones)), 2, nil
}

// parseIP parses a literal IPv4 or IPv6 address, with clear errors for the
// host names and domain suffixes PostgreSQL allows but PgBouncer does not.
func parseIP(file string, n int, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, parseErrorf(file, n, "address %s: IPv6 zones are not supported", s)
		}
		return a, nil
	}
	if looksLikeHostName(s) {
		return netip.Addr{}, parseErrorf(file, n, "host name %q: host names and domain suffixes are not supported, use an IP address range", s)
	}
	return netip.Addr{}, parseErrorf(file, n, "invalid IP address %q", s)
}

func looksLikeHostName(s string) bool {
	if s == "" || strings.Trim(s, "0123456789.") == "" {
		return false // empty, or a mangled dotted quad
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// checkPrefix turns an IPv4-mapped range into the IPv4 range it denotes
// (Match compares IPv4 clients in IPv4 form). An address with bits set
// beyond its mask is kept as it is: PgBouncer keeps such a rule and it
// never matches (PostgreSQL masks it and it matches a wider range than
// written); pgbun keeps PgBouncer's behaviour, the safer of the two, and
// says so in the log (see Rule.Never).
func checkPrefix(p netip.Prefix) *netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 && p.Masked() == p {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return &p
}

// maskBits returns the prefix length of a contiguous netmask.
func maskBits(m netip.Addr) (int, bool) {
	b := m.AsSlice()
	ones := 0
	for i, x := range b {
		if x == 0xff {
			ones += 8
			continue
		}
		l := bits.LeadingZeros8(^x)
		if x<<l != 0 {
			return 0, false
		}
		for _, y := range b[i+1:] {
			if y != 0 {
				return 0, false
			}
		}
		return ones + l, true
	}
	return ones, true
}

func parseMethod(file string, n int, t token, typ ConnType) (Method, error) {
	if t.quoted {
		return "", parseErrorf(file, n, "authentication method %q must not be quoted", t.text)
	}
	m := Method(t.text)
	switch m {
	case MethodTrust, MethodReject, MethodMD5, MethodPassword, MethodSCRAM:
	case MethodCert:
		// On a host line (which PgBouncer accepts, PostgreSQL does not)
		// cert applies to TLS and plain connections alike, and a plain
		// one, having no certificate, fails it.
		if typ != HostSSL && typ != Host {
			return "", parseErrorf(file, n, "cert authentication is only supported on hostssl and host lines")
		}
	case MethodPeer:
		if typ != Local {
			return "", parseErrorf(file, n, "peer authentication is only supported on local lines")
		}
	case "ident", "gss", "sspi", "ldap", "pam", "radius", "bsd", "oauth", "krb5", "crypt":
		return "", parseErrorf(file, n, "authentication method %q is not supported (use trust, reject, md5, password, scram-sha-256, cert or peer)", t.text)
	default:
		return "", parseErrorf(file, n, "unknown authentication method %q", t.text)
	}
	return m, nil
}

func parseOptions(file string, n int, fields []field, r *Rule) (map[string]string, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	opts := make(map[string]string, len(fields))
	for _, f := range fields {
		t, err := single(file, n, f, "option")
		if err != nil {
			return nil, err
		}
		k, v, ok := strings.Cut(t.text, "=")
		if !ok || k == "" {
			if t.text == `\` && !t.quoted {
				return nil, parseErrorf(file, n, `line continuation with \ is not supported`)
			}
			return nil, parseErrorf(file, n, "option %q is not of the form name=value", t.text)
		}
		if _, dup := opts[k]; dup {
			return nil, parseErrorf(file, n, "option %s given twice", k)
		}
		switch k {
		case "map":
			if r.Method != MethodCert && r.Method != MethodPeer {
				return nil, parseErrorf(file, n, "map is only supported with cert and peer authentication")
			}
			if v == "" {
				return nil, parseErrorf(file, n, "map needs a map name")
			}
		case "clientcert":
			if r.Type != HostSSL {
				return nil, parseErrorf(file, n, "clientcert is only valid on hostssl lines")
			}
			if v != "verify-ca" && v != "verify-full" {
				return nil, parseErrorf(file, n, "invalid clientcert value %q (want verify-ca or verify-full)", v)
			}
			if r.Method == MethodCert && v != "verify-full" {
				return nil, parseErrorf(file, n, "clientcert=%s cannot be combined with cert authentication, which always verifies the full certificate", v)
			}
		default:
			return nil, parseErrorf(file, n, "unknown option %q", k)
		}
		opts[k] = v
	}
	return opts, nil
}
