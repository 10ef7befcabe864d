package wire

import (
	"errors"
	"fmt"
)

// SQLSTATE codes pgbun itself sends.
const (
	CodeProtocolViolation   = "08P01"
	CodeConnectionFailure   = "08006"
	CodeConnectionRejected  = "08004" // sqlserver_rejected_establishment_of_sqlconnection
	CodeInvalidPassword     = "28P01"
	CodeInvalidAuthSpec     = "28000"
	CodeTooManyConnections  = "53300"
	CodeInvalidCatalogName  = "3D000"
	CodeFeatureNotSupported = "0A000"
	CodeAdminShutdown       = "57P01"
	CodeCannotConnectNow    = "57P03"
	CodeQueryCanceled       = "57014"
	CodeInternalError       = "XX000"
)

// Error is a PostgreSQL error as sent in an ErrorResponse: either one
// pgbun makes for its client, or one a server sent.
type Error struct {
	Severity string // FATAL, ERROR, ...
	Code     string // SQLSTATE
	Message  string
	Detail   string
	Hint     string
}

// Fatal builds a FATAL error for a client.
func Fatal(code, format string, args ...any) *Error {
	return &Error{Severity: "FATAL", Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %s (SQLSTATE %s): %s", e.Severity, e.Message, e.Code, e.Detail)
	}
	return fmt.Sprintf("%s: %s (SQLSTATE %s)", e.Severity, e.Message, e.Code)
}

// AsError finds a *Error in err's chain.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Append encodes e as an ErrorResponse.
func (e *Error) Append(dst []byte) []byte {
	dst, s := AppendHeader(dst, 'E')
	field := func(t byte, v string) {
		if v != "" {
			dst = append(dst, t)
			dst = append(dst, v...)
			dst = append(dst, 0)
		}
	}
	sev := e.Severity
	if sev == "" {
		sev = "ERROR"
	}
	field('S', sev)
	field('V', sev)
	field('C', e.Code)
	field('M', e.Message)
	field('D', e.Detail)
	field('H', e.Hint)
	dst = append(dst, 0)
	return Finish(dst, s)
}

// ParseError decodes the body of an ErrorResponse or NoticeResponse.
// Unknown fields are ignored; a truncated body yields what was readable.
func ParseError(body []byte) *Error {
	e := &Error{}
	for len(body) > 0 && body[0] != 0 {
		t := body[0]
		v, rest, ok := CString(body[1:])
		if !ok {
			break
		}
		body = rest
		switch t {
		case 'V':
			e.Severity = v
		case 'S':
			if e.Severity == "" {
				e.Severity = v
			}
		case 'C':
			e.Code = v
		case 'M':
			e.Message = v
		case 'D':
			e.Detail = v
		case 'H':
			e.Hint = v
		}
	}
	return e
}
