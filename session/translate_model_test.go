package session

import (
	"fmt"
	"strings"

	"github.com/pgbun/pgbun/internal/wire"
)

// modelServer answers client messages the way PostgreSQL does, as far as
// statement and portal names go. Queries starting with "!" fail, as does
// anything that names a missing statement or portal. Its answers carry
// no meaningful bodies, only the message types a client would see.
type modelServer struct {
	stmts   map[string]string // name ("" unnamed) -> query
	portals map[string]bool
	skip    bool // skipping to the next Sync after an error
	closed  bool // a FATAL error ended the connection
}

func newModelServer() *modelServer {
	return &modelServer{stmts: make(map[string]string), portals: make(map[string]bool)}
}

func (m *modelServer) serve(out []byte, typ byte, body []byte) []byte {
	if m.closed {
		return out
	}
	if !strings.ContainsRune("SQFPBDCEHdcf", rune(typ)) {
		m.closed = true // an unknown message type is fatal, skipping or not
		return (&wire.Error{Severity: "FATAL", Code: wire.CodeProtocolViolation, Message: "model"}).Append(out)
	}
	if m.skip && typ != 'S' {
		return out
	}
	fail := func() []byte {
		m.skip = true
		return (&wire.Error{Code: "XX000", Message: "model"}).Append(out)
	}
	switch typ {
	case 'S':
		m.skip = false
		clear(m.portals)
		if len(body) > 0 {
			out = (&wire.Error{Code: wire.CodeProtocolViolation, Message: "model"}).Append(out)
		}
		return wire.AppendReadyForQuery(out, 'I')
	case 'Q':
		clear(m.portals)
		delete(m.stmts, "")
		q, _, ok := wire.CString(body)
		switch {
		case !ok || strings.HasPrefix(q, "!"):
			out = (&wire.Error{Code: "42601", Message: "model"}).Append(out)
		case q == "DISCARD ALL" || q == "DEALLOCATE ALL":
			clear(m.stmts)
			out = wire.AppendMessage(out, 'C', append([]byte(q), 0))
		default:
			out = wire.AppendMessage(out, 'C', []byte("SELECT 1\x00"))
		}
		return wire.AppendReadyForQuery(out, 'I')
	case 'F':
		out = wire.AppendMessage(out, 'V', []byte{0xff, 0xff, 0xff, 0xff})
		return wire.AppendReadyForQuery(out, 'I')
	case 'P':
		name, rest, ok1 := wire.CString(body)
		query, rest, ok2 := wire.CString(rest)
		n, rest, ok3 := wire.Uint16(rest)
		if !ok1 || !ok2 || !ok3 || len(rest) != 4*int(n) {
			return fail()
		}
		if _, dup := m.stmts[name]; dup && name != "" {
			return fail()
		}
		if strings.HasPrefix(query, "!") {
			return fail()
		}
		m.stmts[name] = query
		return wire.AppendMessage(out, '1', nil)
	case 'B':
		portal, rest, ok1 := wire.CString(body)
		stmt, _, ok2 := wire.CString(rest)
		if _, have := m.stmts[stmt]; !ok1 || !ok2 || !have {
			return fail()
		}
		m.portals[portal] = true
		return wire.AppendMessage(out, '2', nil)
	case 'D', 'C':
		if len(body) < 1 {
			return fail()
		}
		name, rest, ok := wire.CString(body[1:])
		if !ok || len(rest) != 0 {
			return fail()
		}
		kind := body[0]
		if kind != 'S' && kind != 'P' {
			return fail()
		}
		if typ == 'C' {
			if kind == 'S' {
				delete(m.stmts, name)
			} else {
				delete(m.portals, name)
			}
			return wire.AppendMessage(out, '3', nil)
		}
		if kind == 'S' {
			if _, have := m.stmts[name]; !have {
				return fail()
			}
			out = wire.AppendMessage(out, 't', []byte{0, 0})
			return wire.AppendMessage(out, 'n', nil)
		}
		if !m.portals[name] {
			return fail()
		}
		return wire.AppendMessage(out, 'n', nil)
	case 'E':
		portal, rest, ok := wire.CString(body)
		if !ok || len(rest) != 4 || !m.portals[portal] {
			return fail()
		}
		return wire.AppendMessage(out, 'C', []byte("SELECT 0\x00"))
	case 'H':
		if len(body) > 0 {
			return fail()
		}
	}
	// Flush; COPY messages outside a COPY are ignored.
	return out
}

// serveAll answers a stream of whole messages.
func (m *modelServer) serveAll(stream []byte) []byte {
	var out []byte
	for len(stream) > 0 {
		typ, body, rest := splitMessage(stream)
		out = m.serve(out, typ, body)
		stream = rest
	}
	return out
}

// splitMessage splits the first whole message off b, which holds only
// whole messages.
func splitMessage(b []byte) (typ byte, body, rest []byte) {
	n, _, _ := wire.Uint32(b[1:])
	return b[0], b[5 : 1+n], b[1+n:]
}

// frames checks that b is a sequence of whole messages and returns them.
func frames(b []byte) ([][]byte, error) {
	var msgs [][]byte
	for len(b) > 0 {
		if len(b) < 5 {
			return nil, fmt.Errorf("%d bytes left, less than a header", len(b))
		}
		n, _, _ := wire.Uint32(b[1:])
		if n < 4 || int64(n) > int64(len(b)-1) {
			return nil, fmt.Errorf("message %q: length %d with %d bytes left", b[0], n, len(b)-1)
		}
		msgs = append(msgs, b[:1+n])
		b = b[1+n:]
	}
	return msgs, nil
}
