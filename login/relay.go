package login

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
)

// Relay is the login of auth_type=server: it passes a server's
// authentication requests to the client and the client's answers back,
// so that the client proves itself to PostgreSQL, not to pgbun. The
// server connection it logs in must belong to this client alone.
func Relay(c *Conn) pool.Authenticator { return &relay{c: c} }

type relay struct {
	c *Conn
}

func (r *relay) Respond(req []byte, _ *tls.ConnectionState) ([]byte, error) {
	c := r.c
	code, data, ok := wire.ParseAuth(req)
	if !ok {
		return nil, errors.New("short authentication request from server")
	}
	switch code {
	case wire.AuthSASL:
		// Channel binding ties a SCRAM exchange to one TLS connection;
		// the client's and the server's are two different ones, so only
		// plain SCRAM can cross pgbun.
		mechs, err := withoutPlus(data)
		if err != nil {
			return nil, err
		}
		if err := c.sendSASL(mechs); err != nil {
			return nil, session.ErrClientGone
		}
	case wire.AuthSASLFinal:
		if err := c.sendAuth(wire.AuthSASLFinal, data); err != nil {
			return nil, session.ErrClientGone
		}
		return nil, nil
	case wire.AuthCleartextPassword, wire.AuthMD5Password, wire.AuthSASLContinue:
		if err := c.sendAuth(code, data); err != nil {
			return nil, session.ErrClientGone
		}
	default:
		return nil, fmt.Errorf("server asks for authentication method %d, which pgbun cannot relay", code)
	}
	body, err := c.readPassword()
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
