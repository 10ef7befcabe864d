package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/xdg-go/scram"
)

// SASL mechanism names.
const (
	MechanismSCRAM     = "SCRAM-SHA-256"
	MechanismSCRAMPlus = "SCRAM-SHA-256-PLUS"
)

type serverState int

const (
	serverStart     serverState = iota // waiting for client-first-message
	serverFirstSent                    // waiting for client-final-message
	serverSucceeded
	serverFailed
)

// SCRAMServer is the server side of one SCRAM-SHA-256 or SCRAM-SHA-256-PLUS
// login (RFC 5802, RFC 7677, channel binding tls-server-end-point of RFC
// 5929), with PostgreSQL's message rules. The SCRAM engine is xdg-go/scram;
// SCRAMServer adds PostgreSQL's checks, its error codes, the mock exchange
// and the recovery of the client's ClientKey. It is not safe for concurrent
// use. Every error it returns is an *Error and ends the login; after an
// error, every later call fails too.
type SCRAMServer struct {
	user    string       // from the startup packet; the SCRAM user name is ignored
	secret  *SCRAMSecret // verifies the exchange; a mock secret when doomed
	doomed  bool         // unknown user or unusable secret: fail at the proof
	reason  string       // why a doomed exchange fails, for the log
	binding []byte       // tls-server-end-point data, nil without channel binding
	state   serverState

	conv        *scram.ServerConversation
	first       clientFirstMsg
	serverFirst string
	nonce       string // client nonce + server nonce
	clientKey   []byte // recovered from the proof after success
}

// NewSCRAMServer starts the server side of a SCRAM login of user (the user
// of the startup packet). secret == nil means the user is unknown or has no
// usable secret: the exchange then runs with a mock secret derived from the
// keyring's mock key and the user name (the same salt every time for the
// same name, 4096 iterations like a real one) and fails at the proof with
// the same Code and Message as a wrong password, after the same work.
// binding is the tls-server-end-point channel-binding data of the
// certificate this connection served (see TLSServerEndpoint), or nil when
// the client is not on TLS or the certificate does not allow binding: then
// SCRAM-SHA-256-PLUS is not offered.
func (k *Keyring) NewSCRAMServer(user string, secret *SCRAMSecret, binding []byte) *SCRAMServer {
	reason := ""
	switch {
	case secret == nil:
		reason = "unknown user or no usable secret"
	case !secret.usable(): // iteration count below 1, no salt or wrong key sizes
		reason = "stored SCRAM secret is unusable"
	}
	return k.newServer(user, secret, reason, binding)
}

// NewSCRAMServerFor is NewSCRAMServer for a user looked up in a credential
// source: found and sec are what the lookup returned. It picks the SCRAM
// secret with SCRAMFor and, when there is none, records in the log-only
// Reason why the exchange is a mock one ("unknown user", "md5 secret cannot
// verify SCRAM", ...). The client sees nothing of this.
func (k *Keyring) NewSCRAMServerFor(user string, sec Secret, found bool, binding []byte) *SCRAMServer {
	if !found {
		return k.newServer(user, nil, "unknown user", binding)
	}
	if sc, ok := k.SCRAMFor(user, sec); ok {
		return k.newServer(user, sc, "", binding)
	}
	var reason string
	switch sec.Kind {
	case SecretMD5:
		reason = "md5 secret cannot verify SCRAM"
	case SecretPlain:
		reason = "empty password"
	case SecretSCRAM:
		reason = "stored SCRAM secret is unusable"
	default:
		reason = "no secret"
	}
	return k.newServer(user, nil, reason, binding)
}

