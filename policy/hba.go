package policy

import (
	"fmt"
	"net/netip"
	"strconv"
)

// ConnType is the first column of an hba line: how the client reached pgbun.
type ConnType int

// Connection types, in pg_hba.conf's spelling.
const (
	Local     ConnType = iota // local: Unix-socket connections
	Host                      // host: TCP, with or without TLS
	HostSSL                   // hostssl: TCP with TLS
	HostNoSSL                 // hostnossl: TCP without TLS
)

// String returns the pg_hba.conf keyword of c.
func (c ConnType) String() string {
	switch c {
	case Local:
		return "local"
	case Host:
		return "host"
	case HostSSL:
		return "hostssl"
	case HostNoSSL:
		return "hostnossl"
	}
	return "ConnType(" + strconv.Itoa(int(c)) + ")"
}

// Method is the authentication method an hba line selects.
type Method string

// The methods pgbun accepts in an hba file: PgBouncer's set. MethodMD5 and
// MethodSCRAM are both password-based; as in PgBouncer, the gateway runs
// SCRAM for an md5 line when the user's stored secret is a SCRAM secret.
const (
	MethodTrust    Method = "trust"         // no password
	MethodReject   Method = "reject"        // refuse the connection
	MethodMD5      Method = "md5"           // md5, or SCRAM for a SCRAM secret
	MethodPassword Method = "password"      // cleartext password (PgBouncer's "plain")
	MethodSCRAM    Method = "scram-sha-256" // SCRAM-SHA-256, -PLUS where offered
	MethodCert     Method = "cert"          // TLS client certificate; hostssl only
	MethodPeer     Method = "peer"          // peer credentials; local only
)

// Rule is one line of an hba file. Rules come from ParseHBA or LoadHBA and
// are read-only afterwards: Match keeps a compiled form of the name lists
// next to the exported fields.
type Rule struct {
	File string // file the line was read from
	Line int    // 1-based line number in File

	Type ConnType

	// Databases is the database column after @file expansion. The keywords
	// all, sameuser and replication appear bare; a name that would read as
	// a keyword or begins with '"', '@' or '+' appears in double quotes
	// (with '"' doubled inside), so `all` and `"all"` stay distinct.
	Databases []string
	// Users is the user column after @file expansion: the keyword all, or
	// names, quoted as in Databases.
	Users []string

	// Addr is the client address range of a host* line; nil for a local
	// line or the address keyword all. IPv4-mapped IPv6 ranges of /96 or
	// longer are stored as the IPv4 range they denote.
	Addr *netip.Prefix

	Method Method

	// Options holds the name=value fields after the method: "map" (cert
	// and peer: the ident map that relates the certificate CN or the peer's
	// OS user to the requested user) and "clientcert" (hostssl only:
	// verify-ca or verify-full, a client certificate the gateway must
	// demand in addition to the method). Nil when there are none.
	Options map[string]string

	// Never marks a rule that cannot match: its address has bits set
	// beyond its mask (see checkPrefix).
	Never bool

	db, user *nameList // compiled Databases and Users
}

// HBA is a parsed hba file: an ordered list of rules of which the first
// that matches a request decides. An HBA is immutable and safe for
// concurrent use; a reload parses a new one and swaps the pointer.
type HBA struct {
	Rules []Rule
	// Notes are problems that did not stop the file loading, one line
	// each, for the log.
	Notes []string
}

// Request is what Match needs to know about a connection.
type Request struct {
	Local bool       // arrived on the Unix socket
	TLS   bool       // TCP connection that negotiated TLS
	Addr  netip.Addr // client address; the zero Addr for Local

	Database string // requested database (after the gateway applied its default)
	User     string // requested user

	// Replication marks a physical replication connection (startup
	// parameter replication=true). Logical replication (replication=
	// database) names a database and is matched like a normal connection,
	// as PostgreSQL does.
	Replication bool
}

// ParseError is a problem at one line of an hba or ident file.
type ParseError struct {
	File string
	Line int
	Msg  string
	Err  error // underlying cause, such as the error reading an @file
}

func (e *ParseError) Error() string {
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Unwrap returns the underlying cause, if any.
func (e *ParseError) Unwrap() error { return e.Err }

func parseErrorf(file string, line int, format string, args ...any) *ParseError {
	return &ParseError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// LoadHBA reads and parses the hba file at path. @file references are read
// relative to the directory of the file that names them.
func LoadHBA(path string) (*HBA, error) {
	data, err := readFileLimited(path)
	if err != nil {
		return nil, fmt.Errorf("load hba file: %w", err)
	}
	return ParseHBA(path, data, readFileLimited)
}

// ParseHBA parses the contents of an hba file named file. readFile reads
// @file lists; it receives the path already resolved against the directory
// of the including file, and may be nil when includes are not allowed. The
// first problem found is returned as a *ParseError; a file with problems
// yields no rules at all, unlike PgBouncer, which skips bad lines and so
// may silently drop a reject line.
func ParseHBA(file string, data []byte, readFile func(string) ([]byte, error)) (*HBA, error) {
	p := &hbaParser{readFile: readFile}
	h := &HBA{}
	for i, ln := range lines(data) {
		r, err := p.parseLine(file, i+1, ln)
		if err != nil {
			return nil, err
		}
		if r != nil {
			if r.Never {
				h.Notes = append(h.Notes, fmt.Sprintf("%s:%d: address %s has bits set beyond its /%d mask (did you mean %s?): the rule never matches, as in PgBouncer",
					file, i+1, r.Addr.Addr(), r.Addr.Bits(), r.Addr.Masked()))
			}
			h.Rules = append(h.Rules, *r)
		}
	}
	return h, nil
}
