package login

import (
	"bufio"
	"crypto/x509"
	"errors"
	"io"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/internal/wire"
)

// maxMessage bounds the messages a client sends before it is
// authenticated. Password and SASL messages are usually a few hundred
// bytes; PgBouncer takes passwords of up to 65530 bytes (long tokens used
// as passwords), which with the message's terminator and SASL's framing
// fit in 64 KiB. max_unauthenticated_clients bounds what that costs.
const maxMessage = 64 << 10

// Conn is the client's side of a login exchange: where its answers are
// read and pgbun's requests written. The caller owns the connection and
// its deadlines; an exchange only reads and writes whole messages.
type Conn struct {
	In   *bufio.Reader // the client's messages
	Out  io.Writer     // the client's connection (Raw, or TLS over it)
	User string        // the user of the startup packet
	// Served is the certificate pgbun presented to the client, whose
	// hash SCRAM-SHA-256-PLUS binds the exchange to; nil without TLS.
	Served *x509.Certificate

	buf []byte // scratch for reading the client's messages
	out []byte // scratch for writing requests
}

// Hooks are what the caller's policy adds to an exchange. Each may be
// nil: no throttle to ask, no fresher secret, no bound on CPU.
type Hooks struct {
	// Confirm asks the failed-login throttle again just before the
	// client's proof is checked: guesses from elsewhere may have locked
	// the user out while this exchange waited for the client. Its error
	// ends the login as it is.
	Confirm func() error
	// Refetch returns the user's secret again when the one the exchange
	// used came from a cache and may be stale; ok is false when there is
	// no other.
	Refetch func() (sec authn.Secret, ok bool)
	// CPU runs CPU-heavy work (SCRAM key derivation, proofs) within the
	// caller's bound on logins at once.
	CPU func(func())
}

func (h Hooks) confirm() error {
	if h.Confirm == nil {
		return nil
	}
	return h.Confirm()
}

func (h Hooks) refetch() (authn.Secret, bool) {
	if h.Refetch == nil {
		return authn.Secret{}, false
	}
	return h.Refetch()
}

func (h Hooks) cpu(f func()) {
	if h.CPU == nil {
		f()
		return
	}
	h.CPU(f)
}

// Failure is an authentication failure: what the client sees, and a
// reason for the log and the audit only.
type Failure struct {
	Client *wire.Error
	Reason string
}

func (e *Failure) Error() string { return e.Client.Message + ": " + e.Reason }
func (e *Failure) Unwrap() error { return e.Client }

// saslFailed is the one answer for every failed SCRAM login, PgBouncer's
// wording; like passwordFailed it is the same for every cause.
func saslFailed(reason string) error {
	return &Failure{Client: wire.Fatal(wire.CodeInvalidPassword, "SASL authentication failed"), Reason: reason}
}

// passwordFailed is the one answer for every failed password login,
// whatever the cause, so the answer tells nothing about which users exist.
func passwordFailed(user, reason string) error {
	return &Failure{
		Client: wire.Fatal(wire.CodeInvalidPassword, "password authentication failed for user %q", user),
		Reason: reason,
	}
}

// sendAuth writes an authentication request with the given code.
func (c *Conn) sendAuth(code uint32, data []byte) error {
	c.out = wire.AppendAuth(c.out[:0], code, data)
	return c.send(c.out)
}

// sendSASL writes AuthenticationSASL offering mechs.
func (c *Conn) sendSASL(mechs []string) error {
	c.out = wire.AppendAuthSASL(c.out[:0], mechs)
	return c.send(c.out)
}

// send writes a message to the client.
func (c *Conn) send(b []byte) error {
	_, err := c.Out.Write(b)
	return err
}

// readPassword reads the client's next 'p' message.
func (c *Conn) readPassword() ([]byte, error) {
	typ, body, buf, err := wire.ReadMessage(c.In, c.buf, maxMessage)
	c.buf = buf
	if err != nil {
		if errors.Is(err, wire.ErrTooLong) {
			return nil, wire.Fatal(wire.CodeProtocolViolation, "invalid authentication message: too long")
		}
		return nil, err
	}
	if typ != 'p' {
		return nil, wire.Fatal(wire.CodeProtocolViolation, "expected password response, got message type %d", typ)
	}
	return body, nil
}
