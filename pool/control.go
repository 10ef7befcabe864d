package pool

import (
	"context"
	"time"
)

// Pause stops handing out servers (PAUSE): clients queue, idle servers
// are closed now and servers in use when they come back. Resume undoes it.
func (p *Pool) Pause() {
	p.mu.Lock()
	p.paused = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, s := range idle {
		s.Close()
	}
}

// Resume hands out servers again, first to the clients that queued.
func (p *Pool) Resume() {
	p.mu.Lock()
	p.paused = false
	p.grantNextLocked()
	p.mu.Unlock()
}

// Paused reports whether the pool is paused.
func (p *Pool) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Busy reports servers in use or being opened.
func (p *Pool) Busy() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active + p.opening
}

// WaitQuiet waits until no server is in use or opening (a paused pool then
// holds no server at all), or ctx ends.
func (p *Pool) WaitQuiet(ctx context.Context) error {
	return poll(ctx, func() bool { return p.Busy() == 0 })
}

// Recycle closes every server at its next release (RECONNECT, or a
// changed database definition), idle ones now; WaitRecycled waits for the
// last of them.
func (p *Pool) Recycle() {
	p.mu.Lock()
	p.gen++
	p.oldOut = p.active // those opening now count in when they arrive
	idle := p.idle
	p.idle = nil
	p.grantNextLocked()
	p.mu.Unlock()
	for _, s := range idle {
		s.Close()
	}
}

// Reconfigure replaces how the pool makes servers and its settings; the
// servers made the old way are recycled.
func (p *Pool) Reconfigure(d *Dialer, set Settings, creds func() Authenticator) {
	p.mu.Lock()
	p.dialer, p.creds = d, creds
	p.mu.Unlock()
	p.Configure(set)
	p.Recycle()
}

// WaitRecycled waits until no server older than the last Recycle is open
// (WAIT_CLOSE), or ctx ends.
func (p *Pool) WaitRecycled(ctx context.Context) error {
	return poll(ctx, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.oldOut <= 0
	})
}

// Servers describes the idle servers (for SHOW SERVERS; servers in use
// are described by whoever holds them).
func (p *Pool) Servers() []*Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*Server(nil), p.idle...)
}

// pollInterval is how often the waits above look again.
const pollInterval = 20 * time.Millisecond

func poll(ctx context.Context, done func() bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Outdated reports whether s was made before its pool's last Recycle
// (RECONNECT, a changed database definition): it is closed when released.
func (s *Server) Outdated() bool {
	if s.pool == nil {
		return false
	}
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	return s.gen != s.pool.gen
}
