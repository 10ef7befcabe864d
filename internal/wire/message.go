package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxStartupLen bounds startup packets (SSLRequest, StartupMessage,
// CancelRequest), as PostgreSQL does.
const MaxStartupLen = 10000

// Protocol codes carried in the first packet of a connection.
const (
	SSLRequestCode    = 80877103
	GSSENCRequestCode = 80877104
	CancelRequestCode = 80877102
)

// ErrTooLong reports a message longer than the caller allows.
var ErrTooLong = errors.New("message too long")

// FormatError reports bytes that break the protocol's framing, as opposed
// to a connection that failed.
type FormatError struct{ Msg string }

func (e *FormatError) Error() string { return e.Msg }

// ReadStartup reads one untyped startup packet (length-prefixed) into buf,
// growing it up to MaxStartupLen. It returns the protocol code and the bytes
// after it; body aliases buf.
func ReadStartup(r io.Reader, buf []byte) (code uint32, body []byte, out []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return 0, nil, buf, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:4]))
	if n < 8 || n > MaxStartupLen {
		return 0, nil, buf, &FormatError{Msg: fmt.Sprintf("invalid startup packet length %d", n)}
	}
	if _, err := io.ReadFull(r, hdr[4:8]); err != nil {
		return 0, nil, buf, unexpected(err)
	}
	code = binary.BigEndian.Uint32(hdr[4:8])
	buf = grow(buf, n-8)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, buf, unexpected(err)
	}
	return code, buf, buf, nil
}

// ReadMessage reads one typed message (1-byte type, 4-byte length, body)
// into buf, refusing bodies longer than max before reading them. It returns
// the type and body; body aliases the returned buffer, which the caller
// should keep for the next call.
func ReadMessage(r *bufio.Reader, buf []byte, max int) (typ byte, body []byte, out []byte, err error) {
	hdr, err := r.Peek(5)
	if err != nil {
		if len(hdr) > 0 {
			err = unexpected(err)
		}
		return 0, nil, buf, err
	}
	typ = hdr[0]
	n := int(binary.BigEndian.Uint32(hdr[1:5]))
	if n < 4 {
		return 0, nil, buf, &FormatError{Msg: fmt.Sprintf("invalid length %d for message %q", n, typ)}
	}
	if n-4 > max {
		return 0, nil, buf, fmt.Errorf("message %q of %d bytes: %w", typ, n-4, ErrTooLong)
	}
	r.Discard(5)
	buf = grow(buf, n-4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, buf, unexpected(err)
	}
	return typ, buf, buf, nil
}

func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n)
	}
	return buf[:n]
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Append helpers build small messages without pgproto3's interface calls.

// AppendHeader starts a message of type typ; finish it with Finish.
func AppendHeader(dst []byte, typ byte) ([]byte, int) {
	start := len(dst)
	return append(dst, typ, 0, 0, 0, 0), start
}

// Finish writes the length of the message begun at start.
func Finish(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-1))
	return dst
}

// AppendQuery appends a simple-protocol Query message.
func AppendQuery(dst []byte, sql string) []byte {
	dst, s := AppendHeader(dst, 'Q')
	dst = append(dst, sql...)
	dst = append(dst, 0)
	return Finish(dst, s)
}

// AppendParameterStatus appends a ParameterStatus message.
func AppendParameterStatus(dst []byte, name, value string) []byte {
	dst, s := AppendHeader(dst, 'S')
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = append(dst, value...)
	dst = append(dst, 0)
	return Finish(dst, s)
}

// ParseParameterStatus reads the name and value of a ParameterStatus
// body; ok is false when either is not NUL-terminated.
func ParseParameterStatus(body []byte) (name, value string, ok bool) {
	name, rest, ok := CString(body)
	if !ok {
		return "", "", false
	}
	value, _, ok = CString(rest)
	return name, value, ok
}

// AppendReadyForQuery appends ReadyForQuery with the given status.
func AppendReadyForQuery(dst []byte, status byte) []byte {
	return append(dst, 'Z', 0, 0, 0, 5, status)
}

// AppendAuthOK appends AuthenticationOk.
func AppendAuthOK(dst []byte) []byte {
	return append(dst, 'R', 0, 0, 0, 8, 0, 0, 0, 0)
}

// AppendBackendKeyData appends BackendKeyData with a key of any length
// (4 bytes for protocol 3.0, up to 256 for 3.2).
func AppendBackendKeyData(dst []byte, pid uint32, secret []byte) []byte {
	dst, s := AppendHeader(dst, 'K')
	dst = binary.BigEndian.AppendUint32(dst, pid)
	dst = append(dst, secret...)
	return Finish(dst, s)
}

// AppendTerminate appends a Terminate message.
func AppendTerminate(dst []byte) []byte {
	return append(dst, 'X', 0, 0, 0, 4)
}

// CString splits a NUL-terminated string off the front of b.
func CString(b []byte) (s string, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", b, false
}
