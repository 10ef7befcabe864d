package session

import (
	"slices"
	"strings"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

// downLoop forwards srv's answers to the client while the client holds
// srv, and gives srv back when a ReadyForQuery ends the transaction with
// nothing more owed. It always reports on done.
func (s *txnSession) downLoop(srv *pool.Server, done chan<- downEnd) {
	bp := pumpBuffers.Get().(*[]byte)
	defer pumpBuffers.Put(bp)
	buf := *bp
	obs := &txnObserver{s: s, srv: srv}
	sc := wire.NewScanner(obs)
	rd := srv.Reader()
	carry := 0
	for {
		n, rerr := rd.Read(buf[carry:])
		m := carry + n
		if m > 0 {
			fwd, end, _ := sc.FeedDrop(buf[:m])
			if fwd > 0 {
				s.cfg.Stats.Sent.Add(uint64(fwd))
				if _, err := s.c.Conn.Write(buf[:fwd]); err != nil {
					s.lose(srv, nil) // the client is gone mid-answer
					done <- downEnd{released: true}
					return
				}
			}
			carry = copy(buf, buf[fwd:end])
			if obs.ready {
				obs.ready = false
				if s.releaseAtEnd(srv, sc.AtBoundary() && carry == 0) {
					done <- downEnd{released: true}
					return
				}
			}
		}
		if rerr != nil {
			s.mu.Lock()
			stopping := s.stopping || s.clock.ended() != nil
			s.mu.Unlock()
			if stopping {
				done <- downEnd{srv: srv, clean: sc.AtBoundary() && carry == 0}
				return
			}
			s.lose(srv, errServerGone())
			s.e.log.Warn("server connection lost", "client", s.c.Addr, "server", srv.Addr, "err", rerr)
			done <- downEnd{released: true}
			return
		}
	}
}

// releaseAtEnd gives srv back after a ReadyForQuery when the transaction
// is over and nothing more is owed. Under statement pooling, a
// transaction left open ends the session, as in PgBouncer.
func (s *txnSession) releaseAtEnd(srv *pool.Server, boundary bool) bool {
	s.mu.Lock()
	if s.srv != srv || s.stopping {
		s.mu.Unlock()
		return false
	}
	release := s.pending == 0 && !s.unsynced && boundary
	if release && srv.Status != 'I' {
		release = false
		if s.statement {
			s.clock.halt(errStatementTxn())
		}
	}
	if release {
		s.unlinkLocked()
	}
	s.clock.set(s.phaseLocked()) // idle, idle in a transaction, or ending
	s.mu.Unlock()
	if release {
		s.c.unlink()
		s.c.Quiet.Store(true)
		s.c.State.Store(int32(Idle))
		s.cfg.Pool.Release(srv, true)
	}
	return release
}

// lose drops srv after a failure; err, when set, ends the session.
func (s *txnSession) lose(srv *pool.Server, err *wire.Error) {
	s.mu.Lock()
	if s.srv == srv {
		s.unlinkLocked()
	}
	if err != nil {
		s.clock.halt(err) // wakes the session goroutine
	} else {
		s.clock.set(s.phaseLocked())
	}
	s.mu.Unlock()
	s.c.unlink()
	s.cfg.Pool.Release(srv, false)
}

func (s *txnSession) unlinkLocked() {
	s.srv, s.ss = nil, nil
	s.pending, s.unsynced = 0, false
	for s.q.len() > 0 {
		s.q.pop()
	}
	s.clock.endXact()
}

func errStatementTxn() *wire.Error {
	return wire.Fatal(wire.CodeFeatureNotSupported, "transaction blocks are not allowed in statement pooling mode")
}

// txnObserver follows the server's answers for a txnSession.
type txnObserver struct {
	s     *txnSession
	srv   *pool.Server
	ready bool // a ReadyForQuery went by
}

func (o *txnObserver) Header(typ byte, _ int) wire.Action {
	switch typ {
	case '1', '3':
		if o.s.answered(typ) {
			return wire.Drop
		}
		return wire.Pass
	case 'Z', 'S', 'E', 'C':
		return wire.Capture
	}
	return wire.Pass
}

func (o *txnObserver) Message(typ byte, body []byte) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch typ {
	case 'Z':
		if len(body) == 1 {
			o.srv.Status = body[0]
		}
		// Everything owed up to this ReadyForQuery is settled.
		for s.q.len() > 0 {
			if e := s.q.pop(); e.kind == 'Z' {
				break
			} else {
				s.void(e)
			}
		}
		if s.pending > 0 {
			s.pending--
		}
		if s.pending == 0 {
			s.cfg.Stats.Ended(o.srv.Status, s.qStart, s.xStart, time.Now().UnixNano())
			if o.srv.Status == 'I' {
				s.xStart = 0
			}
			s.clock.endQuery()
			if s.ss != nil && s.ss.prepared != nil {
				s.ss.prepared.unpin()
			}
			if s.statement && o.srv.Status != 'I' && !s.unsynced {
				// Decided before this ReadyForQuery reaches the client,
				// so that nothing it sends next reaches the server.
				s.clock.halt(errStatementTxn())
			}
		}
		o.ready = true
	case 'E':
		// After an error the server skips to the next Sync: what was
		// owed before it will never come.
		for s.q.len() > 0 && s.q.peek().kind != 'Z' {
			s.void(s.q.pop())
		}
	case 'S':
		name, value, ok := wire.ParseParameterStatus(body)
		if !ok {
			return
		}
		o.srv.SetParam(name, value)
		if s.ss != nil {
			s.ss.fp = "" // the server's settings moved
		}
		for _, t := range s.tracked {
			if strings.EqualFold(t, name) && s.params[t] != value {
				s.params[t] = value
				s.fpStale = true
			}
		}
	case 'C':
		tag, _, _ := wire.CString(body)
		switch tag {
		case "DISCARD ALL", "DEALLOCATE ALL":
			// The server dropped every prepared statement, pgbun's
			// included, and the client meant to drop its own.
			if s.ss != nil {
				if s.ss.prepared != nil {
					s.ss.prepared.clear()
				}
				s.ss.junk, s.ss.closing = nil, nil
				if tag == "DISCARD ALL" {
					clear(s.ss.applied)
					s.ss.fp = ""
				}
			}
			for name, e := range s.stmts {
				s.e.stmts.release(e)
				delete(s.stmts, name)
			}
		}
	}
}

