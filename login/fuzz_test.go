package login

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/session"
)

// msg frames body as a client's password message ('p').
func msg(body string) []byte {
	b := []byte{'p', 0, 0, 0, 0}
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1))
	return b
}

// saslInitial is a SASLInitialResponse choosing mech with data.
func saslInitial(mech, data string) []byte {
	return msg(mech + "\x00" + string(binary.BigEndian.AppendUint32(nil, uint32(len(data)))) + data)
}

// The exchanges FuzzExchange drives, chosen by the input's first byte.
const (
	fuzzSCRAMPlain  = iota // SCRAM against a plaintext password
	fuzzSCRAMSecret        // SCRAM against a stored SCRAM secret
	fuzzMD5                // md5 against an md5 hash
	fuzzCleartext          // cleartext against a plaintext password
	fuzzExchanges
)

// FuzzExchange drives SCRAM, md5 and cleartext logins of a known user with
// arbitrary client bytes. Whatever the client sends, the exchange ends
// without panicking; it succeeds only with the right password (md5 salts
// and SCRAM nonces are fresh each time, so only the cleartext password
// itself can be sent blind), and only after Confirm; it fails with a
// *Failure, a protocol violation or a read error. The same bytes sent for
// an unknown user fail, and fail with exactly what the known user's wrong
// password got.
func FuzzExchange(f *testing.F) {
	first := "n,,n=,r=rOprNGfwEbeRWgbNEkqO"
	final := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	scram := append(saslInitial("SCRAM-SHA-256", first), msg(final)...)
	for m := range byte(fuzzExchanges) {
		f.Add(m, scram)
		f.Add(m, msg("pencil\x00"))
		f.Add(m, msg("crayon\x00"))
		f.Add(m, msg("md5"+authn.MD5Secret("alice", "pencil")[3:]+"\x00"))
	}
	f.Add(byte(fuzzSCRAMPlain), saslInitial("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abc"))
	f.Add(byte(fuzzSCRAMPlain), msg("SCRAM-SHA-256\x00\xff\xff\xff\xff"))
	f.Add(byte(fuzzSCRAMSecret), saslInitial("SCRAM-SHA-256", "n,,n=,r="))
	f.Add(byte(fuzzSCRAMSecret), append(saslInitial("SCRAM-SHA-256", first), msg("c=biws,r=x,p=AAAA")...))
	f.Add(byte(fuzzCleartext), []byte{'p', 0, 0, 0, 3})
	f.Add(byte(fuzzCleartext), []byte{'p', 0, 0, 0x20, 5})
	f.Add(byte(fuzzCleartext), []byte{'Q', 0, 0, 0, 4})
	f.Add(byte(fuzzMD5), msg("md5"))

	keyring := authn.NewKeyring()
	plain := authn.ParseSecret("pencil")
	fresh := authn.ParseSecret("crayon") // what Refetch finds: the password changed
	md5 := authn.ParseSecret(authn.MD5Secret("alice", "pencil"))
	stored := authn.ParseSecret(authn.SCRAMSecretFromPassword("pencil", []byte("0123456789abcdef"), 4096).String())

	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		which %= fuzzExchanges
		run := func(sec authn.Secret, known bool) (authn.Secret, int, error) {
			c := &Conn{In: bufio.NewReader(bytes.NewReader(data)), Out: io.Discard, User: "alice"}
			confirmed := 0
			h := Hooks{
				Confirm: func() error { confirmed++; return nil },
				Refetch: func() (authn.Secret, bool) { return fresh, known },
				CPU:     func(f func()) { f() },
			}
			var err error
			switch which {
			case fuzzSCRAMPlain, fuzzSCRAMSecret:
				_, err = SCRAM(c, keyring, sec, known, h)
			case fuzzMD5:
				sec, err = MD5(c, sec, known, h)
			case fuzzCleartext:
				sec, err = Cleartext(c, sec, known, h)
			}
			return sec, confirmed, err
		}
		sec := map[byte]authn.Secret{fuzzSCRAMPlain: plain, fuzzSCRAMSecret: stored, fuzzMD5: md5, fuzzCleartext: plain}[which]
		verified, confirmed, err := run(sec, true)
		if confirmed > 1 {
			t.Fatalf("Confirm called %d times", confirmed)
		}
		if err == nil {
			pw := clientPassword(data)
			switch {
			case which != fuzzCleartext:
				t.Fatalf("exchange %d succeeded with a blind guess", which)
			case confirmed != 1:
				t.Fatalf("succeeded after %d Confirm calls", confirmed)
			case pw == "pencil" && verified.Equal(plain), pw == "crayon" && verified.Equal(fresh):
			default:
				t.Fatalf("password %q verified against %v", pw, verified)
			}
			return
		}
		checkFailure(t, err, which)
		_, _, uerr := run(authn.Secret{}, false)
		if uerr == nil {
			t.Fatal("an unknown user logged in")
		}
		checkFailure(t, uerr, which)
		if a, b := clientSees(err), clientSees(uerr); a != b {
			t.Fatalf("known user gets %q, unknown user %q", a, b)
		}
	})
}

