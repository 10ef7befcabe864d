package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/login"
	"github.com/pgbun/pgbun/policy"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
)

var clientIDs atomic.Uint64

// client is one accepted connection. The goroutine carrying it (serve's,
// then, for a parked session, the one that woke it) owns it; other
// goroutines only call Abort and Kill and read the atomic fields.
type client struct {
	// The connection, its lifecycle (kill, abort, its context) and what
	// SHOW CLIENTS reads, shared with the session that carries the
	// client after login.
	session.Client

	id     uint64
	served *x509.Certificate // the certificate pgbun presented, for channel binding
	// servedCert receives, during the TLS handshake, the certificate
	// chosen for it (see recordServed).
	servedCert *tls.Certificate
	tls        *tlsState // nil without TLS
	unix       bool
	started    time.Time

	minor  uint16            // protocol minor version (3.x)
	params map[string]string // startup parameters
	dbname string            // database the client asked for
	pid    uint32            // the BackendKeyData pgbun gave this client
	secret []byte
	buf    []byte                    // scratch for reading login messages
	out    []byte                    // scratch for writing
	pool   atomic.Pointer[pool.Pool] // the client's pool, once routed

	ip     netip.Addr  // remote address; invalid for Unix sockets
	sni    string      // TLS server name, lower case
	method string      // how the client authenticated, for logs and revocation
	certCN string      // verified client certificate's common name, if any
	ready  atomic.Bool // logged in: the fields above are final

	// What teardown gives back.
	holds  holds
	ticket *policy.Ticket
}

// tlsState is what a client keeps of its TLS handshake: the whole
// tls.ConnectionState is many times the size and not needed after login.
type tlsState struct{ Version, CipherSuite uint16 }

// holds records which shared counts a client has entered, so that
// teardown leaves exactly those.
type holds uint8

const (
	holdClientCount holds = 1 << iota // g.nclients
	holdCounts                        // per database and user client counts
	holdCancel                        // registered for cancel requests
	holdPool                          // attached to its pool (c.pool)
)

func newClient(conn net.Conn) *client {
	c := &client{
		id:      clientIDs.Add(1),
		started: time.Now(),
	}
	c.Init(conn)
	c.Addr = conn.RemoteAddr().String()
	_, c.unix = conn.(*net.UnixConn)
	if c.unix {
		c.Addr = "unix"
	} else if ap, err := netip.ParseAddrPort(c.Addr); err == nil {
		c.ip = ap.Addr().Unmap()
	}
	return c
}

// send writes a message the gateway built to the client.
func (c *client) send(b []byte) error {
	_, err := c.Conn.Write(b)
	return err
}

// fail tells the client why it is being disconnected. The write is
// bounded so a client that does not read cannot hold the goroutine.
func (c *client) fail(e *wire.Error) {
	c.Raw.SetWriteDeadline(time.Now().Add(time.Second))
	c.send(e.Append(c.out[:0]))
}

// loginConn is the client's connection as a login exchange uses it.
func (c *client) loginConn() *login.Conn {
	return &login.Conn{In: c.In, Out: c.Conn, User: c.User, Served: c.served}
}
