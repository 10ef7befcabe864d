package gateway

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

// forwardCancel sends a CancelRequest meant for another pgbun of the same
// group ([peers]) to it, as PgBouncer's peering does: behind one address
// (so_reuseport or a load balancer) a client's cancel may land anywhere.
// At most pool_size forwards to one peer run at once; unknown peers are
// ignored like unknown keys.
func (g *Gateway) forwardCancel(st *state, peerID int, pid uint32, secret []byte) {
	peer, ok := st.cfg.Peers[peerID]
	if !ok || peer.Host == "" {
		return
	}
	size := peer.PoolSize
	if size <= 0 {
		size = st.cfg.General.DefaultPoolSize
	}
	sem := g.peerSlots(peerID, size)
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	default:
		g.log.Warn("cancel not forwarded: too many cancels in flight to peer", "peer_id", peerID)
		return
	}
	wait := st.cfg.General.CancelWaitTimeout
	if wait <= 0 {
		wait = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	network, addr := "tcp", net.JoinHostPort(peer.Host, strconv.Itoa(peer.Port))
	if len(peer.Host) > 0 && peer.Host[0] == '/' {
		network, addr = "unix", peer.Host+"/.s.PGSQL."+strconv.Itoa(peer.Port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		g.log.Warn("cancel not forwarded to peer", "peer_id", peerID, "addr", addr, "err", err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write(wire.AppendCancelRequest(nil, pid, secret)); err != nil {
		g.log.Warn("cancel not forwarded to peer", "peer_id", peerID, "err", err)
		return
	}
	var b [1]byte
	conn.Read(b[:]) // the peer closes when it has passed the cancel on
}

// peerSlots returns the semaphore bounding forwards to one peer.
func (g *Gateway) peerSlots(id, size int) chan struct{} {
	v, _ := g.peerSems.LoadOrStore(id, make(chan struct{}, max(1, size)))
	return v.(chan struct{})
}
