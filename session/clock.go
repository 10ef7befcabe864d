package session

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
)

// aLongTimeAgo is a deadline in the past, used to wake a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// timeZero clears a deadline.
var timeZero time.Time

// clock applies a session's timeouts, in both pooling modes, and is the
// only way anything wakes the goroutine reading the session's client.
//
// The reader waits on the client's read deadline, which the clock sets
// for the phase the session is in: client_idle_timeout while the client
// has no transaction open, idle_transaction_timeout while it has one and
// nothing is in flight, none while a query runs. query_timeout and
// transaction_timeout are timers. Whoever must stop the reader (a kill,
// transaction_timeout, a lost server, the other forwarding direction
// ending, the parker's nudge) records why under the clock's lock and
// moves the deadline into the past; once halted, no later phase change
// can move it back. When the read fails on its deadline, expired tells the
// reader why: the recorded error, or the idle timeout of its phase.
//
// Lock order: a session's own lock, then the clock's.
type clock struct {
	c      *Client
	ps     *config.PoolSettings
	timed  bool          // an idle timeout applies: the read deadline follows the phase
	cancel time.Duration // bounds the cancel query_timeout sends
	log    *slog.Logger

	mu      sync.Mutex
	phase   phase
	end     *wire.Error // why the session must end; the first reason wins
	halted  bool        // the reader must return for good
	nudged  bool        // the parker asked the reader to return; rearm undoes it
	idleEnd time.Time   // when client_idle_timeout ends the present idle wait
	query   *time.Timer // query_timeout
	xact    *time.Timer // transaction_timeout
}

// phase is what a session is doing, as its timeouts see it.
type phase uint8

const (
	phaseIdle  phase = iota // no transaction open, nothing in flight
	phaseInTxn              // a transaction open, nothing in flight
	phaseBusy               // something in flight: no idle timeout
)

func newClock(e *Engine, c *Client, cfg *Config) *clock {
	ps := &cfg.Settings
	return &clock{
		c: c, ps: ps, cancel: cfg.CancelWait, log: e.log,
		timed: ps.ClientIdleTimeout > 0 || ps.IdleTransactionTimeout > 0,
	}
}

// set moves the session to phase p and arms the read deadline for it.
func (k *clock) set(p phase) {
	k.mu.Lock()
	k.phase = p
	k.armLocked()
	k.mu.Unlock()
}

func (k *clock) armLocked() {
	var d time.Duration
	switch {
	case k.halted || k.nudged:
		k.c.Raw.SetReadDeadline(aLongTimeAgo)
		return
	case !k.timed:
		return // no timeout: the deadline stays cleared
	case k.phase == phaseIdle:
		if d = k.ps.ClientIdleTimeout; d > 0 {
			k.idleEnd = time.Now().Add(d)
			k.c.Raw.SetReadDeadline(k.idleEnd)
			return
		}
	case k.phase == phaseInTxn:
		d = k.ps.IdleTransactionTimeout
	}
	if d > 0 {
		k.c.Raw.SetReadDeadline(time.Now().Add(d))
	} else {
		k.c.Raw.SetReadDeadline(timeZero)
	}
}

// halt wakes the reader for good; err, when set and no reason came
// first, is why the session ends and what its client is told.
func (k *clock) halt(err *wire.Error) {
	k.mu.Lock()
	if k.end == nil {
		k.end = err
	}
	k.halted = true
	k.c.Raw.SetReadDeadline(aLongTimeAgo)
	k.mu.Unlock()
}

// ended returns the reason halt recorded, or nil.
func (k *clock) ended() *wire.Error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.end
}

// nudge makes the reader return once, so that the idle session parks.
func (k *clock) nudge() {
	k.mu.Lock()
	k.nudged = true
	k.c.Raw.SetReadDeadline(aLongTimeAgo)
	k.mu.Unlock()
}

// rearm undoes a nudge: an idle wait keeps the end it had.
func (k *clock) rearm() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.nudged = false
	switch {
	case k.halted:
		k.c.Raw.SetReadDeadline(aLongTimeAgo)
	case !k.timed:
		k.c.Raw.SetReadDeadline(timeZero)
	case k.phase == phaseIdle && k.ps.ClientIdleTimeout > 0:
		k.c.Raw.SetReadDeadline(k.idleEnd)
	default:
		k.armLocked()
	}
}

// expired says why the reader's deadline passed: the reason the session
// was halted with, or the idle timeout of its phase; nil when neither
// (a nudge, a halt without a reason, a query running).
func (k *clock) expired() *wire.Error {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case k.end != nil:
		return k.end
	case k.halted || k.nudged:
		return nil
	case k.phase == phaseIdle && k.ps.ClientIdleTimeout > 0:
		return errClientIdle()
	case k.phase == phaseInTxn && k.ps.IdleTransactionTimeout > 0:
		return errIdleInTransaction()
	}
	return nil
}

// idleOver says client_idle_timeout has ended the present idle wait (a
// parked session has no deadline to see it on).
func (k *clock) idleOver(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.timed && k.phase == phaseIdle && k.ps.ClientIdleTimeout > 0 && !now.Before(k.idleEnd)
}

// startQuery starts query_timeout for a round trip, unless one runs.
func (k *clock) startQuery() {
	if k.ps.QueryTimeout <= 0 {
		return
	}
	k.mu.Lock()
	if k.query == nil && !k.halted {
		k.query = time.AfterFunc(k.ps.QueryTimeout, k.cancelQuery)
	}
	k.mu.Unlock()
}

// endQuery stops query_timeout: the round trip was answered.
func (k *clock) endQuery() {
	k.mu.Lock()
	stopTimer(&k.query)
	k.mu.Unlock()
}

// startXact starts transaction_timeout, which calls expire.
func (k *clock) startXact(expire func()) {
	if k.ps.TransactionTimeout <= 0 {
		return
	}
	k.mu.Lock()
	stopTimer(&k.xact)
	k.xact = time.AfterFunc(k.ps.TransactionTimeout, expire)
	k.mu.Unlock()
}

// endXact stops transaction_timeout and query_timeout: the server was
// given back or lost.
func (k *clock) endXact() {
	k.mu.Lock()
	stopTimer(&k.xact)
	stopTimer(&k.query)
	k.mu.Unlock()
}

// stop ends the clock with its session: no timer fires afterwards.
func (k *clock) stop() {
	k.mu.Lock()
	k.halted = true
	stopTimer(&k.xact)
	stopTimer(&k.query)
	k.mu.Unlock()
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// cancelQuery cancels a query that ran longer than query_timeout, as a
// CancelRequest to its server would; the session goes on.
func (k *clock) cancelQuery() {
	wait := k.cancel
	if wait <= 0 {
		wait = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := k.c.CancelQuery(ctx); err != nil {
		k.log.Warn("query_timeout: cancel failed", "client", k.c.Addr, "err", err)
		return
	}
	k.log.Info("query_timeout: query cancelled", "client", k.c.Addr, "user", k.c.User)
}
