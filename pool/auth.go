package pool

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/internal/wire"
)

// ErrWrongPasswordType reports a server asking for a kind of password
// pgbun has nothing to answer with: none at all, or only a hash the
// method cannot use (an md5 hash for SCRAM or a cleartext request, a
// SCRAM secret before any client logged in with SCRAM to teach its keys).
var ErrWrongPasswordType = errors.New("wrong password type")

// CredentialAuth logs in to PostgreSQL with stored credentials: a
// plaintext password, an md5 hash, or SCRAM keys recovered from a client's
// login (pass-through, no password anywhere). Make one per login.
func CredentialAuth(user string, cred authn.ServerCredentials) Authenticator {
	return &credAuth{user: user, cred: cred}
}

type credAuth struct {
	user  string
	cred  authn.ServerCredentials
	scram *authn.SCRAMClient
}

func (a *credAuth) Respond(req []byte, st *tls.ConnectionState) ([]byte, error) {
	code, data, ok := wire.ParseAuth(req)
	if !ok {
		return nil, errors.New("short authentication request")
	}
	switch code {
	case wire.AuthCleartextPassword:
		if a.cred.Password == "" {
			return nil, fmt.Errorf("%w: server asks for a cleartext password and only a hashed secret is known", ErrWrongPasswordType)
		}
		return appendPassword(nil, a.cred.Password), nil
	case wire.AuthMD5Password:
		if len(data) < 4 {
			return nil, errors.New("short md5 salt")
		}
		if a.cred.Password == "" && a.cred.MD5 == "" {
			return nil, fmt.Errorf("%w: server asks for md5 and no password or md5 hash is known", ErrWrongPasswordType)
		}
		resp, err := authn.MD5Response(a.user, a.cred, [4]byte(data[:4]))
		if err != nil {
			return nil, fmt.Errorf("md5 login: %w", err)
		}
		return appendPassword(nil, resp), nil
	case wire.AuthSASL:
		mechs, ok := wire.ParseSASLMechanisms(data)
		if !ok {
			return nil, errors.New("malformed SASL mechanism list")
		}
		if a.cred.Password == "" && a.cred.Keys == nil {
			return nil, fmt.Errorf("%w: server asks for SCRAM and no password or SCRAM keys are known", ErrWrongPasswordType)
		}
		c, err := authn.NewSCRAMClient(a.cred)
		if err != nil {
			return nil, fmt.Errorf("SCRAM login: %w", err)
		}
		var binding []byte
		if st != nil && len(st.PeerCertificates) > 0 {
			binding = authn.TLSServerEndpoint(st.PeerCertificates[0])
		}
		mech, first, err := c.First(mechs, binding)
		if err != nil {
			return nil, fmt.Errorf("SCRAM login: %w", err)
		}
		a.scram = c
		return wire.AppendSASLInitialResponse(nil, mech, first), nil
	case wire.AuthSASLContinue:
		if a.scram == nil {
			return nil, errors.New("SASLContinue before SASL")
		}
		final, err := a.scram.Final(data)
		if err != nil {
			return nil, fmt.Errorf("SCRAM login: %w", err)
		}
		return appendSASLResponse(nil, final), nil
	case wire.AuthSASLFinal:
		if a.scram == nil {
			return nil, errors.New("SASLFinal before SASL")
		}
		if err := a.scram.Verify(data); err != nil {
			return nil, fmt.Errorf("SCRAM login: %w", err)
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("server asks for authentication method %d, which pgbun does not support", code)
	}
}

func appendPassword(dst []byte, pw string) []byte {
	dst, s := wire.AppendHeader(dst, 'p')
	dst = append(dst, pw...)
	dst = append(dst, 0)
	return wire.Finish(dst, s)
}

func appendSASLResponse(dst []byte, data []byte) []byte {
	dst, s := wire.AppendHeader(dst, 'p')
	dst = append(dst, data...)
	return wire.Finish(dst, s)
}
