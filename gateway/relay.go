package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/session"
)

// relayAuth passes a server's authentication requests to the client and
// the client's answers back (auth_type=server). The server connection it
// logs in belongs to this client alone.
type relayAuth struct {
	c *client
}

func (r *relayAuth) Respond(req []byte, _ *tls.ConnectionState) ([]byte, error) {
	c := r.c
	code, data, ok := wire.ParseAuth(req)
	if !ok {
		return nil, errors.New("short authentication request from server")
	}
	switch code {
	case authSASL:
		// Channel binding ties a SCRAM exchange to one TLS connection;
		// the client's and the server's are two different ones, so only
		// plain SCRAM can cross pgbun.
		mechs, err := withoutPlus(data)
		if err != nil {
			return nil, err
		}
		if err := c.send(wire.AppendAuthSASL(c.out[:0], mechs)); err != nil {
			return nil, session.ErrClientGone
		}
	case authSASLFinal:
		if err := c.send(wire.AppendAuth(c.out[:0], authSASLFinal, data)); err != nil {
			return nil, session.ErrClientGone
		}
		return nil, nil
	case authCleartext, authMD5, authSASLContinue:
		if err := c.send(wire.AppendAuth(c.out[:0], code, data)); err != nil {
			return nil, session.ErrClientGone
		}
	default:
		return nil, fmt.Errorf("server asks for authentication method %d, which pgbun cannot relay", code)
	}
	body, err := c.readPasswordMessage()
	if err != nil {
		if _, ok := wire.AsError(err); ok {
			return nil, err
		}
		return nil, session.ErrClientGone
	}
	return wire.AppendMessage(nil, 'p', body), nil
}

// withoutPlus reads a SASL mechanism list and drops its -PLUS mechanisms.
func withoutPlus(list []byte) ([]string, error) {
	mechs, ok := wire.ParseSASLMechanisms(list)
	if !ok {
		return nil, errors.New("malformed SASL mechanism list from server")
	}
	mechs = slices.DeleteFunc(mechs, func(m string) bool { return strings.HasSuffix(m, "-PLUS") })
	if len(mechs) == 0 {
		return nil, errors.New("server offers only channel-bound SASL mechanisms, which cannot be relayed")
	}
	return mechs, nil
}

// relayParams are the startup parameters a dedicated server gets: the
// client's own, less those pgbun handles or is told to ignore.
func (g *Gateway) relayParams(c *client, st *state) map[string]string {
	out := make(map[string]string)
	for k, v := range c.params {
		if k == "user" || k == "database" || k == "replication" || ignored(st, k) {
			continue
		}
		out[k] = v
	}
	if st.cfg.General.ApplicationNameAddHost {
		out["application_name"] = appNameWithHost(out["application_name"], c)
	}
	return out
}
