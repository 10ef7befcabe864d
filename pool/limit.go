package pool

import (
	"context"
	"slices"
	"sync"
)

// Limiter caps server connections across pools: max_db_connections for
// all pools of one database, max_user_connections for all pools of one
// user. A pool takes a token from each of its limiters before it opens a
// server; the server gives them back when it closes. When a limiter is
// full, an idle server of another pool under it is closed to make room,
// as PgBouncer does, and otherwise the opener waits in FIFO order. Safe for
// concurrent use; the zero limit means unlimited.
type Limiter struct {
	mu      sync.Mutex
	max     int
	used    int
	waiters []chan struct{} // buffered: a hand-off never blocks
	pools   map[*Pool]struct{}
}

// NewLimiter returns a limiter allowing max servers (0 = unlimited).
func NewLimiter(max int) *Limiter {
	return &Limiter{max: max, pools: make(map[*Pool]struct{})}
}

// SetMax changes the cap; servers above a lowered cap stay until they close.
func (l *Limiter) SetMax(max int) {
	l.mu.Lock()
	l.max = max
	for len(l.waiters) > 0 && (l.max <= 0 || l.used < l.max) {
		l.used++
		l.handLocked()
	}
	l.mu.Unlock()
}

// InUse reports how many servers hold a token.
func (l *Limiter) InUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

func (l *Limiter) add(p *Pool) {
	l.mu.Lock()
	l.pools[p] = struct{}{}
	l.mu.Unlock()
}

func (l *Limiter) remove(p *Pool) {
	l.mu.Lock()
	delete(l.pools, p)
	l.mu.Unlock()
}

// acquire takes a token for a server of pool self.
func (l *Limiter) acquire(ctx context.Context, self *Pool) error {
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		if l.max <= 0 || l.used < l.max {
			l.used++
			l.mu.Unlock()
			return nil
		}
		var victim *Pool
		if attempt == 0 {
			for p := range l.pools {
				if p != self && p.idleCount() > 0 {
					victim = p
					break
				}
			}
		}
		if victim == nil {
			ch := make(chan struct{}, 1)
			l.waiters = append(l.waiters, ch)
			l.mu.Unlock()
			select {
			case <-ch:
				return nil // the token was handed over
			case <-ctx.Done():
				l.mu.Lock()
				for i, w := range l.waiters {
					if w == ch {
						l.waiters = slices.Delete(l.waiters, i, i+1) // zeroes the freed slot
						l.mu.Unlock()
						return ctx.Err()
					}
				}
				l.mu.Unlock()
				<-ch // handed over as the wait ended: give it back
				l.release()
				return ctx.Err()
			}
		}
		l.mu.Unlock()
		victim.closeOneIdle() // its token comes back through release
	}
}

// release gives a token back, straight to the first waiter if any.
func (l *Limiter) release() {
	l.mu.Lock()
	if len(l.waiters) > 0 && (l.max <= 0 || l.used <= l.max) {
		l.handLocked()
	} else {
		l.used--
	}
	l.mu.Unlock()
}

func (l *Limiter) handLocked() {
	w := l.waiters[0]
	l.waiters[0] = nil // the backing array must not keep a served waiter alive
	l.waiters = l.waiters[1:]
	w <- struct{}{}
}

// waiting reports whether anyone waits for a token.
func (l *Limiter) waiting() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters) > 0
}

// unused reports whether no open pool is registered with the limiter and
// it counts no server and no waiter: nothing is lost when it is dropped.
func (l *Limiter) unused() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pools) == 0 && l.used == 0 && len(l.waiters) == 0
}
