package authn

import "errors"

// SQLSTATE codes of the errors that end a client's login.
const (
	codeInvalidPassword      = "28P01" // wrong password, unknown user, mock exchange
	codeInvalidAuthorization = "28000" // channel binding failures
	codeProtocolViolation    = "08P01" // malformed SASL/SCRAM message, wrong mechanism
	codeFeatureNotSupported  = "0A000" // SCRAM authzid or mandatory extensions
)

// Client-facing messages, in PostgreSQL's wording (src/backend/libpq/auth-scram.c,
// auth-sasl.c).
const (
	msgMalformedSCRAM       = "malformed SCRAM message"
	msgInvalidMechanism     = "client selected an invalid SASL authentication mechanism"
	msgBindingCheckFailed   = "SCRAM channel binding check failed"
	msgBindingNegotiation   = "SCRAM channel binding negotiation error"
	msgUnsupportedBinding   = "unsupported SCRAM channel-binding type"
	msgUnexpectedBindAttr   = "unexpected SCRAM channel-binding attribute in client-final-message"
	msgInvalidResponse      = "invalid SCRAM response"
	msgNonPrintableNonce    = "non-printable characters in SCRAM nonce"
	msgAuthzidUnsupported   = "client uses authorization identity, but it is not supported"
	msgExtensionUnsupported = "client requires an unsupported SCRAM extension"
)

// Error ends a client's login. Code and Message are what the client may be
// told (in an ErrorResponse); Reason is for the log only. None of the three
// ever contains a password or secret. For an unknown user and for a wrong
// password, Code and Message are identical so that a client cannot tell them
// apart; only Reason differs.
type Error struct {
	Code    string // SQLSTATE
	Message string // client-facing, PostgreSQL's wording where it has one
	Reason  string // log-only detail
}

// Error returns Message and Reason, for logs. It never contains a secret.
func (e *Error) Error() string {
	if e.Reason == "" {
		return e.Message
	}
	return e.Message + ": " + e.Reason
}

// ErrSecretMismatch reports that PostgreSQL answered a SCRAM login with a
// salt or iteration count other than those of the stored SCRAM secret used
// for pass-through: the role's password was changed since the secret was
// stored, and pass-through keys derived from the old one cannot log in.
var ErrSecretMismatch = errors.New("stored SCRAM secret does not match the server's")

// authFailed is PostgreSQL's answer to a wrong password, which pgbun also
// gives for unknown users and unusable secrets. The user name is printed as
// sent, not quoted Go-style: clients match on PostgreSQL's exact text.
func authFailed(user, reason string) *Error {
	return &Error{
		Code:    codeInvalidPassword,
		Message: `password authentication failed for user "` + user + `"`,
		Reason:  reason,
	}
}

func malformed(reason string) *Error {
	return &Error{Code: codeProtocolViolation, Message: msgMalformedSCRAM, Reason: reason}
}

func protocolError(message, reason string) *Error {
	return &Error{Code: codeProtocolViolation, Message: message, Reason: reason}
}

func bindingError(message, reason string) *Error {
	return &Error{Code: codeInvalidAuthorization, Message: message, Reason: reason}
}

func unsupported(message string) *Error {
	return &Error{Code: codeFeatureNotSupported, Message: message, Reason: message}
}