func (k *Keyring) newServer(user string, secret *SCRAMSecret, reason string, binding []byte) *SCRAMServer {
	s := &SCRAMServer{user: user, secret: secret, reason: reason}
	if len(binding) > 0 {
		s.binding = append([]byte(nil), binding...)
	}
	// The mock secret is made for every exchange, used or not, so that an
	// unknown user's exchange costs what a known user's does and the time
	// to the first answer does not tell them apart.
	mock := k.mockSecret(user)
	if reason != "" || !secret.usable() {
		s.doomed = true
		s.secret = mock
		if s.reason == "" {
			s.reason = "unusable secret"
		}
	}
	creds := scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(s.secret.Salt), Iters: s.secret.Iterations},
		StoredKey:  s.secret.StoredKey,
		ServerKey:  s.secret.ServerKey,
	}
	// The lookup ignores the SCRAM user name: PostgreSQL clients send "n=".
	srv, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) { return creds, nil })
	if err != nil {
		return s // conv stays nil: First fails the login
	}
	if k.nonceGen != nil {
		srv = srv.WithNonceGenerator(k.nonceGen)
	}
	if s.binding != nil {
		// Not scram.NewTLSServerEndpointBinding: it hashes the peer's
		// certificate, which on a server is the client's.
		s.conv = srv.NewConversationWithChannelBinding(scram.ChannelBinding{
			Type: scram.ChannelBindingTLSServerEndpoint,
			Data: s.binding,
		})
	} else {
		s.conv = srv.NewConversation()
	}
	return s
}

// Mechanisms returns the SASL mechanisms to offer, in preference order:
// SCRAM-SHA-256-PLUS first when channel binding is available.
func (s *SCRAMServer) Mechanisms() []string {
	if s.binding != nil {
		return []string{MechanismSCRAMPlus, MechanismSCRAM}
	}
	return []string{MechanismSCRAM}
}

// First takes the mechanism the client selected and its client-first-message
// (the SASLInitialResponse data; PostgreSQL clients always send it) and
// returns the server-first-message to send in AuthenticationSASLContinue.
func (s *SCRAMServer) First(mechanism string, clientFirst []byte) ([]byte, error) {
	if s.state != serverStart {
		return s.fail(malformed("client-first-message out of sequence"))
	}
	var plus bool
	switch mechanism {
	case MechanismSCRAM:
	case MechanismSCRAMPlus:
		if s.binding == nil {
			return s.fail(bindingError(msgInvalidMechanism,
				"SCRAM-SHA-256-PLUS selected but channel binding is not available on this connection"))
		}
		plus = true
	default:
		return s.fail(protocolError(msgInvalidMechanism, "unknown mechanism "+sanitize(mechanism)))
	}
	if e := checkMessage(clientFirst); e != nil {
		return s.fail(e)
	}
	m, e := parseClientFirst(string(clientFirst))
	if e != nil {
		return s.fail(e)
	}
	switch m.flag {
	case 'n', 'y':
		if plus {
			return s.fail(malformed("client selected SCRAM-SHA-256-PLUS, but the message has no channel binding"))
		}
		if m.flag == 'y' && s.binding != nil {
			return s.fail(bindingError(msgBindingNegotiation,
				"client supports channel binding and thinks the server does not, but SCRAM-SHA-256-PLUS was offered (downgrade)"))
		}
	case 'p':
		if !plus {
			return s.fail(malformed("client selected SCRAM-SHA-256 without channel binding, but the message requests channel binding"))
		}
		if m.cbName != tlsServerEndPoint {
			return s.fail(protocolError(msgUnsupportedBinding+` "`+sanitize(m.cbName)+`"`,
				"unsupported channel-binding type"))
		}
	}
	if s.conv == nil {
		return s.fail(authFailed(s.user, "SCRAM engine unavailable"))
	}
	serverFirst, err := s.conv.Step(string(clientFirst))
	if err != nil {
		return s.fail(malformed("rejected by the SCRAM engine: " + sanitize(err.Error())))
	}
	nonce, _, _ := strings.Cut(strings.TrimPrefix(serverFirst, "r="), ",")
	s.first, s.serverFirst, s.nonce = m, serverFirst, nonce
	s.state = serverFirstSent
	return []byte(serverFirst), nil
}

