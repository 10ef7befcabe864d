package login

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/internal/wire"
)

// MD5 runs PostgreSQL's md5 challenge against sec, a plaintext or md5
// secret (known false: c.User has none, and the challenge runs against a
// mock secret with the same work and the same answer as a wrong
// password). It returns the secret that verified the response: sec, or
// the fresher one Refetch gave.
func MD5(c *Conn, sec authn.Secret, known bool, h Hooks) (authn.Secret, error) {
	if !known {
		sec = mockMD5(c.User)
	}
	salt := authn.NewMD5Salt()
	resp, err := c.askPassword(wire.AuthMD5Password, salt[:], h)
	if err != nil {
		return sec, err
	}
	if authn.VerifyMD5(c.User, sec, salt, resp) {
		return sec, nil
	}
	// A cached secret may be stale: md5 can be checked again at once.
	if fresh, ok := h.refetch(); ok && authn.VerifyMD5(c.User, fresh, salt, resp) {
		return fresh, nil
	}
	if !known {
		return sec, passwordFailed(c.User, "unknown user")
	}
	return sec, passwordFailed(c.User, "md5 response mismatch")
}

// Cleartext asks for the password itself (auth_type=plain) and checks it
// against sec, the secret a lookup found for c.User (known false: none).
// It returns the secret that verified the password: sec, or the fresher
// one Refetch gave.
func Cleartext(c *Conn, sec authn.Secret, known bool, h Hooks) (authn.Secret, error) {
	pw, err := c.askPassword(wire.AuthCleartextPassword, nil, h)
	if err != nil {
		return sec, err
	}
	if known && authn.VerifyPassword(c.User, sec, pw) {
		return sec, nil
	}
	if fresh, ok := h.refetch(); ok && authn.VerifyPassword(c.User, fresh, pw) {
		return fresh, nil
	}
	if !known {
		return sec, passwordFailed(c.User, "unknown user")
	}
	return sec, passwordFailed(c.User, "password mismatch")
}

// askPassword sends the authentication request code (with data, the md5
// salt) and reads the client's answer, a password or an md5 response. The
// throttle is asked again once the answer is in, before it is checked.
func (c *Conn) askPassword(code uint32, data []byte, h Hooks) (string, error) {
	if err := c.sendAuth(code, data); err != nil {
		return "", err
	}
	body, err := c.readPassword()
	if err != nil {
		return "", err
	}
	answer, _, ok := wire.CString(body)
	if !ok {
		return "", wire.Fatal(wire.CodeProtocolViolation, "invalid password packet")
	}
	if err := h.confirm(); err != nil {
		return "", err
	}
	return answer, nil
}

// mockMD5 is an md5 secret no password matches, for a user with none.
func mockMD5(user string) authn.Secret {
	var b [16]byte
	rand.Read(b[:])
	return authn.ParseSecret(authn.MD5Secret(user, hex.EncodeToString(b[:])))
}
