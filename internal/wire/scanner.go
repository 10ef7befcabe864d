package wire

import (
	"encoding/binary"
	"errors"
	"io"
)

// MaxCapture bounds the bodies a Scanner hands to its Observer. Captured
// messages are small control messages (ReadyForQuery, ParameterStatus); a
// longer one is reported with a nil body.
const MaxCapture = 8192

// Action is an Observer's decision about a message whose header it saw.
type Action uint8

const (
	Pass    Action = iota // forward the message; its body is not needed
	Capture               // forward it and hand its body to Observer.Message
	Stop                  // do not forward it: the scan stops at its header
	// Drop removes the message from the stream. It is meant for small
	// messages pgbun itself caused (a ParseComplete for a Parse it
	// injected): the whole message must arrive in one Feed, so a message
	// split across reads is held back until it is complete, and Header is
	// asked about it again then. Bodiless messages are never held back.
	Drop
)

// Observer learns about messages as a Scanner walks a stream.
type Observer interface {
	// Header is called once per message, when its 5-byte header is
	// complete; bodyLen excludes the header.
	Header(typ byte, bodyLen int) Action
	// Message delivers the body of a message Header asked to Capture, once
	// all of it went by. body is only valid during the call; it is nil
	// when the body exceeded MaxCapture.
	Message(typ byte, body []byte)
}

// Scanner walks a stream of typed messages in place, without copying the
// bodies it does not capture. Not safe for concurrent use.
type Scanner struct {
	obs  Observer
	left int  // body bytes of the current message not yet seen
	typ  byte // type of the current message
	cap  bool // capturing the current message
	big  bool // the captured body exceeds MaxCapture
	body []byte
}

// NewScanner returns a Scanner reporting to obs.
func NewScanner(obs Observer) *Scanner {
	return &Scanner{obs: obs}
}

// AtBoundary reports whether the scan stands between two messages.
func (s *Scanner) AtBoundary() bool { return s.left == 0 }

// Feed scans p, the next bytes of the stream, and returns how many leading
// bytes may be forwarded: all of p, except an incomplete header at its end
// (to be fed again with more bytes behind it) or everything from the header
// of a message the Observer stopped at (stopped is then true and p may be
// fed again from that offset to resume). Feed never drops; see FeedDrop.
func (s *Scanner) Feed(p []byte) (n int, stopped bool) {
	n, _, stopped = s.FeedDrop(p)
	return n, stopped
}

// FeedDrop is Feed for observers that may Drop messages: dropped messages
// are cut out of p in place, so p[:n] is what to forward and p[n:end] what
// is left over (carry or stopped message); end <= len(p).
func (s *Scanner) FeedDrop(p []byte) (n, end int, stopped bool) {
	end = len(p)
	for n < end {
		if s.left > 0 {
			k := min(s.left, end-n)
			if s.cap && !s.big {
				s.body = append(s.body, p[n:n+k]...)
			}
			s.left -= k
			n += k
			if s.left == 0 {
				s.deliver(s.body)
			}
			continue
		}
		if end-n < 5 {
			return n, end, false
		}
		typ := p[n]
		bl := int(binary.BigEndian.Uint32(p[n+1:n+5])) - 4
		if bl < 0 {
			bl = 0 // a malformed length; the peer will reject it, we only keep framing sane
		}
		switch s.obs.Header(typ, bl) {
		case Stop:
			return n, end, true
		case Drop:
			if end-n < 5+bl {
				return n, end, false // hold the partial message back
			}
			copy(p[n:], p[n+5+bl:end])
			end -= 5 + bl
			continue
		case Capture:
			s.cap, s.big = true, bl > MaxCapture
		default:
			s.cap = false
		}
		s.typ = typ
		n += 5
		if bl == 0 {
			s.deliver(nil)
			continue
		}
		// Fast path: the whole body is in p, capture without copying.
		if s.cap && !s.big && end-n >= bl {
			s.obs.Message(typ, p[n:n+bl])
			s.cap = false
			n += bl
			continue
		}
		s.left = bl
		s.body = s.body[:0]
	}
	return n, end, false
}

func (s *Scanner) deliver(body []byte) {
	if !s.cap {
		return
	}
	s.cap = false
	if s.big {
		body = nil
	} else if body == nil {
		body = []byte{}
	}
	s.obs.Message(s.typ, body)
}

// PumpError tells which side of a Pump failed.
type PumpError struct {
	Write bool // false: reading the source failed
	Err   error
}

func (e *PumpError) Error() string {
	if e.Write {
		return "write: " + e.Err.Error()
	}
	return "read: " + e.Err.Error()
}

func (e *PumpError) Unwrap() error { return e.Err }

// IsWriteError reports whether err is a Pump failure on the writing side.
func IsWriteError(err error) bool {
	var pe *PumpError
	return errors.As(err, &pe) && pe.Write
}

// Pump copies messages from src to dst through s until reading or writing
// fails or the Observer stops at a message. Each read is written at once,
// so a batch of small messages costs one write. buf must hold at least 5
// bytes. rest holds what was read but not forwarded (it aliases buf): on
// Stop, the bytes from the stopped message on; after a read error, an
// incomplete header, if any.
func (s *Scanner) Pump(dst io.Writer, src io.Reader, buf []byte) (rest []byte, err error) {
	carry := 0
	for {
		m, rerr := src.Read(buf[carry:])
		m += carry
		if m > 0 {
			n, end, stopped := s.FeedDrop(buf[:m])
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return nil, &PumpError{Write: true, Err: werr}
				}
			}
			if stopped {
				return buf[n:end], nil
			}
			carry = copy(buf, buf[n:end])
		}
		if rerr != nil {
			return buf[:carry], &PumpError{Err: rerr}
		}
	}
}
