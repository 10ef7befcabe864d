package gateway

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"math/big"
	"sync"

	"github.com/pgbun/pgbun/internal/wire"
)

// cancelRegistry maps the cancel keys pgbun gave its clients to those
// clients. Keys are random; a client's server keeps its own key, which
// clients never see.
type cancelRegistry struct {
	mu sync.Mutex
	m  map[uint32]*client
}

// peerShift places peer_id in the process id of a cancel key: bits 17 to
// 30 (peer ids 1 to 16383), the rest random. A cancel that reaches the
// wrong pgbun behind one address tells it whose client it is for.
const peerShift = 17

// peerOf returns the peer_id encoded in a cancel key's process id.
func peerOf(pid uint32) int { return int(pid >> peerShift) }

// register gives c a fresh key: 4 secret bytes on protocol 3.0/3.1, 32 on
// 3.2 (as PostgreSQL 18 does), and a process id carrying peerID.
func (r *cancelRegistry) register(c *client, peerID int) {
	n := 4
	if c.minor >= 2 {
		n = 32
	}
	c.secret = make([]byte, n)
	rand.Read(c.secret)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[uint32]*client)
	}
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<31))
		pid := uint32(n.Uint64()) // positive, like a real PID
		if peerID > 0 {
			pid = uint32(peerID)<<peerShift | pid&(1<<peerShift-1)
		}
		if _, taken := r.m[pid]; pid != 0 && !taken {
			c.pid = pid
			r.m[pid] = c
			return
		}
	}
}

func (r *cancelRegistry) unregister(c *client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[c.pid] == c {
		delete(r.m, c.pid)
	}
}

func (r *cancelRegistry) lookup(pid uint32, secret []byte) *client {
	r.mu.Lock()
	c := r.m[pid]
	r.mu.Unlock()
	if c == nil || subtle.ConstantTimeCompare(c.secret, secret) != 1 {
		return nil
	}
	return c
}

// handleCancel forwards a CancelRequest to the server the client is
// linked to. Unknown keys and idle clients are ignored without an answer,
// as PostgreSQL does.
func (g *Gateway) handleCancel(st *state, body []byte) {
	pid, secret, ok := wire.ParseCancelRequest(body)
	if !ok {
		return
	}
	if own := st.cfg.General.PeerID; own > 0 {
		if peer := peerOf(pid); peer != own {
			g.forwardCancel(st, peer, pid, secret)
			return
		}
	}
	c := g.cancels.lookup(pid, secret)
	if c == nil {
		return
	}
	ctx := context.Background()
	if t := st.cfg.General.CancelWaitTimeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	if err := c.CancelQuery(ctx); err != nil {
		g.log.Warn("cancel request failed", "client", c.Addr, "user", c.User, "err", err)
	}
}
