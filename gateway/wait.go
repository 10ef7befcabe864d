package gateway

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/pool"
)

// hangupCheck is how often a client waiting for a server is checked for
// having hung up. Nobody reads its socket meanwhile, so without the check
// a client that gave up would keep its place in the queue until
// query_wait_timeout, and for ever with none.
const hangupCheck = 100 * time.Millisecond

// errKilled ends a wait for a server when the client is killed or aborted
// (KILL_CLIENT, a reload's revocation, shutdown): the error the client
// gets is the one kill recorded.
var errKilled = errors.New("client killed while waiting for a server")

// acquire gets c a server from p, waiting in line when none is free. The
// wait ends early, with errClientGone, when the client hangs up, and with
// errKilled when it is killed or aborted or the gateway closes; the pool
// bounds it by query_wait_timeout.
func (g *Gateway) acquire(c *client, p *pool.Pool) (*pool.Server, error) {
	ctx, cancel := context.WithCancelCause(g.bg)
	defer cancel(nil)
	if !c.setWaitCancel(cancel) {
		return nil, errKilled
	}
	defer c.setWaitCancel(nil)
	watching := make(chan struct{})
	defer close(watching)
	go watchHangup(c, watching, cancel)

	srv, err := p.Acquire(ctx)
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		if srv != nil {
			p.Release(srv, srv.Status == 'I') // granted as the wait ended
		}
		if errors.Is(cause, context.Canceled) {
			cause = errKilled // the gateway closed
		}
		return nil, cause
	}
	return srv, err
}

// watchHangup cancels the wait with errClientGone once c's peer has closed
// its end, checking every hangupCheck until done is closed.
func watchHangup(c *client, done <-chan struct{}, cancel context.CancelCauseFunc) {
	sc, ok := c.raw.(syscall.Conn)
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
				cancel(errClientGone)
				return
			}
		}
	}
}

// setWaitCancel registers how to end the client's current wait for a
// server (nil clears). It reports false, registering nothing, when the
// client was already killed or aborted.
func (c *client) setWaitCancel(f context.CancelCauseFunc) bool {
	c.killMu.Lock()
	defer c.killMu.Unlock()
	if f != nil && (c.killErr != nil || c.wasAborted()) {
		return false
	}
	c.waitCancel = f
	return true
}

// endWait ends the client's wait for a server, if it is waiting.
func (c *client) endWait() {
	c.killMu.Lock()
	f := c.waitCancel
	c.killMu.Unlock()
	if f != nil {
		f(errKilled)
	}
}
