package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
const parkTick = 500 * time.Millisecond

// errParked is readClient's answer once the session has been handed over.
var errParked = errors.New("session parked")

// parker owns the epoll set parked sessions wait in.
type parker struct {
	epfd int
	poke int // an eventfd that ends the wait when the gateway stops

	mu     sync.Mutex
	seq    uint64
	parked map[uint64]*txnSession
}

// parkerStop is the event data of the poke eventfd; sessions get 1, 2, ...
const parkerStop = 0

func newParker() (*parker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	poke, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, poke, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(poke)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return &parker{epfd: epfd, poke: poke, parked: make(map[uint64]*txnSession)}, nil
}

// runParker waits for parked clients and ticks the nudges and timeouts,
// until the gateway stops.
func (g *Gateway) runParker() {
	defer g.wg.Done()
	p := g.parker
	defer unix.Close(p.poke)
	defer unix.Close(p.epfd)
	stop := context.AfterFunc(g.bg, func() { unix.Write(p.poke, []byte{1, 0, 0, 0, 0, 0, 0, 0}) })
	defer stop()
	events := make([]unix.EpollEvent, 256)
	var sessions []*txnSession
	mem := newMemReleaser()
	next := time.Now().Add(parkTick)
	for {
		wait := max(time.Until(next), 0)
		n, err := unix.EpollWait(p.epfd, events, int(wait.Milliseconds())+1)
		if g.bg.Err() != nil {
			return
		}
		if err != nil && err != unix.EINTR {
			g.log.Error("parked clients: epoll_wait failed; retrying", "err", err)
			time.Sleep(parkTick)
		}
		for _, ev := range events[:max(n, 0)] {
			if id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32; id != parkerStop {
				p.mu.Lock()
				s := p.parked[id]
				p.mu.Unlock()
				if s != nil {
					p.wake(s)
				}
			}
		}
		if now := time.Now(); !now.Before(next) {
			next = now.Add(parkTick)
			sessions = g.tick(now, sessions[:0])
			if mem.tick() {
				g.releaseMemory()
			}
		}
	}
}

// tick nudges sessions that have waited a whole tick and wakes parked ones
// whose client_idle_timeout has passed. sessions is scratch space.
func (g *Gateway) tick(now time.Time, sessions []*txnSession) []*txnSession {
	g.mu.Lock()
	for c := range g.clients {
		if s := c.txn.Load(); s != nil {
			sessions = append(sessions, s)
		}
	}
	g.mu.Unlock()
	for i, s := range sessions {
		s.nudge()
		if s.idleExpired(now) {
			g.parker.wake(s)
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
	if !s.waiting || s.srv != nil || s.fatal != nil || s.stopping || s.parkReq {
		s.idleMark = false
		return
	}
	if !s.idleMark {
		s.idleMark = true
		return
	}
	s.idleMark = false
	s.parkReq = true
	s.c.raw.SetReadDeadline(aLongTimeAgo)
}

// idleExpired says the session's client_idle_timeout has passed (a
// session that is not parked sees it on its own read deadline).
func (s *txnSession) idleExpired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timed && s.srv == nil && s.rt.settings.ClientIdleTimeout > 0 && !now.Before(s.idleEnd)
}

// rearmLocked puts back the read deadline that a nudge moved: the idle
// wait keeps the end it had.
func (s *txnSession) rearmLocked() {
	switch {
	case s.fatal != nil:
		s.c.raw.SetReadDeadline(aLongTimeAgo)
	case !s.timed:
		s.c.raw.SetReadDeadline(timeZero)
	case s.srv == nil && s.rt.settings.ClientIdleTimeout > 0:
		s.c.raw.SetReadDeadline(s.idleEnd)
	default:
		s.armClientLocked()
	}
}

// park hands the session over. The caller's wait ended on the nudge's
// deadline, so TLS holds no whole record: anything the client sends next
// shows on the socket. The read buffer goes back to the pool. The caller
// must not touch the session afterwards: it may already be running again.
func (s *txnSession) park() {
	s.c.dropReader()
	p := s.g.parker
	rc, err := rawConn(s.c.raw)
	if p == nil || err != nil {
		go s.carry(true) // cannot park: wait on a goroutine after all
		return
	}
	p.mu.Lock()
	p.seq++
	id := p.seq
	s.parkID = id
	p.parked[id] = s
	p.mu.Unlock()
	var addErr error
	err = rc.Control(func(fd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
			Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		addErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err == nil && addErr == nil {
		return
	}
	// Not registered (the connection closed meanwhile, say): carry on at
	// once, unless a kill already did.
	if p.take(s) {
		go s.carry(true)
	}
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

// wake carries a parked session on, on a new goroutine; it does nothing
// for a session that is not parked. Safe to call from any goroutine.
func (p *parker) wake(s *txnSession) {
	if p == nil || !p.take(s) {
		return
	}
	// Out of the epoll set before the session can park again. A closed
	// socket has left it already.
	if rc, err := rawConn(s.c.raw); err == nil {
		rc.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
	go s.carry(true)
}

// wakeParked carries the client's session on if it is parked, so that a
// kill or a close reaches it.
func (c *client) wakeParked() {
	if s := c.txn.Load(); s != nil {
		s.g.parker.wake(s)
	}
}
