package session

import (
	"errors"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

// flushAt is how many bytes of client messages are gathered before they
// are written to the server even while more are buffered.
const flushAt = 32768

// txnSession serves one client in transaction or statement pooling: the
// client holds a server only from the first message of a transaction to
// the ReadyForQuery that ends it (statement pooling: that ends each
// statement). The session goroutine reads client messages, rewrites what
// prepared statements require and writes them to the linked server; a down
// goroutine per link forwards the server's answers and gives the server
// back at the end of the transaction. mu guards what both touch.
type txnSession struct {
	e           *Engine
	c           *Client
	cfg         *Config
	done        func(End) // called once when the session ends
	statement   bool
	maxPrepared int
	maxPacket   int
	tracked     []string

	in  []byte // the client message being handled
	out []byte // client messages not yet written to the server

	mu       sync.Mutex
	srv      *pool.Server
	ss       *serverState
	w        *pool.Server // the server s.out is for
	pending  int          // Query/Sync/FunctionCall sent and not answered
	unsynced bool         // extended-protocol messages sent since the last Sync
	q        expectQueue
	params   map[string]string     // the client's view of tracked parameters
	stmts    map[string]*stmtEntry // the client's named statements (made on the first)
	down     chan downEnd
	stopping bool   // the session is ending: the down goroutine must not act
	clock    *clock // timeouts, and why the session must end
	qStart   int64  // when the current round trip began (unix ns)
	xStart   int64  // when the current transaction began (unix ns, 0 = none)
	fp       string // the settings this client wants, as one comparable string
	fpStale  bool   // params changed since fp was computed

	// Parking (see park): the session goroutine is in its idle wait; the
	// parker saw it waiting at its last tick; the parker asked it to park.
	waiting, idleMark, parkReq bool
	parkID                     uint64 // the parker's key for it (under the parker's lock)
}

// downEnd is how a down goroutine finished.
type downEnd struct {
	released bool // the server went back to the pool at a transaction end
	clean    bool // stopped between messages, nothing owed (when not released)
	srv      *pool.Server
}

func newTxnSession(e *Engine, c *Client, cfg *Config, welcomeParams map[string]string, done func(End)) *txnSession {
	s := &txnSession{
		e: e, c: c, cfg: cfg, done: done,
		statement:   cfg.Settings.Mode == config.PoolStatement,
		maxPrepared: cfg.MaxPrepared,
		maxPacket:   cfg.MaxPacket,
		params:      make(map[string]string),
	}
	s.tracked = trackedParams // shared, never modified
	if len(cfg.Tracked) > 0 {
		s.tracked = append(slices.Clip(trackedParams), cfg.Tracked...)
	}
	s.fpStale = true
	s.clock = newClock(e, c, cfg)
	for _, name := range s.tracked {
		for k, v := range welcomeParams {
			if strings.EqualFold(k, name) {
				s.params[name] = v
			}
		}
	}
	return s
}

// start begins forwarding on the goroutine that called Run.
func (s *txnSession) start() {
	s.c.setWake(func() {
		s.clock.halt(s.c.Killed())
		s.c.wakeParked()
	})
	s.c.txn.Store(s)
	s.e.track(s)
	s.carry(false)
}

// carry forwards until the client leaves or the session must end, then
// ends the client; or until the session is parked, when another goroutine
// carries it on.
//
// resumed says the session comes back from parking: its read deadline is
// already the one its idle wait had, and must not be moved.
func (s *txnSession) carry(resumed bool) {
	defer func() {
		if r := recover(); r != nil {
			s.e.log.Error("panic serving client", "client", s.c.Addr, "panic", r, "stack", string(debug.Stack()))
			s.leave()
			s.c.setWake(nil)
			s.done(End{Reason: "internal error"})
		}
	}()
	end, parked := s.loop(resumed)
	if parked {
		return
	}
	s.leave()
	s.finish(&end)
	s.c.setWake(nil)
	s.done(end)
}

// leave takes the ending session out of the parker's sight.
func (s *txnSession) leave() {
	s.c.txn.Store(nil)
	s.e.untrack(s)
}

func (s *txnSession) loop(resumed bool) (End, bool) {
	for ; ; resumed = false {
		if !resumed {
			s.mu.Lock()
			s.clock.set(s.phaseLocked())
			s.mu.Unlock()
		}
		if f := s.clock.ended(); f != nil {
			return endFor(f), false
		}
		typ, body, err := s.readClient()
		if err == errParked {
			return End{}, true
		}
		if err != nil {
			if f := s.clock.expired(); f != nil && (isTimeout(err) || s.clock.ended() != nil) {
				return endFor(f), false
			}
			if errors.Is(err, wire.ErrTooLong) {
				return endTooLong(false), false
			}
			if s.c.Aborted() {
				return endAborted(false), false
			}
			return endClientGone(err, false), false
		}
		if typ == 'X' {
			return endClientClose(false), false
		}
		if err := s.handle(typ, body); err != nil {
			return endOf(err), false
		}
		if s.c.In.Buffered() == 0 || len(s.out) >= flushAt {
			if err := s.flush(); err != nil {
				return endServerGone(err), false
			}
		}
	}
}

// phaseLocked is the phase of the session for its timeouts: idle with
// no server, idle in a transaction when the server has answered
// everything and is not idle, busy otherwise.
func (s *txnSession) phaseLocked() phase {
	switch {
	case s.srv == nil:
		return phaseIdle
	case s.pending == 0 && !s.unsynced && s.srv.Status != 'I':
		return phaseInTxn
	}
	return phaseBusy
}

// fingerprintLocked returns the client's wanted settings (startup
// settings and tracked parameters) as one string, recomputed only after
// they change.
func (s *txnSession) fingerprintLocked() string {
	if !s.fpStale {
		return s.fp
	}
	keys := make([]string, 0, len(s.params)+len(s.c.Settings))
	for k := range s.c.Settings {
		if _, tracked := s.params[k]; !tracked {
			keys = append(keys, k)
		}
	}
	for k := range s.params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v, ok := s.params[k]
		if !ok {
			v = s.c.Settings[k]
		}
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(v)
		b.WriteByte(0)
	}
	s.fp, s.fpStale = b.String(), false
	return s.fp
}

