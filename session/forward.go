package session

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/stats"
)

// pumpBufferSize is the chunk forwarded per read in each direction.
const pumpBufferSize = 16384

var pumpBuffers = sync.Pool{New: func() any { b := make([]byte, pumpBufferSize); return &b }}

// fromClient watches client→server traffic: it counts the messages the
// server answers with ReadyForQuery and stops at Terminate or at a
// message longer than max_packet_size.
type fromClient struct {
	pending *atomic.Int32
	max     int
	tooBig  bool
	clock   *clock // nil when no timeout applies
	times   *roundTimes
	stats   *stats.Pool
	c       *Client
}

// roundTimes are when the current round trip and transaction began (unix
// nanoseconds, 0 = none), shared by the two directions of a session.
type roundTimes struct {
	query, xact atomic.Int64
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
		if o.pending.Add(1) == 1 {
			o.c.Quiet.Store(false)
			now := time.Now().UnixNano()
			o.times.query.Store(now)
			o.times.xact.CompareAndSwap(0, now)
			o.c.RequestTime.Store(now)
			if o.clock != nil {
				o.clock.busy()
			}
		}
	case 'P':
		o.stats.ClientParses.Add(1)
		o.stats.ServerParses.Add(1)
	case 'B':
		o.stats.Binds.Add(1)
	}
	return wire.Pass
}

func (o *fromClient) Message(byte, []byte) {}

// fromServer watches server→client traffic: ReadyForQuery (transaction
// status, answered requests) and ParameterStatus (the server's settings).
type fromServer struct {
	c         *Client
	fastClose bool // server_fast_close: end the session when the server is outdated
	srv       *pool.Server
	pending   *atomic.Int32
	clock     *clock
	times     *roundTimes
	stats     *stats.Pool
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
		if o.pending.Add(-1) == 0 {
			now := time.Now().UnixNano()
			o.c.Quiet.Store(o.srv.Status == 'I')
			o.stats.Ended(o.srv.Status, o.times.query.Load(), o.times.xact.Load(), now)
			if o.fastClose && o.srv.Status == 'I' && o.srv.Outdated() {
				// RECONNECT or a changed definition: with server_fast_close
				// the session ends at this transaction's end, not the client's.
				o.c.Kill(ErrFastClose())
			}
			if o.srv.Status == 'I' {
				o.times.xact.Store(0)
			}
			if o.clock != nil {
				o.clock.ready(o.srv.Status)
			}
		}
	case 'S':
		if name, value, ok := wire.ParseParameterStatus(body); ok {
			o.srv.SetParam(name, value)
		}
	}
}

// forward relays bytes between c and srv (session pooling) until one side
// ends. Client to server runs on this goroutine, server to client on
// another; whichever ends first wakes the other through a past read
// deadline, and nothing else writes to either connection until both have
// stopped.
func (e *Engine) forward(c *Client, cfg *Config, srv *pool.Server) End {
	c.link(srv)
	var pending atomic.Int32
	clk := newClock(e, c, cfg)
	defer clk.stop()
	c.setWake(func() { clk.halt(c.Killed()) })
	defer c.setWake(nil)
	// The observers consult the clock only when a timeout is set, so an
	// untimed session pays nothing per message.
	var timed *clock
	if clk.timed || cfg.Settings.QueryTimeout > 0 {
		timed = clk
		timed.ready(srv.Status)
	}
	times := new(roundTimes)
	up := &fromClient{pending: &pending, max: cfg.MaxPacket, clock: timed, times: times, stats: cfg.Stats, c: c}
	upScan := wire.NewScanner(up)
	fromSrv := &fromServer{c: c, srv: srv, pending: &pending, clock: timed, times: times, stats: cfg.Stats,
		fastClose: cfg.FastClose}
	downScan := wire.NewScanner(fromSrv)
	c.Quiet.Store(srv.Status == 'I')
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
		rest, err := downScan.Pump(countingWriter{c.Conn, &cfg.Stats.Sent}, srv.Reader(), *downBuf)
		if !stopping.Load() {
			clk.halt(nil) // wake the client reader
		}
		downDone <- result{rest, err}
	}()
	upRest, upErr := upScan.Pump(countingWriter{srv.Conn(), &cfg.Stats.Recv}, c.In, *upBuf)
	stopping.Store(true)
	srv.Conn().SetReadDeadline(aLongTimeAgo)
	down := <-downDone
	srv.Conn().SetReadDeadline(timeZero)

	// Decide what happened, the first cause winning.
	serverQuiet := pending.Load() == 0 && downScan.AtBoundary() && len(down.rest) == 0 && isTimeout(down.err)
	switch {
	case upErr == nil && up.tooBig:
		return endTooLong(serverQuiet)
	case upErr == nil && len(upRest) > 0 && upRest[0] == 'X':
		return endClientClose(serverQuiet)
	case down.err != nil && !isTimeout(down.err) && !wire.IsWriteError(down.err):
		return endServerGone(down.err)
	case down.err != nil && wire.IsWriteError(down.err):
		return endClientGone(down.err, false)
	case wire.IsWriteError(upErr):
		return endServerGone(upErr)
	case c.Killed() != nil:
		return End{clean: serverQuiet, Reason: c.Killed().Message, Err: c.Killed()}
	case c.Aborted():
		return endAborted(serverQuiet)
	case isTimeout(upErr) && clk.expired() != nil:
		end := endFor(clk.expired())
		end.clean = serverQuiet
		return end
	default:
		return endClientGone(upErr, serverQuiet && len(upRest) == 0)
	}
}

// busy: the client sent a query; no idle timeout while it runs.
func (k *clock) busy() {
	k.set(phaseBusy)
	k.startQuery()
}

// ready: the server answered everything; the client is idle, in or out
// of a transaction.
func (k *clock) ready(status byte) {
	k.endQuery()
	if status == 'I' {
		k.set(phaseIdle)
	} else {
		k.set(phaseInTxn)
	}
}
