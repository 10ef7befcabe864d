package session

import (
	"context"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/pool"
)

// hangupCheck is how often a client waiting for a server is checked for
// having hung up. Nobody reads its socket meanwhile, so without the check
// a client that gave up would keep its place in the queue until
// query_wait_timeout, and for ever with none.
const hangupCheck = 100 * time.Millisecond

// Acquire gets c a server from p, waiting in line when none is free. The
// wait ends early, with ErrClientGone, when the client hangs up, and with
// ErrKilled when it is killed or aborted (closing the gateway aborts every
// client); the pool bounds it by query_wait_timeout.
func (c *Client) Acquire(p *pool.Pool) (*pool.Server, error) {
	watching := make(chan struct{})
	defer close(watching)
	go watchHangup(c, watching)

	srv, err := p.Acquire(c.ctx)
	if c.ctx.Err() != nil {
		if srv != nil {
			p.Release(srv, srv.Status == 'I') // granted as the wait ended
		}
		return nil, context.Cause(c.ctx)
	}
	return srv, err
}

// watchHangup cancels c's context with ErrClientGone once its peer has
// closed its end, checking every hangupCheck until done is closed.
func watchHangup(c *Client, done <-chan struct{}) {
	sc, ok := c.Raw.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	t := time.NewTicker(hangupCheck)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if peerClosed(rc) {
				c.cancel(ErrClientGone)
				return
			}
		}
	}
}