// readClient reads one whole client message into s.in. It returns
// errParked when it has handed the idle session to another goroutine.
func (s *txnSession) readClient() (byte, []byte, error) {
	max := s.maxPacket
	if max <= 0 {
		max = 1<<31 - 1
	}
	if s.c.In == nil || s.c.In.Buffered() == 0 {
		// Between messages, usually between transactions: wait without
		// holding a read buffer.
		s.mu.Lock()
		s.waiting = true
		s.mu.Unlock()
		err := s.c.awaitInput()
		s.mu.Lock()
		s.waiting, s.idleMark = false, false
		park := s.parkReq
		if park {
			s.parkReq = false
			s.clock.rearm()
			park = isTimeout(err) && !s.c.lead.has && s.srv == nil && s.clock.ended() == nil
		}
		s.mu.Unlock()
		if park {
			s.park()
			return 0, nil, errParked
		}
		if err != nil {
			return 0, nil, err
		}
	}
	typ, body, buf, err := wire.ReadMessage(s.c.In, s.in, max)
	if cap(buf) > 1<<20 {
		buf = nil // do not keep a huge buffer for the rest of the session
	}
	s.in = buf
	return typ, body, err
}

// handle links a server when a transaction starts and queues the message.
func (s *txnSession) handle(typ byte, body []byte) error {
	s.mu.Lock()
	if f := s.clock.ended(); f != nil {
		// The session is ending (another goroutine decided while this
		// message was read): the message must not reach a server.
		s.mu.Unlock()
		return f
	}
	if s.srv == nil || (s.pending == 0 && !s.unsynced) {
		switch typ {
		case 'd', 'c', 'f', 'H':
			// COPY data after a failed COPY, or a Flush, with nothing in
			// flight: a server would ignore them too. They must not be
			// queued for a linked server either: nothing they add is
			// owed, so the ReadyForQuery just read may release the server
			// before they are written, and they would reach whichever
			// client has it next; and a Flush would leave the session
			// unsynced, holding the server until a Sync that may never
			// come.
			s.mu.Unlock()
			return nil
		}
	}
	if s.srv == nil {
		s.mu.Unlock()
		if err := s.link(); err != nil {
			return err
		}
		s.mu.Lock()
	}
	s.translate(typ, body)
	s.c.Prepared.Store(int32(len(s.stmts)))
	s.mu.Unlock()
	return nil
}

