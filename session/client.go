package session

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pgbun/pgbun/internal/rawio"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

// readBufferSize is the size of a client's read buffer. It bounds the
// read-ahead during login and serves the forwarding path afterwards.
const readBufferSize = 16384

var (
	// ErrKilled is the cause of a client context cancelled because the
	// client was killed or aborted (KILL_CLIENT, a reload's revocation,
	// shutdown): what it waited for ends, and the error the client gets
	// is the one Kill recorded.
	ErrKilled = errors.New("client killed")
	// ErrClientGone reports that the client hung up while pgbun waited
	// on its behalf.
	ErrClientGone = errors.New("client went away")
)

// Client is one client connection, shared by the gateway that accepts
// and logs it in and the session that carries its traffic afterwards.
// The goroutine carrying the client (the gateway's, then the session's,
// which may change while an idle session is parked) owns the fields;
// other goroutines only call Kill, Abort, CancelQuery and Server and read
// the atomic fields.
type Client struct {
	Raw       net.Conn      // the accepted socket
	Conn      net.Conn      // Raw, or the TLS connection over it
	In        *bufio.Reader // reads Conn; nil while an idle session waits without a buffer
	Encrypted bool          // Conn is TLS

	Addr     string            // remote address, for logs
	User     string            // login user, for logs
	Settings map[string]string // run-time settings asked for at startup, applied on every server

	// For SHOW CLIENTS: state and times (unix nanoseconds).
	State       atomic.Int32 // a State
	RequestTime atomic.Int64
	WaitSince   atomic.Int64
	Prepared    atomic.Int32 // named prepared statements (transaction pooling)
	// Quiet: no query running and no transaction open, so the session can
	// be ended without losing anything (shutdown after servers).
	Quiet atomic.Bool

	// ctx is the client's context: every wait on the client's behalf
	// takes it. Kill and Abort cancel it, and so does a hang-up noticed
	// while the client waits for a server; Close cancels it last.
	ctx    context.Context
	cancel context.CancelCauseFunc

	server   atomic.Pointer[pool.Server] // linked server, for cancels
	cancelMu sync.RWMutex                // held (read) while a cancel is in flight

	abortMu sync.Mutex
	aborted bool
	killMu  sync.Mutex
	killErr *wire.Error
	wake    func() // how to wake the running session's reader

	txn atomic.Pointer[txnSession] // the transaction-pooled session, for the parker

	// The idle wait without a read buffer (see awaitInput).
	lead   leadReader
	rc     syscall.RawConn
	peekFn func(fd uintptr) bool
	peeked bool
}

// State is what SHOW CLIENTS calls a client's state.
type State int32

const (
	Login   State = iota // logging in
	Active               // linked to a server
	Idle                 // between transactions, no server
	Waiting              // waiting for a server
)

func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case Idle:
		return "idle"
	case Waiting:
		return "waiting"
	}
	return "login"
}

// Init readies c for the accepted connection conn.
func (c *Client) Init(conn net.Conn) {
	// Not derived from the gateway's context: closing the gateway aborts
	// every client, which cancels it, and a context of its own costs the
	// gateway's no bookkeeping per client.
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	c.Raw = conn
	c.Conn = rawio.Wrap(conn)
	c.In = NewReader(c.Conn)
}

// Context is the client's context, cancelled when the client is killed,
// aborted, gone while waiting, or closed.
func (c *Client) Context() context.Context { return c.ctx }

// Close releases what the client holds (its context, its read buffer)
// and closes its connection.
func (c *Client) Close() {
	c.cancel(nil)
	c.dropReader()
	c.Raw.Close()
}

// Abort closes the connection from another goroutine (shutdown, kill);
// the goroutine carrying the client then sees its reads fail.
func (c *Client) Abort() {
	c.abortMu.Lock()
	c.aborted = true
	c.abortMu.Unlock()
	c.Raw.Close()
	c.cancel(ErrKilled)
	c.wakeParked()
}

// Aborted reports whether Abort was called.
func (c *Client) Aborted() bool {
	c.abortMu.Lock()
	defer c.abortMu.Unlock()
	return c.aborted
}

// Kill ends the client's session from another goroutine (revoked by a
// reload, KILL_CLIENT, shutdown): err is sent to it once forwarding has
// stopped. The session's wake function, when set, makes its reader return
// without racing the session's own deadline changes.
func (c *Client) Kill(err *wire.Error) {
	c.killMu.Lock()
	if c.killErr == nil {
		c.killErr = err
	}
	wake := c.wake
	c.killMu.Unlock()
	c.cancel(ErrKilled)
	if wake != nil {
		wake()
		return
	}
	c.Raw.SetReadDeadline(aLongTimeAgo)
}

// Killed returns the error Kill recorded, or nil.
func (c *Client) Killed() *wire.Error {
	c.killMu.Lock()
	defer c.killMu.Unlock()
	return c.killErr
}

// setWake registers how to wake the current session's reader (nil clears).
// A kill that came first is delivered at once.
func (c *Client) setWake(f func()) {
	c.killMu.Lock()
	c.wake = f
	pending := c.killErr != nil
	c.killMu.Unlock()
	if pending && f != nil {
		f()
	}
}

// link records the server c is using, for cancel requests.
func (c *Client) link(s *pool.Server) {
	c.cancelMu.Lock()
	c.server.Store(s)
	c.cancelMu.Unlock()
}

// unlink forgets c's server. It waits for a cancel in flight to finish,
// so a cancel meant for this client can never reach the server's next
// client.
func (c *Client) unlink() {
	c.cancelMu.Lock()
	c.server.Store(nil)
	c.cancelMu.Unlock()
}

// Server returns the server c is linked to, or nil.
func (c *Client) Server() *pool.Server { return c.server.Load() }

// CancelQuery cancels what c's linked server is running, if it is linked.
func (c *Client) CancelQuery(ctx context.Context) error {
	c.cancelMu.RLock()
	defer c.cancelMu.RUnlock()
	s := c.server.Load()
	if s == nil {
		return nil
	}
	return s.Cancel(ctx)
}
