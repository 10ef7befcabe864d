package authn

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// ServerCredentials are what pgbun knows of a user when it logs in to
// PostgreSQL as that user. Password is preferred when set.
type ServerCredentials struct {
	Password string           // plaintext: answers cleartext, md5 and SCRAM
	MD5      string           // "md5..." stored hash: answers md5 challenges only
	Keys     *PassThroughKeys // SCRAM pass-through: no password anywhere
}

// Format implements fmt.Formatter: every verb prints only which
// credentials are present, never their values.
func (c ServerCredentials) Format(f fmt.State, _ rune) {
	var have []string
	if c.Password != "" {
		have = append(have, "password")
	}
	if c.MD5 != "" {
		have = append(have, "md5")
	}
	if c.Keys != nil {
		have = append(have, "scram-keys")
	}
	fmt.Fprintf(f, "ServerCredentials{%s}", strings.Join(have, ","))
}

// LogValue implements slog.LogValuer with Format's redacted text.
func (c ServerCredentials) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(c)) }

// PassThroughKeys log in with SCRAM without the password: the ClientKey
// recovered from a client's own SCRAM login (SCRAMServer.PassThroughKeys)
// and the ServerKey, salt and iteration count of the stored secret, which
// must be byte-identical to the server's pg_authid secret.
type PassThroughKeys struct {
	ClientKey, ServerKey, Salt []byte
	Iterations                 int
}

// Format implements fmt.Formatter: every verb prints the iteration count
// only; the keys are password-equivalent.
func (k PassThroughKeys) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "PassThroughKeys{iterations %d}", k.Iterations)
}

// LogValue implements slog.LogValuer with Format's redacted text.
func (k PassThroughKeys) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(k)) }

// maxClientIterations bounds the PBKDF2 work a server can demand of pgbun
// when it logs in with a password (about two seconds of one core here).
const maxClientIterations = 10_000_000

type clientState int

const (
	clientStart clientState = iota
	clientFirstSent
	clientFinalSent
	clientDone
	clientFailed
)

// SCRAMClient is the client side of one SCRAM-SHA-256(-PLUS) login of pgbun
// to PostgreSQL, with a password or with pass-through keys. Call First,
// Final and Verify in that order; any error ends the login. It is not safe
// for concurrent use.
type SCRAMClient struct {
	password string
	keys     *PassThroughKeys
	state    clientState

	gs2Header       string
	binding         []byte // sent only with "p="
	nonce           string // client nonce
	clientFirstBare string
	serverSignature []byte // expected in server-final-message

	// nonceGen replaces the random client nonce when set (tests); nil means
	// 18 random bytes in base64, as libpq sends.
	nonceGen func() string
	// maxIterations lowers maxClientIterations when positive (fuzzing).
	maxIterations int
}

// NewSCRAMClient returns a client that logs in with cred.Password when set,
// else with cred.Keys. It fails when neither is usable.
func NewSCRAMClient(cred ServerCredentials) (*SCRAMClient, error) {
	if cred.Password != "" {
		return &SCRAMClient{password: cred.Password}, nil
	}
	k := cred.Keys
	if k == nil {
		return nil, errors.New("scram login: no password or pass-through keys")
	}
	if len(k.ClientKey) != scramKeyLen || len(k.ServerKey) != scramKeyLen || len(k.Salt) == 0 || k.Iterations < 1 {
		return nil, errors.New("scram login: invalid pass-through keys")
	}
	return &SCRAMClient{keys: &PassThroughKeys{
		ClientKey:  bytes.Clone(k.ClientKey),
		ServerKey:  bytes.Clone(k.ServerKey),
		Salt:       bytes.Clone(k.Salt),
		Iterations: k.Iterations,
	}}, nil
}