// flush writes queued messages to their server.
func (s *txnSession) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	n, err := s.w.Conn().Write(s.out)
	s.cfg.Stats.Recv.Add(uint64(n))
	s.out = s.out[:0]
	return err
}

// link gets a server for the transaction the client is starting, brings
// its settings in line with the client's, and starts forwarding answers.
func (s *txnSession) link() error {
	srv := s.cfg.Pool.TryAcquire()
	if srv == nil {
		s.c.WaitSince.Store(time.Now().UnixNano())
		s.c.State.Store(int32(Waiting))
		// The pool bounds the wait by query_wait_timeout; a client that
		// hangs up or is killed meanwhile leaves the queue at once.
		var err error
		if srv, err = s.c.Acquire(s.cfg.Pool); err != nil {
			return &endError{endNoServer(err)}
		}
	}
	ss := stateOf(srv)
	// A server last brought in line with these very settings, and not
	// changed since, needs no query.
	s.mu.Lock()
	fp := s.fingerprintLocked()
	var want map[string]string
	if ss.fp != fp {
		want = make(map[string]string, len(s.params)+len(s.c.Settings))
		for k, v := range s.c.Settings {
			want[k] = v
		}
		for k, v := range s.params {
			want[k] = v
		}
	}
	s.mu.Unlock()
	if want != nil {
		if err := ApplySettings(srv, want); err != nil {
			s.cfg.Pool.Release(srv, srv.Status == 'I')
			return err
		}
		ss.fp = fp
	}
	if ss.prepared == nil {
		ss.prepared = newStmtCache(s.maxPrepared, ss.gen)
	}
	done := make(chan downEnd, 1)
	s.mu.Lock()
	s.srv, s.ss, s.w, s.down = srv, ss, srv, done
	s.clock.startXact(func() { s.kill(srv, errTransactionTimeout()) })
	s.mu.Unlock()
	s.c.link(srv)
	s.c.Quiet.Store(false)
	s.c.State.Store(int32(Active))
	go s.downLoop(srv, done)
	return nil
}

// kill ends the session from a timer: the client gets err, the server is
// closed unless it is between transactions.
func (s *txnSession) kill(srv *pool.Server, err *wire.Error) {
	s.mu.Lock()
	if s.srv != srv || s.stopping || s.clock.ended() != nil {
		s.mu.Unlock()
		return
	}
	s.clock.halt(err)
	s.mu.Unlock()
}

// finish stops the down goroutine, if any, and gives its server back:
// clean when it stopped between messages with nothing owed (the pool
// then rolls back an open transaction), closed otherwise.
func (s *txnSession) finish(end *End) {
	s.mu.Lock()
	s.stopping = true
	srv, done := s.srv, s.down
	owed := s.pending > 0 || s.unsynced
	s.clock.stop()
	s.mu.Unlock()
	defer s.releaseStmts()
	if done == nil {
		return
	}
	if srv != nil {
		srv.Conn().SetReadDeadline(aLongTimeAgo)
	}
	d := <-done
	if d.released || d.srv == nil {
		return
	}
	d.srv.Conn().SetReadDeadline(timeZero)
	s.c.unlink()
	s.cfg.Pool.Release(d.srv, d.clean && !owed)
}

// releaseStmts drops the client's statement names at session end.
func (s *txnSession) releaseStmts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, e := range s.stmts {
		s.e.stmts.release(e)
		delete(s.stmts, name)
	}
}
