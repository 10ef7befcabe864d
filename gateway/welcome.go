package gateway

import (
	"slices"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
)

// welcome finishes the login: the client's startup parameters are applied
// to the server, then the client gets AuthenticationOk, the server's
// parameters, its own cancel key and ReadyForQuery.
func (g *Gateway) welcome(c *client, st *state, srv *pool.Server) error {
	if !srv.Dedicated() {
		if err := session.ApplySettings(srv, c.Settings); err != nil {
			return err
		}
	}
	out := wire.AppendAuthOK(c.out[:0])
	names := make([]string, 0, len(srv.Params))
	for k := range srv.Params {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		out = wire.AppendParameterStatus(out, k, srv.Params[k])
	}
	out = wire.AppendBackendKeyData(out, c.pid, c.secret)
	out = wire.AppendReadyForQuery(out, srv.Status)
	c.out = out
	return c.send(out)
}
