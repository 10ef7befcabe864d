package gateway

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/pgbun/pgbun/internal/wire"
)

// errClientGone reports that the client hung up during a relayed login.
var errClientGone = errors.New("client disconnected during login")

// relayAuth passes a server's authentication requests to the client and
// the client's answers back (auth_type=server). The server connection it
// logs in belongs to this client alone.
type relayAuth struct {
	c *client
}

func (r *relayAuth) Respond(req []byte, _ *tls.ConnectionState) ([]byte, error) {
	c := r.c
	code := binary.BigEndian.Uint32(req)
	switch code {
	case authSASL:
		// Channel binding ties a SCRAM exchange to one TLS connection;
		// the client's and the server's are two different ones, so only
		// plain SCRAM can cross pgbun.
		mechs, err := withoutPlus(req[4:])
		if err != nil {
			return nil, err
		}
		if err := c.send(appendAuth(c.out[:0], authSASL, mechs)); err != nil {
			return nil, errClientGone
		}
	case authSASLFinal:
		if err := c.send(appendAuth(c.out[:0], authSASLFinal, req[4:])); err != nil {
			return nil, errClientGone
		}
		return nil, nil
	case authCleartext, authMD5, authSASLContinue:
		if err := c.send(appendAuth(c.out[:0], code, req[4:])); err != nil {
			return nil, errClientGone
		}
	default:
		return nil, fmt.Errorf("server asks for authentication method %d, which pgbun cannot relay", code)
	}
	body, err := c.readPasswordMessage()
	if err != nil {
		if _, ok := wire.AsError(err); ok {
			return nil, err
		}
		return nil, errClientGone
	}
	out, s := wire.AppendHeader(nil, 'p')
	out = append(out, body...)
	return wire.Finish(out, s), nil
}

// withoutPlus rebuilds a SASL mechanism list without -PLUS mechanisms.
func withoutPlus(list []byte) ([]byte, error) {
	var out []byte
	for len(list) > 0 && list[0] != 0 {
		m, rest, ok := wire.CString(list)
		if !ok {
			return nil, errors.New("malformed SASL mechanism list from server")
		}
		list = rest
		if !strings.HasSuffix(m, "-PLUS") {
			out = append(append(out, m...), 0)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("server offers only channel-bound SASL mechanisms, which cannot be relayed")
	}
	return append(out, 0), nil
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