// First picks the mechanism from those the server offered and returns it
// with the client-first-message. binding is the tls-server-end-point data
// of the server's leaf certificate (TLSServerEndpoint), nil without TLS.
// SCRAM-SHA-256-PLUS is chosen when offered and binding != nil; otherwise
// SCRAM-SHA-256 with the gs2 header "y,," when binding != nil (binding
// supported but not offered, so that a server offering -PLUS can detect a
// downgrade) or "n,," without TLS, as libpq does.
func (c *SCRAMClient) First(mechanisms []string, binding []byte) (string, []byte, error) {
	if c.state != clientStart {
		return "", nil, c.fail(errors.New("scram login: First called twice"))
	}
	var mech string
	switch {
	case len(binding) > 0 && slices.Contains(mechanisms, MechanismSCRAMPlus):
		mech, c.gs2Header, c.binding = MechanismSCRAMPlus, "p="+tlsServerEndPoint+",,", bytes.Clone(binding)
	case slices.Contains(mechanisms, MechanismSCRAM):
		mech, c.gs2Header = MechanismSCRAM, "n,,"
		if len(binding) > 0 {
			c.gs2Header = "y,,"
		}
	case slices.Contains(mechanisms, MechanismSCRAMPlus):
		return "", nil, c.fail(errors.New("scram login: server offers only SCRAM-SHA-256-PLUS, but the connection has no channel binding"))
	default:
		return "", nil, c.fail(fmt.Errorf("scram login: server offers no supported SASL mechanism (%s)",
			sanitize(strings.Join(mechanisms, " "))))
	}
	if c.nonceGen != nil {
		c.nonce = c.nonceGen()
	} else {
		raw := make([]byte, rawNonceLen)
		_, _ = rand.Read(raw) // never fails: crypto/rand.Read crashes the program instead
		c.nonce = base64.StdEncoding.EncodeToString(raw)
	}
	c.clientFirstBare = "n=,r=" + c.nonce
	c.state = clientFirstSent
	return mech, []byte(c.gs2Header + c.clientFirstBare), nil
}

// Final answers the server-first-message with the client-final-message.
// With pass-through keys, the server's salt and iteration count must equal
// the stored ones; otherwise the error wraps ErrSecretMismatch.
func (c *SCRAMClient) Final(serverFirst []byte) ([]byte, error) {
	if c.state != clientFirstSent {
		return nil, c.fail(errors.New("scram login: server-first-message out of sequence"))
	}
	if len(serverFirst) > maxSCRAMMessage {
		return nil, c.fail(errors.New("scram login: server-first-message longer than 8 KiB"))
	}
	sf := string(serverFirst)
	m, err := parseServerFirst(sf)
	if err != nil {
		return nil, c.fail(fmt.Errorf("scram login: %w", err))
	}
	if len(m.nonce) <= len(c.nonce) || !strings.HasPrefix(m.nonce, c.nonce) || !isPrintable(m.nonce) {
		return nil, c.fail(errors.New("scram login: server nonce does not extend the client nonce"))
	}

	var clientKey, storedKey, serverKey []byte
	if k := c.keys; k != nil {
		if m.iterations != k.Iterations || !bytes.Equal(m.salt, k.Salt) {
			return nil, c.fail(fmt.Errorf("scram login: server uses another salt or iteration count than the stored secret (password changed?): %w",
				ErrSecretMismatch))
		}
		sum := sha256.Sum256(k.ClientKey)
		clientKey, storedKey, serverKey = k.ClientKey, sum[:], k.ServerKey
	} else {
		limit := maxClientIterations
		if c.maxIterations > 0 {
			limit = c.maxIterations
		}
		if m.iterations > limit {
			return nil, c.fail(fmt.Errorf("scram login: server demands %d iterations, more than %d", m.iterations, limit))
		}
		dk, err := deriveKeys(c.password, m.salt, m.iterations)
		if err != nil {
			return nil, c.fail(fmt.Errorf("scram login: %w", err))
		}
		clientKey, storedKey, serverKey = dk.clientKey, dk.storedKey, dk.serverKey
	}

	cbind := append([]byte(c.gs2Header), c.binding...)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(cbind) + ",r=" + m.nonce
	am := authMessage(c.clientFirstBare, sf, withoutProof)
	proof := xorKey(clientKey, hmacSHA256(storedKey, am))
	c.serverSignature = hmacSHA256(serverKey, am)
	c.state = clientFinalSent
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// Verify checks the server-final-message: an e= error from the server, or
// a server signature that proves the server knows the secret.
func (c *SCRAMClient) Verify(serverFinal []byte) error {
	if c.state != clientFinalSent {
		return c.fail(errors.New("scram login: server-final-message out of sequence"))
	}
	if len(serverFinal) > maxSCRAMMessage {
		return c.fail(errors.New("scram login: server-final-message longer than 8 KiB"))
	}
	sig, serverErr, err := parseServerFinal(string(serverFinal))
	switch {
	case err != nil:
		return c.fail(fmt.Errorf("scram login: %w", err))
	case serverErr != "":
		return c.fail(fmt.Errorf("scram login: server reported error %q", sanitize(serverErr)))
	case !hmac.Equal(sig, c.serverSignature):
		return c.fail(errors.New("scram login: server signature does not match: the server does not hold this secret"))
	}
	c.state = clientDone
	return nil
}

func (c *SCRAMClient) fail(err error) error {
	c.state = clientFailed
	return err
}
