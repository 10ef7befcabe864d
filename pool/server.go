package pool

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgbun/pgbun/internal/wire"
)

// maxServerMessage bounds messages pgbun itself reads from a server during
// login and housekeeping queries (rows of reset/check queries are small).
const maxServerMessage = 1 << 20

var serverIDs atomic.Uint64

// Server is one logged-in connection to PostgreSQL. Between Acquire and
// Release its owner may use Conn and Reader directly; any bytes it left
// unread when releasing make the server unusable (Release closes it).
type Server struct {
	ID      uint64
	Addr    string // "host:port" or Unix socket path
	Network string // "tcp" or "unix"
	Host    string // host as configured (TLS name, cancel target)

	conn net.Conn
	br   *bufio.Reader
	tls  *tls.ConnectionState

	// PID and Key are the server's BackendKeyData, used to cancel.
	PID uint32
	Key []byte

	// Params holds the server's reported run-time parameters
	// (ParameterStatus), as last seen. The owner keeps it current.
	Params map[string]string

	// Status is the transaction status of the last ReadyForQuery:
	// 'I' idle, 'T' in a transaction, 'E' in a failed transaction.
	Status byte

	Created  time.Time
	LastUsed time.Time

	// Aux is state the owner keeps with the server across owners (the
	// gateway's prepared statements and applied settings). Pools only
	// clear it, after running server_reset_query: that query returns the
	// session to its defaults, so what Aux knew no longer holds.
	Aux any

	raw       net.Conn // the socket under TLS, for liveness checks
	tokens    []*Limiter
	closed    atomic.Bool
	pool      *Pool
	gen       int  // the pool generation it was made in
	dedicated bool // relayed login: never handed to another client
	cancel    func(ctx context.Context) (net.Conn, error)
	buf       []byte
}

// Conn returns the server's connection (TLS or plain).
func (s *Server) Conn() net.Conn { return s.conn }

// Reader returns the buffered reader of the connection; it holds no bytes
// at hand-off.
func (s *Server) Reader() *bufio.Reader { return s.br }

// TLS reports the negotiated TLS state, or nil for plaintext.
func (s *Server) TLS() *tls.ConnectionState { return s.tls }

// Dedicated reports whether the server belongs to one client only.
func (s *Server) Dedicated() bool { return s.dedicated }

// Close closes the connection, telling the server first, and gives back
// the limiter tokens it held. Safe to call more than once.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	for _, l := range s.tokens {
		l.release()
	}
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.conn.Write(wire.AppendTerminate(nil))
	return s.conn.Close()
}

// wantedElsewhere reports whether a limiter this server holds a token of
// has a waiter.
func (s *Server) wantedElsewhere() bool {
	for _, l := range s.tokens {
		if l.waiting() {
			return true
		}
	}
	return false
}

// alive reports whether an idle server's socket is quiet. A backend that
// goes away (restart, pg_terminate_backend, idle timeout) sends a FATAL
// message and closes its end, so an idle server with anything to read is
// dead; checking costs one non-blocking peek.
func (s *Server) alive() bool {
	if s.br != nil && s.br.Buffered() > 0 {
		return false
	}
	sc, ok := s.raw.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var b [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case n > 0, n == 0 && err == nil:
			alive = false // data (a goodbye) or EOF
		case err == unix.EAGAIN || err == unix.EWOULDBLOCK || err == unix.EINTR:
		default:
			alive = false
		}
		return true // never wait for readiness
	})
	return alive
}

// Exec runs sql with the simple protocol and waits for ReadyForQuery,
// tracking ParameterStatus and transaction status. A server error comes
// back as a *wire.Error after the server is ready again; a network error
// leaves the server unusable. ctx bounds the whole exchange.
func (s *Server) Exec(ctx context.Context, sql string) error {
	if dl, ok := ctx.Deadline(); ok {
		s.conn.SetDeadline(dl)
		defer s.conn.SetDeadline(time.Time{})
	}
	s.buf = wire.AppendQuery(s.buf[:0], sql)
	if _, err := s.conn.Write(s.buf); err != nil {
		return fmt.Errorf("send query to %s: %w", s.Addr, err)
	}
	var first *wire.Error
	for {
		typ, body, buf, err := wire.ReadMessage(s.br, s.buf, maxServerMessage)
		s.buf = buf
		if err != nil {
			return fmt.Errorf("read from %s: %w", s.Addr, err)
		}
		switch typ {
		case 'E':
			if first == nil {
				first = wire.ParseError(body)
			}
		case 'S':
			s.setParam(body)
		case 'Z':
			if len(body) == 1 {
				s.Status = body[0]
			}
			if first != nil {
				return first
			}
			return nil
		}
	}
}

