package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

// maxBody bounds the body of any message a console client sends.
const maxBody = 64 << 10

// codeAdmin is the SQLSTATE PgBouncer gives every console error that has
// no code of its own (protocol_violation).
const codeAdmin = wire.CodeProtocolViolation

// deadliner is the part of net.Conn that lets the end of ctx interrupt a
// blocked read or write.
type deadliner interface {
	SetDeadline(t time.Time) error
}

// session is one console connection. Only the goroutine running Serve
// touches it, except the peek goroutine, which owns r while it runs.
type session struct {
	ctx  context.Context
	r    *bufio.Reader
	w    io.Writer
	src  Source
	ctl  Controller
	opts Options

	out []byte // pending output
	in  []byte // read buffer, reused

	// gone ends when the client disconnects (seen by the peek goroutine)
	// or ctx ends: the context blocking commands run under.
	gone     context.Context
	markGone context.CancelFunc
	// peek, when not nil, delivers the result of a read of the client
	// started while a blocking command runs; until it does, the peek
	// goroutine owns r.
	peek chan error

	// inExtended is set after an extended-protocol message was refused:
	// everything up to the next Sync is discarded, as PostgreSQL does.
	inExtended bool
}

func newSession(ctx context.Context, r *bufio.Reader, w io.Writer, src Source, ctl Controller, opts Options) *session {
	if ctl == nil {
		opts.Admin = false
	}
	s := &session{ctx: ctx, r: r, w: w, src: src, ctl: ctl, opts: opts}
	s.gone, s.markGone = context.WithCancel(ctx)
	return s
}

// run is the session's life: welcome, then one message at a time.
func (s *session) run() (err error) {
	defer s.markGone()
	if d, ok := s.w.(deadliner); ok {
		// Cancellation becomes a deadline in the past, which fails the
		// blocked read or write.
		stop := context.AfterFunc(s.ctx, func() { d.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	defer func() { err = s.finish(err) }()

	s.welcome()
	if err := s.flush(); err != nil {
		return err
	}
	for {
		typ, body, err := s.read()
		if err != nil {
			return s.readFailed(err)
		}
		if typ == 'X' {
			return nil
		}
		if err := s.handle(typ, body); err != nil {
			return err
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
}

// finish waits for a peek goroutine still reading r, so that Serve never
// returns while it uses the caller's reader, and turns errors caused by
// the end of ctx into ctx's error.
func (s *session) finish(err error) error {
	if s.peek != nil {
		if d, ok := s.w.(deadliner); ok && err != nil {
			d.SetDeadline(time.Unix(1, 0))
		}
		<-s.peek
		s.peek = nil
	}
	if err != nil && s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return err
}

// welcome queues what a client gets after authentication.
func (s *session) welcome() {
	out := wire.AppendAuthOK(s.out)
	version := s.opts.ServerVersion
	if version == "" {
		version = s.src.Version()
	}
	superuser := "off"
	if s.opts.Admin {
		superuser = "on"
	}
	params := [...][2]string{
		{"server_version", version},
		{"client_encoding", "UTF8"},
		{"server_encoding", "UTF8"},
		{"DateStyle", "ISO"},
		{"TimeZone", "GMT"},
		{"standard_conforming_strings", "on"},
		{"integer_datetimes", "on"},
		{"is_superuser", superuser},
	}
	for _, p := range params {
		out = wire.AppendParameterStatus(out, p[0], p[1])
	}
	if s.opts.ApplicationName != "" {
		out = wire.AppendParameterStatus(out, "application_name", s.opts.ApplicationName)
	}
	if len(s.opts.Secret) > 0 {
		out = wire.AppendBackendKeyData(out, s.opts.PID, s.opts.Secret)
	}
	s.out = wire.AppendReadyForQuery(out, 'I')
}

// read returns the next message; body is valid until the next read.
func (s *session) read() (byte, []byte, error) {
	if s.peek != nil {
		// A blocking command started a read early; wait for its outcome
		// before touching r again.
		err := <-s.peek
		s.peek = nil
		if err != nil {
			return 0, nil, err
		}
	}
	if err := s.ctx.Err(); err != nil {
		return 0, nil, err
	}
	typ, body, buf, err := wire.ReadMessage(s.r, s.in, maxBody)
	s.in = buf
	return typ, body, err
}

// readFailed decides what a failed read ends the session with: a clean
// disconnect is io.EOF, a message too long or malformed gets a FATAL
// error first.
func (s *session) readFailed(err error) error {
	var fe *wire.FormatError
	switch {
	case errors.Is(err, wire.ErrTooLong):
		s.fatal(wire.CodeProtocolViolation, "message too long for the admin console")
	case errors.As(err, &fe):
		s.fatal(wire.CodeProtocolViolation, fe.Msg)
	default:
		return fmt.Errorf("admin: read: %w", err)
	}
	s.flush()
	return fmt.Errorf("admin: read: %w", err)
}

// handle answers one message.
func (s *session) handle(typ byte, body []byte) error {
	if s.inExtended && typ != 'S' {
		return nil // discarded until Sync
	}
	switch typ {
	case 'Q':
		q, _, ok := wire.CString(body)
		if !ok {
			s.fatal(wire.CodeProtocolViolation, "invalid query message")
			s.flush()
			return errors.New("admin: query message without terminator")
		}
		return s.query(q)
	case 'P', 'B', 'E', 'D', 'C':
		// PgBouncer's wording; unlike PgBouncer the session survives:
		// the rest of the batch is skipped up to Sync.
		s.fail(codeAdmin, "extended query protocol not supported by admin console")
		s.inExtended = true
	case 'S':
		s.inExtended = false
		s.ready()
	case 'H':
		// Flush: nothing is pending beyond what every message flushes.
	case 'd', 'c', 'f':
		// COPY messages outside COPY are ignored, as PostgreSQL does.
	default:
		s.fail(codeAdmin, fmt.Sprintf("unsupported packet type for admin console: %d", typ))
		s.ready()
	}
	return nil
}

// ready appends ReadyForQuery; the console never holds a transaction.
func (s *session) ready() {
	s.out = wire.AppendReadyForQuery(s.out, 'I')
}

// fail appends an ErrorResponse of severity ERROR.
func (s *session) fail(code, msg string) {
	e := wire.Error{Severity: "ERROR", Code: code, Message: msg}
	s.out = e.Append(s.out)
}

func (s *session) fatal(code, msg string) {
	e := wire.Error{Severity: "FATAL", Code: code, Message: msg}
	s.out = e.Append(s.out)
}

// flush writes pending output.
func (s *session) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	_, err := s.w.Write(s.out)
	s.out = s.out[:0]
	if err != nil {
		return fmt.Errorf("admin: write: %w", err)
	}
	return nil
}

// watchClient returns the context for a command that may wait for a long
// time (PAUSE, SUSPEND, WAIT_CLOSE): it ends when the client disconnects
// or ctx ends. The caller flushes its output first. While the command
// runs a goroutine waits for the client's next bytes: an error there
// means the client is gone; data means a next message, which the main
// loop reads once the peek has finished.
func (s *session) watchClient() context.Context {
	if s.peek == nil {
		ch := make(chan error, 1)
		s.peek = ch
		go func() {
			_, err := s.r.Peek(1)
			if err != nil {
				s.markGone()
			}
			ch <- err
		}()
	}
	return s.gone
}
