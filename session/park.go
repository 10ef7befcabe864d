package session

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// An idle transaction-pooled client needs nothing from pgbun until it
// sends its next message, yet a goroutine waiting for it keeps the stack
// it grew while forwarding (8 KiB, and as much again in garbage-collector
// headroom, since the collector paces itself on stacks too). Parking
// takes the session off every goroutine: its socket is registered with
// the parker's epoll set, and when the client speaks (or hangs up) a new
// goroutine carries the session on from its next message. A parked
// client costs its heap objects (the TLS state, the session) and nothing
// else.
//
// A goroutine cannot be taken out of its own blocking read, so the parker,
// once per parkTick, nudges sessions that have been waiting since its
// previous tick: it moves their read deadline into the past, their wait
// returns, and they park. Busy clients are never nudged and never parked,
// so parking costs them nothing. The same tick ends parked sessions whose
// client_idle_timeout has passed.
//
// Parking needs Linux's epoll. On other systems newParker reports it
// unavailable, the engine starts no parker, and idle sessions wait on
// their goroutines as busy ones do.
const parkTick = 500 * time.Millisecond

// errParked is readClient's answer once the session has been handed over.
var errParked = errors.New("session parked")

// parker holds the parked sessions; parkPoll, the system's means of
// waiting for them, is per operating system.
type parker struct {
	parkPoll

	mu     sync.Mutex
	seq    uint64
	parked map[uint64]*txnSession
}

// tick nudges sessions that have waited a whole tick and wakes parked ones
// whose client_idle_timeout has passed. sessions is scratch space.
func (e *Engine) tick(now time.Time, sessions []*txnSession) []*txnSession {
	e.mu.Lock()
	for s := range e.live {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()
	for i, s := range sessions {
		s.nudge()
		if s.idleExpired(now) {
			e.parker.wake(s)
		}
		sessions[i] = nil
	}
	return sessions[:0]
}

// nudge asks a session that has waited for its client since the parker's
// previous tick, with no server linked, to park.
func (s *txnSession) nudge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.waiting || s.srv != nil || s.clock.ended() != nil || s.stopping || s.parkReq {
		s.idleMark = false
		return
	}
	if !s.idleMark {
		s.idleMark = true
		return
	}
	s.idleMark = false
	s.parkReq = true
	s.clock.nudge()
}

// idleExpired says the session's client_idle_timeout has passed (a
// session that is not parked sees it on its own read deadline).
func (s *txnSession) idleExpired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv == nil && s.clock.idleOver(now)
}

// rawConn gives access to a connection's socket.
func rawConn(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	return sc.SyscallConn()
}

// count says how many sessions are parked.
func (p *parker) count() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}

// take removes s from the parked set; false when it was not there (never
// parked, or already woken).
func (p *parker) take(s *txnSession) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.parkID == 0 || p.parked[s.parkID] != s {
		return false
	}
	delete(p.parked, s.parkID)
	return true
}

// wakeParked carries the client's session on if it is parked, so that a
// kill or a close reaches it.
func (c *Client) wakeParked() {
	if s := c.txn.Load(); s != nil {
		s.e.parker.wake(s)
	}
}