// setParam records a ParameterStatus body.
func (s *Server) setParam(body []byte) {
	if name, value, ok := wire.ParseParameterStatus(body); ok {
		s.SetParam(name, value)
	}
}

// SetParam records a parameter the server reported.
func (s *Server) SetParam(name, value string) {
	if s.Params == nil {
		s.Params = make(map[string]string)
	}
	s.Params[name] = value
}

// Cancel asks PostgreSQL to cancel the query running on this server, on a
// new connection as the protocol requires. Safe to call from any
// goroutine; the server itself is not touched.
func (s *Server) Cancel(ctx context.Context) error {
	c, err := s.cancel(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s to cancel: %w", s.Addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	msg := wire.AppendCancelRequest(make([]byte, 0, 12+len(s.Key)), s.PID, s.Key)
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("send cancel to %s: %w", s.Addr, err)
	}
	// PostgreSQL closes the connection when it is done; waiting for that
	// keeps the cancel ordered before anything the client sends next.
	io.Copy(io.Discard, c)
	return nil
}

// QueryRow runs sql with one text parameter over the extended protocol
// (so the parameter is never spliced into SQL) and returns the first row
// as text, NULL as nil; ok is false when there is no row.
func (s *Server) QueryRow(ctx context.Context, sql, arg string) (row []*string, ok bool, err error) {
	if dl, has := ctx.Deadline(); has {
		s.conn.SetDeadline(dl)
		defer s.conn.SetDeadline(time.Time{})
	}
	b := s.buf[:0]
	b, st := wire.AppendHeader(b, 'P')
	b = append(append(b, 0), sql...)
	b = append(b, 0, 0, 0)
	b = wire.Finish(b, st)
	b, st = wire.AppendHeader(b, 'B')
	b = append(b, 0, 0) // portal, statement: unnamed
	b = append(b, 0, 0) // no parameter formats: text
	b = append(b, 0, 1) // one parameter
	b = wire.AppendValue(b, arg)
	b = append(b, 0, 0) // no result formats: text
	b = wire.Finish(b, st)
	b, st = wire.AppendHeader(b, 'E')
	b = append(b, 0, 0, 0, 0, 0) // unnamed portal, no row limit
	b = wire.Finish(b, st)
	b = wire.AppendSync(b)
	s.buf = b
	if _, err := s.conn.Write(b); err != nil {
		return nil, false, fmt.Errorf("send query to %s: %w", s.Addr, err)
	}
	var first *wire.Error
	for {
		typ, body, buf, err := wire.ReadMessage(s.br, s.buf, maxServerMessage)
		s.buf = buf
		if err != nil {
			return nil, false, fmt.Errorf("read from %s: %w", s.Addr, err)
		}
		switch typ {
		case 'E':
			if first == nil {
				first = wire.ParseError(body)
			}
		case 'S':
			s.setParam(body)
		case 'D':
			if !ok {
				if row, err = decodeRow(body); err != nil {
					return nil, false, fmt.Errorf("row from %s: %w", s.Addr, err)
				}
				ok = true
			}
		case 'Z':
			if len(body) == 1 {
				s.Status = body[0]
			}
			if first != nil {
				return nil, false, first
			}
			return row, ok, nil
		}
	}
}

// decodeRow splits a DataRow body into text columns.
func decodeRow(body []byte) ([]*string, error) {
	n, body, ok := wire.Uint16(body)
	if !ok {
		return nil, errors.New("short DataRow")
	}
	row := make([]*string, 0, n)
	for range n {
		v, null, rest, ok := wire.Value(body)
		if !ok {
			return nil, errors.New("malformed DataRow column")
		}
		body = rest
		if null {
			row = append(row, nil)
			continue
		}
		s := string(v)
		row = append(row, &s)
	}
	return row, nil
}

// PoolKey names the pool the server belongs to.
func (s *Server) PoolKey() Key {
	if s.pool == nil {
		return Key{}
	}
	return s.pool.Key
}
