package login

import (
	"errors"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/internal/wire"
)

// SCRAM runs SCRAM-SHA-256 (or -PLUS when the client is on TLS with a
// certificate that allows channel binding) against sec, the secret a
// lookup found for c.User (known false: none). Unknown users and secrets
// that cannot verify SCRAM get the same exchange against a mock secret,
// and the same failure as a wrong password. The exchange is always built,
// mock secret included, so its cost does not tell users apart.
//
// When the proof verifies and sec is a SCRAM secret, SCRAM returns the
// keys that log in to PostgreSQL as the user (pass-through), even if the
// final message could not be sent.
func SCRAM(c *Conn, keyring *authn.Keyring, sec authn.Secret, known bool, h Hooks) (*authn.PassThroughKeys, error) {
	var binding []byte
	if c.Served != nil {
		binding = authn.TLSServerEndpoint(c.Served)
	}
	var ex *authn.SCRAMServer
	h.cpu(func() { ex = keyring.NewSCRAMServerFor(c.User, sec, known, binding) })

	if err := c.sendSASL(ex.Mechanisms()); err != nil {
		return nil, err
	}
	body, err := c.readPassword()
	if err != nil {
		return nil, err
	}
	mech, data, err := parseSASLInitial(body)
	if err != nil {
		return nil, err
	}
	serverFirst, err := ex.First(mech, data)
	if err != nil {
		return nil, scramFailure(c, err)
	}
	if err := c.sendAuth(wire.AuthSASLContinue, serverFirst); err != nil {
		return nil, err
	}
	if body, err = c.readPassword(); err != nil {
		return nil, err
	}
	if err := h.confirm(); err != nil {
		return nil, err
	}
	var serverFinal []byte
	h.cpu(func() { serverFinal, err = ex.Final(body) })
	if err != nil {
		// The salt is already spent, so a changed password cannot be
		// checked now; fetching it makes the client's next try work.
		h.refetch()
		return nil, scramFailure(c, err)
	}
	// Only a secret identical to the server's own yields keys that log in
	// there; one derived from a plaintext password has its own salt.
	var keys *authn.PassThroughKeys
	if sec.Kind == authn.SecretSCRAM {
		keys = ex.PassThroughKeys()
	}
	return keys, c.sendAuth(wire.AuthSASLFinal, serverFinal)
}

// scramFailure turns an authn error into what the client sees.
func scramFailure(c *Conn, err error) error {
	var ae *authn.Error
	if errors.As(err, &ae) {
		if ae.Code == wire.CodeInvalidPassword {
			return saslFailed(ae.Reason)
		}
		return &Failure{Client: wire.Fatal(ae.Code, "%s", ae.Message), Reason: ae.Reason}
	}
	return &Failure{Client: wire.Fatal(wire.CodeProtocolViolation, "malformed SCRAM message"), Reason: err.Error()}
}

// parseSASLInitial splits a SASLInitialResponse body.
func parseSASLInitial(body []byte) (mech string, data []byte, err error) {
	mech, data, ok := wire.ParseSASLInitialResponse(body)
	if !ok {
		return "", nil, wire.Fatal(wire.CodeProtocolViolation, "malformed SASLInitialResponse")
	}
	return mech, data, nil
}
