package authn

import (
	"fmt"
	"strconv"
	"strings"
)

// Parsers of SCRAM messages with PostgreSQL's grammar and error precedence
// (read_client_first_message, read_client_final_message in
// src/backend/libpq/auth-scram.c), and of the server's messages with libpq's.
// They never allocate more than the input they are given, which callers
// bound by maxSCRAMMessage.

// tlsServerEndPoint is the only channel-binding type PostgreSQL supports.
const tlsServerEndPoint = "tls-server-end-point"

// clientFirstMsg is a parsed client-first-message.
type clientFirstMsg struct {
	flag      byte   // gs2-cbind-flag: 'n', 'y' or 'p'
	cbName    string // channel-binding type after "p="
	gs2Header string // e.g. "n,,"; what c= must repeat
	bare      string // client-first-message-bare, part of AuthMessage
	nonce     string // c-nonce
}

// clientFinalMsg is a parsed client-final-message.
type clientFinalMsg struct {
	cbind        string // base64 text of the c= attribute
	nonce        string
	proof        []byte
	withoutProof string // client-final-message-without-proof
}

// checkMessage applies the checks PostgreSQL's scram_exchange makes before
// parsing, plus pgbun's size bound.
func checkMessage(msg []byte) *Error {
	switch {
	case len(msg) == 0:
		return malformed("empty message")
	case len(msg) > maxSCRAMMessage:
		return malformed("message longer than 8 KiB")
	case strings.IndexByte(string(msg), 0) >= 0:
		// PostgreSQL reads the message as a C string: "length mismatch".
		return malformed("NUL byte in message")
	}
	return nil
}

// readAttr reads "<attr>=<value>" at the start of s up to the next comma
// and returns the value and the rest after that comma.
func readAttr(s string, attr byte) (value, rest string, err *Error) {
	if len(s) == 0 || s[0] != attr {
		return "", "", malformed("expected attribute \"" + string(attr) + "\"")
	}
	if len(s) < 2 || s[1] != '=' {
		return "", "", malformed("expected \"=\" after attribute \"" + string(attr) + "\"")
	}
	value, rest, _ = strings.Cut(s[2:], ",")
	return value, rest, nil
}

// readAnyAttr reads an extension attribute: an ASCII letter, '=', a value.
func readAnyAttr(s string) (attr byte, value, rest string, err *Error) {
	if len(s) == 0 {
		return 0, "", "", malformed("attribute expected, found end of message")
	}
	attr = s[0]
	if !('A' <= attr && attr <= 'Z' || 'a' <= attr && attr <= 'z') {
		return 0, "", "", malformed("attribute expected, found an invalid character")
	}
	value, rest, err = readAttr(s, attr)
	return attr, value, rest, err
}

func parseClientFirst(msg string) (clientFirstMsg, *Error) {
	var m clientFirstMsg
	if msg == "" {
		return m, malformed("empty message")
	}
	p := msg
	m.flag = p[0]
	switch m.flag {
	case 'n', 'y':
		if len(p) < 2 || p[1] != ',' {
			return m, malformed("comma expected after channel-binding flag")
		}
		p = p[2:]
	case 'p':
		var err *Error
		m.cbName, p, err = readAttr(p, 'p')
		if err != nil {
			return m, err
		}
	default:
		return m, malformed("unexpected channel-binding flag")
	}
	if strings.HasPrefix(p, "a") {
		return m, unsupported(msgAuthzidUnsupported)
	}
	if !strings.HasPrefix(p, ",") {
		return m, malformed("unexpected attribute in client-first-message")
	}
	p = p[1:]
	m.gs2Header = msg[:len(msg)-len(p)]
	m.bare = p
	if strings.HasPrefix(p, "m") {
		return m, unsupported(msgExtensionUnsupported)
	}
	// The SCRAM user name is ignored: PostgreSQL clients send "n=" and the
	// user is the one of the startup packet.
	_, p, err := readAttr(p, 'n')
	if err != nil {
		return m, err
	}
	if m.nonce, p, err = readAttr(p, 'r'); err != nil {
		return m, err
	}
	if m.nonce == "" || !isPrintable(m.nonce) {
		return m, protocolError(msgNonPrintableNonce, "client nonce empty or not printable")
	}
	for p != "" {
		if _, _, p, err = readAnyAttr(p); err != nil {
			return m, err
		}
	}
	return m, nil
}

