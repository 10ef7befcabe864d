//go:build !linux

package session

import (
	"errors"
	"fmt"
	"runtime"
)

// parkPoll is empty: this system has nothing for sessions to park in.
type parkPoll struct{}

// newParker reports that idle sessions cannot park on this system.
func newParker() (*parker, error) {
	return nil, fmt.Errorf("parking needs Linux's epoll, not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// runParker is never started here, since newParker always fails.
func (e *Engine) runParker() {
	e.wg.Done()
}

// park carries the session on at once, on a new goroutine, as Linux does
// when a session cannot be parked. Nothing asks a session to park here.
func (s *txnSession) park() {
	s.c.dropReader()
	go s.carry(true)
}

// wake carries a parked session on, on a new goroutine; it does nothing
// for a session that is not parked, which here is every session.
func (p *parker) wake(s *txnSession) {
	if p == nil || !p.take(s) {
		return
	}
	go s.carry(true)
}
