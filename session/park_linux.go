package session

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// parkPoll is the epoll set parked sessions wait in.
type parkPoll struct {
	epfd int
	poke int // an eventfd that ends the wait when the engine stops
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
	return &parker{parkPoll: parkPoll{epfd: epfd, poke: poke}, parked: make(map[uint64]*txnSession)}, nil
}

// runParker waits for parked clients and ticks the nudges and timeouts,
// until the engine stops.
func (e *Engine) runParker() {
	defer e.wg.Done()
	p := e.parker
	defer unix.Close(p.poke)
	defer unix.Close(p.epfd)
	stop := context.AfterFunc(e.bg, func() { unix.Write(p.poke, []byte{1, 0, 0, 0, 0, 0, 0, 0}) })
	defer stop()
	events := make([]unix.EpollEvent, 256)
	var sessions []*txnSession
	mem := newMemReleaser()
	next := time.Now().Add(parkTick)
	for {
		wait := max(time.Until(next), 0)
		n, err := unix.EpollWait(p.epfd, events, int(wait.Milliseconds())+1)
		if e.bg.Err() != nil {
			return
		}
		if err != nil && err != unix.EINTR {
			e.log.Error("parked clients: epoll_wait failed; retrying", "err", err)
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
			sessions = e.tick(now, sessions[:0])
			if mem.tick() {
				e.releaseMemory()
			}
		}
	}
}

// park hands the session over. The caller's wait ended on the nudge's
// deadline, so TLS holds no whole record: anything the client sends next
// shows on the socket. The read buffer goes back to the pool. The caller
// must not touch the session afterwards: it may already be running again.
func (s *txnSession) park() {
	s.c.dropReader()
	p := s.e.parker
	rc, err := rawConn(s.c.Raw)
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

// wake carries a parked session on, on a new goroutine; it does nothing
// for a session that is not parked. Safe to call from any goroutine.
func (p *parker) wake(s *txnSession) {
	if p == nil || !p.take(s) {
		return
	}
	// Out of the epoll set before the session can park again. A closed
	// socket has left it already.
	if rc, err := rawConn(s.c.Raw); err == nil {
		rc.Control(func(fd uintptr) { unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
	go s.carry(true)
}
