package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/internal/rawio"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/policy"
	"github.com/pgbun/pgbun/pool"
)

// clientReadBuffer is the size of a client's read buffer. It bounds the
// read-ahead during login and serves the forwarding path afterwards.
const clientReadBuffer = 16384

// maxLoginMessage bounds the messages a client sends before it is
// authenticated (password and SASL messages are a few hundred bytes).
const maxLoginMessage = 8192

var clientIDs atomic.Uint64

// client is one accepted connection. The goroutine carrying it (serve's,
// then, for a parked session, the one that woke it) owns it; other
// goroutines only call abort and kill and read the atomic fields.
type client struct {
	id     uint64
	raw    net.Conn      // the accepted socket
	conn   net.Conn      // raw, or the TLS connection over it
	br     *bufio.Reader // reads conn; handed to forwarding with what it holds
	lead   leadReader    // what br reads after an idle wait (see awaitInput)
	rc     syscall.RawConn
	peekFn func(fd uintptr) bool
	peeked bool
	tls    *tlsState         // nil without TLS
	served *x509.Certificate // the certificate pgbun presented, for channel binding
	// servedCert receives, during the TLS handshake, the certificate
	// chosen for it (see recordServed).
	servedCert *tls.Certificate
	unix       bool
	addr       string // remote address for logs
	started    time.Time

	minor    uint16            // protocol minor version (3.x)
	params   map[string]string // startup parameters
	settings map[string]string // run-time settings asked for at startup (params and options)
	user     string            // login user
	dbname   string            // database the client asked for
	pid      uint32            // the BackendKeyData pgbun gave this client
	secret   []byte
	buf      []byte                      // scratch for reading login messages
	out      []byte                      // scratch for writing
	server   atomic.Pointer[pool.Server] // linked server, for cancels
	pool     atomic.Pointer[pool.Pool]   // the client's pool, once routed
	cancelMu sync.RWMutex                // held (read) while a cancel is in flight
	abortMu  sync.Mutex
	aborted  bool
	killMu   sync.Mutex
	killErr  *wire.Error
	wake     func()
	// ctx is the client's context: every wait on the client's behalf
	// (a server, an auth_query lookup, the throttle, the TLS handshake)
	// takes it. kill and abort cancel it, and so does a hang-up noticed
	// while the client waits for a server; teardown cancels it last.
	ctx    context.Context
	cancel context.CancelCauseFunc

	ip     netip.Addr  // remote address; invalid for Unix sockets
	sni    string      // TLS server name, lower case
	method string      // how the client authenticated, for logs and revocation
	certCN string      // verified client certificate's common name, if any
	ready  atomic.Bool // logged in: the fields above are final

	// For SHOW CLIENTS: state and times (unix nanoseconds).
	state       atomic.Int32 // a clientState
	requestTime atomic.Int64
	waitSince   atomic.Int64
	prepared    atomic.Int32 // named prepared statements (transaction pooling)
	// What teardown gives back.
	holds  holds
	ticket *policy.Ticket
	// txn is the client's transaction-pooled session, for the parker.
	txn atomic.Pointer[txnSession]

	// quiet: no query running and no transaction open, so the session
	// can be ended without losing anything (shutdown after servers).
	quiet atomic.Bool
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

// clientState is what SHOW CLIENTS calls a client's state.
type clientState int32

const (
	stateLogin   clientState = iota // logging in
	stateActive                     // linked to a server
	stateIdle                       // between transactions, no server
	stateWaiting                    // waiting for a server
)

func (s clientState) String() string {
	switch s {
	case stateActive:
		return "active"
	case stateIdle:
		return "idle"
	case stateWaiting:
		return "waiting"
	}
	return "login"
}

func newClient(conn net.Conn) *client {
	// Not derived from the gateway's context: closing the gateway aborts
	// every client, which cancels it, and a context of its own costs the
	// gateway's no bookkeeping per client.
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &client{
		ctx:     ctx,
		cancel:  cancel,
		id:      clientIDs.Add(1),
		raw:     conn,
		conn:    rawio.Wrap(conn),
		started: time.Now(),
		addr:    conn.RemoteAddr().String(),
	}
	_, c.unix = conn.(*net.UnixConn)
	if c.unix {
		c.addr = "unix"
	} else if ap, err := netip.ParseAddrPort(c.addr); err == nil {
		c.ip = ap.Addr().Unmap()
	}
	c.br = takeReader(c.conn)
	return c
}

// send writes a message the gateway built to the client.
func (c *client) send(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// fail tells the client why it is being disconnected. The write is
// bounded so a client that does not read cannot hold the goroutine.
func (c *client) fail(e *wire.Error) {
	c.raw.SetWriteDeadline(time.Now().Add(time.Second))
	c.send(e.Append(c.out[:0]))
}

// readMessage reads one typed message during login.
func (c *client) readMessage() (byte, []byte, error) {
	typ, body, buf, err := wire.ReadMessage(c.br, c.buf, maxLoginMessage)
	c.buf = buf
	return typ, body, err
}

// abort closes the connection from another goroutine (shutdown, kill);
// the serve goroutine then sees its reads fail.
func (c *client) abort() {
	c.abortMu.Lock()
	c.aborted = true
	c.abortMu.Unlock()
	c.raw.Close()
	c.cancel(errKilled)
	c.wakeParked()
}

func (c *client) wasAborted() bool {
	c.abortMu.Lock()
	defer c.abortMu.Unlock()
	return c.aborted
}

// kill ends the client's session from another goroutine (revoked by a
// reload, KILL_CLIENT, shutdown): err is sent to it once forwarding has
// stopped. The session's wake function, when set, makes its reader return
// without racing the session's own deadline changes.
func (c *client) kill(err *wire.Error) {
	c.killMu.Lock()
	if c.killErr == nil {
		c.killErr = err
	}
	wake := c.wake
	c.killMu.Unlock()
	c.cancel(errKilled)
	if wake != nil {
		wake()
		return
	}
	c.raw.SetReadDeadline(aLongTimeAgo)
}

// killed returns the error kill recorded, or nil.
func (c *client) killed() *wire.Error {
	c.killMu.Lock()
	defer c.killMu.Unlock()
	return c.killErr
}

// setWake registers how to wake the current session's reader (nil clears).
// A kill that came first is delivered at once.
func (c *client) setWake(f func()) {
	c.killMu.Lock()
	c.wake = f
	pending := c.killErr != nil
	c.killMu.Unlock()
	if pending && f != nil {
		f()
	}
}