// clientPassword is the password in the first message of data, if it is
// one.
func clientPassword(data []byte) string {
	_, body, _, err := wire.ReadMessage(bufio.NewReader(bytes.NewReader(data)), nil, maxMessage)
	if err != nil {
		return ""
	}
	pw, _, _ := wire.CString(body)
	return pw
}

// checkFailure fails t unless err is how an exchange may fail: a *Failure
// (a wrong password always with the one answer), a protocol violation, or
// an error reading the client's messages.
func checkFailure(t *testing.T, err error, which byte) {
	t.Helper()
	var fail *Failure
	var we *wire.Error
	var fe *wire.FormatError
	switch {
	case errors.As(err, &fail):
		want := `password authentication failed for user "alice"`
		if which == fuzzSCRAMPlain || which == fuzzSCRAMSecret {
			want = "SASL authentication failed"
		}
		if fail.Client.Code == wire.CodeInvalidPassword && fail.Client.Message != want {
			t.Fatalf("wrong password answered %q", fail.Client.Message)
		}
	case errors.As(err, &we):
		if we.Code != wire.CodeProtocolViolation {
			t.Fatalf("%v: SQLSTATE %s outside a *Failure", we, we.Code)
		}
	case errors.As(err, &fe), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		t.Fatalf("exchange ended with %T %v", err, err)
	}
}

// clientSees is what an error tells the client.
func clientSees(err error) string {
	if we, ok := wire.AsError(err); ok {
		return we.Code + " " + we.Message
	}
	return "connection error"
}

// FuzzRelay passes arbitrary server requests and client answers through
// the relayed login: it ends without panicking; what it sends the server is
// one well-formed password message, at most 64 KiB long, which the
// client sent; a client that cannot be read is a client gone or a protocol
// violation, and only AuthenticationSASLFinal wants no answer.
func FuzzRelay(f *testing.F) {
	auth := func(code uint32, data string) []byte {
		return append(binary.BigEndian.AppendUint32(nil, code), data...)
	}
	f.Add(auth(wire.AuthSASL, "SCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00"), saslInitial("SCRAM-SHA-256", "n,,n=,r=abc"))
	f.Add(auth(wire.AuthSASL, "SCRAM-SHA-256-PLUS\x00\x00"), msg("x"))
	f.Add(auth(wire.AuthSASL, "SCRAM"), msg("x"))
	f.Add(auth(wire.AuthSASLContinue, "r=abc,s=c2FsdA==,i=4096"), msg("c=biws,r=abc,p=AAAA"))
	f.Add(auth(wire.AuthSASLFinal, "v=abc"), []byte(nil))
	f.Add(auth(wire.AuthMD5Password, "salt"), msg("md5abc\x00"))
	f.Add(auth(wire.AuthCleartextPassword, ""), []byte{'p', 0, 0, 0x20, 5})
	f.Add(auth(wire.AuthCleartextPassword, ""), []byte{'Q', 0, 0, 0, 4})
	f.Add(auth(7, ""), msg("x"))
	f.Add([]byte{0, 0}, msg("x"))
	f.Fuzz(func(t *testing.T, req, data []byte) {
		var sent bytes.Buffer
		c := &Conn{In: bufio.NewReader(bytes.NewReader(data)), Out: &sent, User: "alice"}
		out, err := Relay(c).Respond(req, nil)
		code, _, _ := wire.ParseAuth(req)
		if err != nil {
			if out != nil {
				t.Fatal("an answer with an error")
			}
			if _, ok := wire.AsError(err); ok {
				return
			}
			if errors.Is(err, session.ErrClientGone) && sent.Len() == 0 {
				t.Fatal("client gone before anything was sent to it")
			}
			return
		}
		if out == nil {
			if code != wire.AuthSASLFinal {
				t.Fatalf("no answer to request %d", code)
			}
			return
		}
		typ, body, _, rerr := wire.ReadMessage(bufio.NewReader(bytes.NewReader(out)), nil, 1<<20)
		switch {
		case rerr != nil || typ != 'p' || len(out) != 5+len(body):
			t.Fatalf("relayed a malformed message %q", out)
		case len(body) > maxMessage:
			t.Fatalf("relayed %d bytes", len(body))
		case !bytes.HasPrefix(data, out):
			t.Fatalf("relayed %q, which the client did not send", out)
		case sent.Len() == 0:
			t.Fatal("answered without asking the client")
		}
	})
}