// answered settles a ParseComplete or CloseComplete against what pgbun
// expects and reports whether the client must not see it.
func (s *txnSession) answered(kind byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.q.peek()
	if e == nil || e.kind != kind {
		return false // not one pgbun is tracking: let it through
	}
	x := s.q.pop()
	if x.stmt != nil {
		x.stmt.confirmed = true
	}
	if x.junk != "" && s.ss != nil {
		s.ss.junk = append(s.ss.junk, x.junk)
	}
	if x.unjunk != "" && s.ss != nil {
		s.ss.closing = slices.DeleteFunc(s.ss.closing, func(n string) bool { return n == x.unjunk })
		s.ss.junk = slices.DeleteFunc(s.ss.junk, func(n string) bool { return n == x.unjunk })
	}
	return x.drop
}

// void undoes what an expected answer that will never come would have
// confirmed: a statement not prepared after all, a client name that
// failed, a junk Close that did not run.
func (s *txnSession) void(e expect) {
	if e.stmt != nil && s.ss != nil && s.ss.prepared != nil && !e.stmt.confirmed {
		s.ss.prepared.remove(e.stmt)
	}
	if e.client != "" && s.stmts[e.client] == e.entry && e.entry != nil {
		delete(s.stmts, e.client)
		s.e.stmts.release(e.entry)
	}
	if e.unjunk != "" && e.drop && s.ss != nil {
		s.ss.closing = slices.DeleteFunc(s.ss.closing, func(n string) bool { return n == e.unjunk })
		s.ss.junk = append(s.ss.junk, e.unjunk)
	}
}
