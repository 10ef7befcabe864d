package gateway

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

// pumpBufferSize is the chunk forwarded per read in each direction.
const pumpBufferSize = 16384

var pumpBuffers = sync.Pool{New: func() any { b := make([]byte, pumpBufferSize); return &b }}

// aLongTimeAgo is a deadline in the past, used to wake a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// timeZero clears a deadline.
var timeZero time.Time

// sessionEnd says how forwarding ended.
type sessionEnd struct {
	clean  bool        // the server is between messages with nothing in flight
	err    *wire.Error // to send the client before closing, if any
	reason string      // for the disconnect log line
}

// fromClient watches client→server traffic: it counts the messages the
// server answers with ReadyForQuery and stops at Terminate or at a
// message longer than max_packet_size.
type fromClient struct {
	pending *atomic.Int32
	max     int
	tooBig  bool
}

func (o *fromClient) Header(typ byte, n int) wire.Action {
	if o.max > 0 && n > o.max {
		o.tooBig = true
		return wire.Stop
	}
	switch typ {
	case 'X':
		return wire.Stop
	case 'Q', 'S', 'F': // Query, Sync, FunctionCall: one ReadyForQuery each
		o.pending.Add(1)
	}
	return wire.Pass
}

func (o *fromClient) Message(byte, []byte) {}

// fromServer watches server→client traffic: ReadyForQuery (transaction
// status, answered requests) and ParameterStatus (the server's settings).
type fromServer struct {
	srv     *pool.Server
	pending *atomic.Int32
}

func (o *fromServer) Header(typ byte, _ int) wire.Action {
	if typ == 'Z' || typ == 'S' {
		return wire.Capture
	}
	return wire.Pass
}

func (o *fromServer) Message(typ byte, body []byte) {
	switch typ {
	case 'Z':
		if len(body) == 1 {
			o.srv.Status = body[0]
		}
		o.pending.Add(-1)
	case 'S':
		if name, rest, ok := wire.CString(body); ok {
			if value, _, ok := wire.CString(rest); ok {
				o.srv.SetParam(name, value)
			}
		}
	}
}

// forward relays bytes between c and srv (session pooling) until one side
// ends. Client to server runs on this goroutine, server to client on
// another; whichever ends first wakes the other through a past read
// deadline, and nothing else writes to either connection until both have
// stopped.
func (g *Gateway) forward(c *client, st *state, srv *pool.Server) sessionEnd {
	c.link(srv)
	var pending atomic.Int32
	up := &fromClient{pending: &pending, max: st.cfg.General.MaxPacketSize}
	upScan := wire.NewScanner(up)
	downScan := wire.NewScanner(&fromServer{srv: srv, pending: &pending})
	upBuf, downBuf := pumpBuffers.Get().(*[]byte), pumpBuffers.Get().(*[]byte)
	defer pumpBuffers.Put(upBuf)
	defer pumpBuffers.Put(downBuf)

	var stopping atomic.Bool
	type result struct {
		rest []byte
		err  error
	}
	downDone := make(chan result, 1)
	go func() {
		rest, err := downScan.Pump(c.conn, srv.Reader(), *downBuf)
		if !stopping.Load() {
			c.raw.SetReadDeadline(aLongTimeAgo) // wake the client reader
		}
		downDone <- result{rest, err}
	}()
	upRest, upErr := upScan.Pump(srv.Conn(), c.br, *upBuf)
	stopping.Store(true)
	srv.Conn().SetReadDeadline(aLongTimeAgo)
	down := <-downDone
	srv.Conn().SetReadDeadline(timeZero)

	// Decide what happened, the first cause winning.
	serverQuiet := pending.Load() == 0 && downScan.AtBoundary() && len(down.rest) == 0 && isTimeout(down.err)
	switch {
	case upErr == nil && up.tooBig:
		return sessionEnd{clean: serverQuiet, reason: "message longer than max_packet_size",
			err: wire.Fatal(wire.CodeProtocolViolation, "message too long (max_packet_size)")}
	case upErr == nil && len(upRest) > 0 && upRest[0] == 'X':
		return sessionEnd{clean: serverQuiet, reason: "client close request"}
	case down.err != nil && !isTimeout(down.err) && !wire.IsWriteError(down.err):
		return sessionEnd{reason: "server closed the connection: " + errText(down.err),
			err: wire.Fatal(wire.CodeConnectionFailure, "server closed the connection unexpectedly")}
	case down.err != nil && wire.IsWriteError(down.err):
		return sessionEnd{reason: "client went away: " + errText(down.err)}
	case wire.IsWriteError(upErr):
		return sessionEnd{reason: "server closed the connection: " + errText(upErr),
			err: wire.Fatal(wire.CodeConnectionFailure, "server closed the connection unexpectedly")}
	case c.wasAborted():
		return sessionEnd{clean: serverQuiet, reason: "closed by pgbun"}
	default:
		return sessionEnd{clean: serverQuiet && len(upRest) == 0, reason: "client went away: " + errText(upErr)}
	}
}

func errText(err error) string {
	var pe *wire.PumpError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, io.EOF) {
		return "EOF"
	}
	if err == nil {
		return "none"
	}
	return err.Error()
}