func parseClientFinal(msg string) (clientFinalMsg, *Error) {
	var m clientFinalMsg
	cbind, p, err := readAttr(msg, 'c')
	if err != nil {
		return m, err
	}
	m.cbind = cbind
	if m.nonce, p, err = readAttr(p, 'r'); err != nil {
		return m, err
	}
	// Extensions may precede the proof, which must come last.
	for {
		proofAt := len(msg) - len(p)
		var attr byte
		var value string
		if attr, value, p, err = readAnyAttr(p); err != nil {
			return m, err
		}
		if attr != 'p' {
			continue
		}
		if p != "" || strings.HasSuffix(msg, ",") {
			return m, malformed("garbage after the proof in client-final-message")
		}
		proof, ok := pgB64Decode(value)
		if !ok || len(proof) != scramKeyLen {
			return m, malformed("malformed proof in client-final-message")
		}
		m.proof = proof
		m.withoutProof = msg[:proofAt-1] // without the comma before "p="
		return m, nil
	}
}

// serverFirstMsg is a parsed server-first-message.
type serverFirstMsg struct {
	nonce      string
	salt       []byte
	iterations int
}

// parseServerFirst parses a server-first-message with libpq's rules
// (read_server_first_message in fe-auth-scram.c): r, s and i in that order
// and nothing after them.
func parseServerFirst(msg string) (serverFirstMsg, error) {
	var m serverFirstMsg
	nonce, p, err := readAttr(msg, 'r')
	if err != nil {
		return m, fmt.Errorf("malformed server-first-message: %s", err.Reason)
	}
	salt, p, err := readAttr(p, 's')
	if err != nil {
		return m, fmt.Errorf("malformed server-first-message: %s", err.Reason)
	}
	iters, p, err := readAttr(p, 'i')
	if err != nil {
		return m, fmt.Errorf("malformed server-first-message: %s", err.Reason)
	}
	if p != "" || strings.HasSuffix(msg, ",") {
		return m, fmt.Errorf("malformed server-first-message: garbage at the end")
	}
	m.nonce = nonce
	var ok bool
	if m.salt, ok = pgB64Decode(salt); !ok || len(m.salt) == 0 {
		return m, fmt.Errorf("malformed server-first-message: invalid salt")
	}
	n, convErr := strconv.Atoi(iters)
	if convErr != nil || n < 1 || strings.TrimLeft(iters, "0123456789") != "" {
		return m, fmt.Errorf("malformed server-first-message: invalid iteration count")
	}
	m.iterations = n
	return m, nil
}

// parseServerFinal parses a server-final-message: "v=" with the server
// signature, or "e=" with a server error, either optionally followed by
// extensions (RFC 5802 section 7).
func parseServerFinal(msg string) (verifier []byte, serverErr string, err error) {
	if strings.HasPrefix(msg, "e=") {
		e, _, _ := strings.Cut(msg[2:], ",")
		return nil, e, nil
	}
	v, p, aerr := readAttr(msg, 'v')
	if aerr != nil {
		return nil, "", fmt.Errorf("malformed server-final-message: %s", aerr.Reason)
	}
	for p != "" {
		if _, _, p, aerr = readAnyAttr(p); aerr != nil {
			return nil, "", fmt.Errorf("malformed server-final-message: %s", aerr.Reason)
		}
	}
	sig, ok := pgB64Decode(v)
	if !ok || len(sig) != scramKeyLen {
		return nil, "", fmt.Errorf("malformed server-final-message: invalid server signature")
	}
	return sig, "", nil
}

// isPrintable reports whether s has only RFC 5802 "printable" characters:
// ASCII 0x21-0x7E except ','.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// sanitize renders untrusted text from a server for a log line: printable
// ASCII only, at most 64 characters.
func sanitize(s string) string {
	const limit = 64
	var b strings.Builder
	for i := 0; i < len(s) && i < limit; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	if len(s) > limit {
		b.WriteString("...")
	}
	return b.String()
}
