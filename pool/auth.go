package pool

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/internal/wire"
)

// Authentication request codes (AuthenticationXxx message bodies).
const (
	authCleartext    = 3
	authMD5          = 5
	authSASL         = 10
	authSASLContinue = 11
	authSASLFinal    = 12
)

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
	code := binary.BigEndian.Uint32(req)
	data := req[4:]
	switch code {
	case authCleartext:
		if a.cred.Password == "" {
			return nil, errors.New("server asks for a cleartext password and only a hashed secret is known")
		}
		return appendPassword(nil, a.cred.Password), nil
	case authMD5:
		if len(data) < 4 {
			return nil, errors.New("short md5 salt")
		}
		resp, err := authn.MD5Response(a.user, a.cred, [4]byte(data[:4]))
		if err != nil {
			return nil, fmt.Errorf("md5 login: %w", err)
		}
		return appendPassword(nil, resp), nil
	case authSASL:
		var mechs []string
		for len(data) > 0 && data[0] != 0 {
			m, rest, ok := wire.CString(data)
			if !ok {
				return nil, errors.New("malformed SASL mechanism list")
			}
			mechs, data = append(mechs, m), rest
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
		return appendSASLInitial(nil, mech, first), nil
	case authSASLContinue:
		if a.scram == nil {
			return nil, errors.New("SASLContinue before SASL")
		}
		final, err := a.scram.Final(data)
		if err != nil {
			return nil, fmt.Errorf("SCRAM login: %w", err)
		}
		return appendSASLResponse(nil, final), nil
	case authSASLFinal:
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

func appendSASLInitial(dst []byte, mech string, data []byte) []byte {
	dst, s := wire.AppendHeader(dst, 'p')
	dst = append(dst, mech...)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)))
	dst = append(dst, data...)
	return wire.Finish(dst, s)
}

func appendSASLResponse(dst []byte, data []byte) []byte {
	dst, s := wire.AppendHeader(dst, 'p')
	dst = append(dst, data...)
	return wire.Finish(dst, s)
}