// Final takes the client-final-message and, when the proof is right,
// returns the server-final-message to send in AuthenticationSASLFinal. A
// wrong proof, and every mock exchange, yields 28P01 "password
// authentication failed for user ..." (PostgreSQL sends an ErrorResponse,
// not SCRAM's e=invalid-proof).
func (s *SCRAMServer) Final(clientFinal []byte) ([]byte, error) {
	if s.state != serverFirstSent {
		return s.fail(malformed("client-final-message out of sequence"))
	}
	if e := checkMessage(clientFinal); e != nil {
		return s.fail(e)
	}
	m, e := parseClientFinal(string(clientFinal))
	if e != nil {
		return s.fail(e)
	}
	cbind := []byte(s.first.gs2Header)
	if s.first.flag == 'p' {
		cbind = append(cbind, s.binding...)
	}
	want := base64.StdEncoding.EncodeToString(cbind)
	if s.first.flag == 'p' {
		if subtle.ConstantTimeCompare([]byte(m.cbind), []byte(want)) != 1 {
			return s.fail(bindingError(msgBindingCheckFailed,
				"channel binding data does not match the certificate this connection served"))
		}
	} else if m.cbind != want {
		return s.fail(protocolError(msgUnexpectedBindAttr, "c= does not repeat the gs2 header"))
	}
	if m.nonce != s.nonce {
		return s.fail(protocolError(msgInvalidResponse, "nonce mismatch"))
	}

	serverFinal, engineErr := s.conv.Step(string(clientFinal))

	// Recover ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage) and
	// check H(ClientKey) == StoredKey. This runs for mock exchanges too, so
	// that unknown users cost the same as wrong passwords.
	sig := hmacSHA256(s.secret.StoredKey, authMessage(s.first.bare, s.serverFirst, m.withoutProof))
	clientKey := xorKey(m.proof, sig)
	stored := sha256.Sum256(clientKey)
	proofOK := subtle.ConstantTimeCompare(stored[:], s.secret.StoredKey) == 1

	switch {
	case s.doomed:
		return s.fail(authFailed(s.user, s.reason))
	case !proofOK:
		return s.fail(authFailed(s.user, "proof mismatch"))
	case engineErr != nil || !s.conv.Valid():
		// The proof verified here but not in the engine: they parsed the
		// message differently. Refuse rather than guess.
		return s.fail(malformed("rejected by the SCRAM engine: " + errText(engineErr)))
	}
	s.clientKey = clientKey
	s.state = serverSucceeded
	return []byte(serverFinal), nil
}

// ClientKey returns the client's ClientKey after a successful Final, for
// SCRAM pass-through; nil otherwise. It was verified: H(ClientKey) equals
// the StoredKey of the secret used.
func (s *SCRAMServer) ClientKey() []byte {
	if s.state != serverSucceeded {
		return nil
	}
	return append([]byte(nil), s.clientKey...)
}

// PassThroughKeys returns, after a successful Final, the keys that log in to
// PostgreSQL as this user without the password: the recovered ClientKey and
// the ServerKey, salt and iteration count of the secret used. They work only
// where that secret is byte-identical to the server's pg_authid secret, so
// not for secrets SCRAMFor derived from plaintext passwords. It returns nil
// before success.
func (s *SCRAMServer) PassThroughKeys() *PassThroughKeys {
	if s.state != serverSucceeded {
		return nil
	}
	return &PassThroughKeys{
		ClientKey:  append([]byte(nil), s.clientKey...),
		ServerKey:  append([]byte(nil), s.secret.ServerKey...),
		Salt:       append([]byte(nil), s.secret.Salt...),
		Iterations: s.secret.Iterations,
	}
}

func (s *SCRAMServer) fail(e *Error) ([]byte, error) {
	s.state = serverFailed
	return nil, e
}

func errText(err error) string {
	if err == nil {
		return "conversation not valid"
	}
	return sanitize(err.Error())
}
