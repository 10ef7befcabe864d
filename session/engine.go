package session

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/stats"
)

// Engine runs the sessions of one gateway. It holds what sessions share:
// the prepared statement registry, the parker where idle sessions wait,
// and the housekeeping goroutine that ticks idle timeouts and gives free
// memory back.
type Engine struct {
	log    *slog.Logger
	stmts  stmtRegistry
	parker *parker // nil: idle sessions do not park on this system
	bg     context.Context
	wg     sync.WaitGroup

	mu   sync.Mutex
	live map[*txnSession]struct{} // transaction-pooled sessions, for the tick
}

// NewEngine starts an engine whose housekeeping runs until ctx ends.
func NewEngine(ctx context.Context, log *slog.Logger) *Engine {
	e := &Engine{log: log, bg: ctx, live: make(map[*txnSession]struct{})}
	var err error
	if e.parker, err = newParker(); err != nil {
		log.Warn("idle clients will not be parked", "err", err)
		e.wg.Add(1)
		go e.runMemoryRelease() // the parker's tick does it otherwise
	} else {
		e.wg.Add(1)
		go e.runParker()
	}
	return e
}

// Wait returns once the housekeeping has stopped (its context ended) and
// every goroutine it started has finished.
func (e *Engine) Wait() { e.wg.Wait() }

// Parked says how many idle sessions are parked.
func (e *Engine) Parked() int { return e.parker.count() }

// Config is how one client's session runs.
type Config struct {
	Pool     *pool.Pool
	Stats    *stats.Pool         // the pool's traffic counters
	Settings config.PoolSettings // mode and timeouts of the client's pool
	// MaxPacket bounds a client message (max_packet_size, 0: no bound).
	MaxPacket int
	// MaxPrepared bounds each server's prepared statements
	// (max_prepared_statements; 0: prepared statements are not tracked).
	MaxPrepared int
	// Tracked are the reported parameters kept per client on top of the
	// usual ones (track_extra_parameters).
	Tracked []string
	// FastClose ends a session-pooled client's session at the end of a
	// transaction on a server that was marked outdated
	// (server_fast_close).
	FastClose bool
	// CancelWait bounds the cancel a query_timeout sends.
	CancelWait time.Duration
}

// End says how a session ended, for the client and the log.
type End struct {
	Err    *wire.Error // to send the client before closing, if any
	Reason string      // for the disconnect log line
	// clean: the server is between messages with nothing in flight.
	clean bool
}

// Run carries c's traffic from its login on. srv is the server the login
// was served on. Session pooling (and a server dedicated to c) keeps srv
// for the whole session; transaction and statement pooling give it back
// now and take one per transaction. When the session ends, the server is
// given back and done is called once, with why, on whichever goroutine
// ends it: Run itself, or for a session that was parked while idle, the
// goroutine that woke it. The caller must not touch c until then.
func (e *Engine) Run(c *Client, srv *pool.Server, cfg *Config, done func(End)) {
	if cfg.Settings.Mode == config.PoolSession || srv.Dedicated() {
		defer func() {
			if r := recover(); r != nil {
				e.log.Error("panic serving client", "client", c.Addr, "panic", r, "stack", string(debug.Stack()))
				done(End{Reason: "internal error"})
			}
		}()
		c.State.Store(int32(Active))
		end := e.forward(c, cfg, srv)
		c.unlink()
		cfg.Pool.Release(srv, end.clean)
		done(end)
		return
	}
	s := newTxnSession(e, c, cfg, srv.Params, done)
	c.Quiet.Store(true)
	c.unlink()
	c.State.Store(int32(Idle))
	cfg.Pool.Release(srv, srv.Status == 'I')
	s.start()
}

// track and untrack keep the set of transaction-pooled sessions the
// parker's tick visits.
func (e *Engine) track(s *txnSession) {
	e.mu.Lock()
	e.live[s] = struct{}{}
	e.mu.Unlock()
}

func (e *Engine) untrack(s *txnSession) {
	e.mu.Lock()
	delete(e.live, s)
	e.mu.Unlock()
}

// countingWriter counts the bytes written through it into n.
type countingWriter struct {
	w interface{ Write([]byte) (int, error) }
	n *atomic.Uint64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(uint64(n))
	return n, err
}
