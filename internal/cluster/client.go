package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

// maxMessage bounds one message read from the server; the statements the
// harness runs itself answer with short rows.
const maxMessage = 1 << 20

// closeWait bounds how long closing a session waits to send Terminate.
const closeWait = time.Second

// errAuthRequested reports that the server asked the superuser to
// authenticate on the Unix socket, which the harness's sessions cannot do:
// they rely on pg_hba.conf trusting that socket.
var errAuthRequested = errors.New("server asks the superuser to authenticate")

// session is a connection as the superuser "postgres" over the cluster's
// Unix socket: just enough of the protocol for the harness's own statements.
// It is not safe for concurrent use.
type session struct {
	nc      net.Conn
	br      *bufio.Reader
	buf     []byte
	unwatch func() bool // ends the watch on the caller's context
}

// connect logs in to database db on the server listening on port. The
// session lives under ctx: once ctx ends, any exchange in progress fails.
func (c *Cluster) connect(ctx context.Context, db string, port int) (*session, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", filepath.Join(c.dir, ".s.PGSQL."+strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	s := &session{nc: nc, br: bufio.NewReader(nc)}
	// A deadline in the past interrupts a blocked read or write at once.
	s.unwatch = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	if err := s.startup(db); err != nil {
		s.close()
		return nil, withContext(ctx, err)
	}
	return s, nil
}

// withContext puts ctx's error in front of err when ctx has ended, since
// that is why err happened.
func withContext(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// startup sends the StartupMessage and reads up to the first ReadyForQuery.
// A refusal from the server is returned as the *wire.Error it sent.
func (s *session) startup(db string) error {
	b := []byte{0, 0, 0, 0, 0, 3, 0, 0} // length, protocol 3.0
	for _, kv := range [][2]string{{"user", "postgres"}, {"database", db}, {"client_encoding", "UTF8"}} {
		b = append(b, kv[0]...)
		b = append(b, 0)
		b = append(b, kv[1]...)
		b = append(b, 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	if _, err := s.nc.Write(b); err != nil {
		return fmt.Errorf("send startup: %w", err)
	}
	for {
		typ, body, err := s.read()
		if err != nil {
			return err
		}
		switch typ {
		case 'R':
			if len(body) < 4 {
				return errors.New("short authentication message")
			}
			if m := binary.BigEndian.Uint32(body); m != 0 {
				return fmt.Errorf("%w (authentication request %d)", errAuthRequested, m)
			}
		case 'E':
			return wire.ParseError(body)
		case 'Z':
			return nil
		}
		// ParameterStatus, BackendKeyData, NoticeResponse and
		// NegotiateProtocolVersion need no answer.
	}
}

// exec runs sql, one or more statements, with the simple protocol. The
// first error the server reports is returned once it is ready again.
func (s *session) exec(sql string) error {
	s.buf = wire.AppendQuery(s.buf[:0], sql)
	if _, err := s.nc.Write(s.buf); err != nil {
		return fmt.Errorf("send query: %w", err)
	}
	return s.await(nil)
}

// queryRow runs sql with text parameters over the extended protocol, so no
// argument is ever spliced into SQL, and returns the first row's columns as
// text, NULL as nil; ok is false when there is no row.
func (s *session) queryRow(sql string, args ...string) (row []*string, ok bool, err error) {
	b := s.buf[:0]
	b, st := wire.AppendHeader(b, 'P')
	b = append(b, 0) // unnamed statement
	b = append(b, sql...)
	b = append(b, 0, 0, 0) // no parameter types given
	b = wire.Finish(b, st)
	b, st = wire.AppendHeader(b, 'B')
	b = append(b, 0, 0) // unnamed portal and statement
	b = append(b, 0, 0) // all parameters in text
	b = binary.BigEndian.AppendUint16(b, uint16(len(args)))
	for _, a := range args {
		b = binary.BigEndian.AppendUint32(b, uint32(len(a)))
		b = append(b, a...)
	}
	b = append(b, 0, 0) // all results in text
	b = wire.Finish(b, st)
	b, st = wire.AppendHeader(b, 'E')
	b = append(b, 0, 0, 0, 0, 0) // unnamed portal, no row limit
	b = wire.Finish(b, st)
	b = append(b, 'S', 0, 0, 0, 4)
	s.buf = b
	if _, err := s.nc.Write(b); err != nil {
		return nil, false, fmt.Errorf("send query: %w", err)
	}
	err = s.await(func(body []byte) error {
		if ok {
			return nil
		}
		r, err := decodeRow(body)
		if err != nil {
			return err
		}
		row, ok = r, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return row, ok, nil
}

// await reads up to ReadyForQuery, handing each DataRow body to onRow (when
// not nil). It returns the server's first error, or the first error of
// onRow, after ReadyForQuery; a read error ends it at once.
func (s *session) await(onRow func(body []byte) error) error {
	var first error
	for {
		typ, body, err := s.read()
		if err != nil {
			return err
		}
		switch typ {
		case 'E':
			if first == nil {
				first = wire.ParseError(body)
			}
		case 'D':
			if onRow != nil && first == nil {
				first = onRow(body)
			}
		case 'G':
			// COPY FROM STDIN has no data to read here: refuse it, and the
			// server answers with an error and ReadyForQuery.
			b, st := wire.AppendHeader(s.buf[:0], 'f')
			b = append(b, "COPY FROM STDIN is not supported here"...)
			b = append(b, 0)
			s.buf = wire.Finish(b, st)
			if _, err := s.nc.Write(s.buf); err != nil {
				return fmt.Errorf("send CopyFail: %w", err)
			}
		case 'Z':
			return first
		}
	}
}

// read reads one message; its body is valid until the next read.
func (s *session) read() (typ byte, body []byte, err error) {
	typ, body, s.buf, err = wire.ReadMessage(s.br, s.buf, maxMessage)
	if err != nil {
		return 0, nil, fmt.Errorf("read from server: %w", err)
	}
	return typ, body, nil
}

// close says goodbye to the server, without waiting long for it, and
// closes the connection.
func (s *session) close() {
	s.unwatch()
	s.nc.SetWriteDeadline(time.Now().Add(closeWait))
	s.nc.Write(wire.AppendTerminate(s.buf[:0]))
	s.nc.Close()
}

// decodeRow splits a DataRow body into text columns, NULL as nil.
func decodeRow(body []byte) ([]*string, error) {
	if len(body) < 2 {
		return nil, errors.New("short DataRow")
	}
	n := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	row := make([]*string, 0, n)
	for range n {
		if len(body) < 4 {
			return nil, errors.New("short DataRow")
		}
		l := int32(binary.BigEndian.Uint32(body))
		body = body[4:]
		if l < 0 {
			row = append(row, nil)
			continue
		}
		if int(l) > len(body) {
			return nil, errors.New("DataRow column longer than the message")
		}
		v := string(body[:l])
		row = append(row, &v)
		body = body[l:]
	}
	return row, nil
}
