package login

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pgbun/pgbun/authn"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
)

// answer plays a client that knows password: it answers every
// authentication request on conn as pgbun's own server logins do, until
// AuthenticationSASLFinal (verified) or the end of the connection.
func answer(conn net.Conn, password string) error {
	r := bufio.NewReader(conn)
	a := pool.CredentialAuth("alice", authn.ServerCredentials{Password: password})
	for {
		typ, body, _, err := wire.ReadMessage(r, nil, maxMessage)
		if err != nil {
			return nil // the exchange ended without a final message
		}
		if typ != 'R' {
			return errors.New("not an authentication request")
		}
		resp, err := a.Respond(body, nil)
		if err != nil || resp == nil {
			return err
		}
		if _, err := conn.Write(resp); err != nil {
			return err
		}
	}
}

// runLogin runs exchange against a client that knows password.
func runLogin(t *testing.T, password string, exchange func(*Conn) error) error {
	t.Helper()
	srv, cli := net.Pipe()
	srv.SetDeadline(time.Now().Add(10 * time.Second))
	cli.SetDeadline(time.Now().Add(10 * time.Second))
	done := make(chan error, 1)
	go func() { done <- answer(cli, password) }()
	err := exchange(&Conn{In: bufio.NewReader(srv), Out: srv, User: "alice"})
	srv.Close()
	if cerr := <-done; cerr != nil {
		t.Fatalf("client: %v", cerr)
	}
	cli.Close()
	return err
}

// TestExchanges: a client that knows the password logs in by each method;
// a wrong password and an unknown user get the one answer, after Confirm;
// only a stored SCRAM secret yields pass-through keys.
func TestExchanges(t *testing.T) {
	keyring := authn.NewKeyring()
	plain := authn.ParseSecret("pencil")
	md5 := authn.ParseSecret(authn.MD5Secret("alice", "pencil"))
	stored := authn.ParseSecret(authn.SCRAMSecretFromPassword("pencil", []byte("0123456789abcdef"), 4096).String())
	for _, tc := range []struct {
		name string
		run  func(*Conn, Hooks) (*authn.PassThroughKeys, error)
		keys bool // a successful login yields pass-through keys
	}{
		{"scram/plain", func(c *Conn, h Hooks) (*authn.PassThroughKeys, error) { return SCRAM(c, keyring, plain, true, h) }, false},
		{"scram/stored", func(c *Conn, h Hooks) (*authn.PassThroughKeys, error) { return SCRAM(c, keyring, stored, true, h) }, true},
		{"md5", func(c *Conn, h Hooks) (*authn.PassThroughKeys, error) {
			_, err := MD5(c, md5, true, h)
			return nil, err
		}, false},
		{"cleartext", func(c *Conn, h Hooks) (*authn.PassThroughKeys, error) {
			_, err := Cleartext(c, plain, true, h)
			return nil, err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, pw := range []string{"pencil", "crayon"} {
				confirmed := 0
				var keys *authn.PassThroughKeys
				err := runLogin(t, pw, func(c *Conn) (err error) {
					keys, err = tc.run(c, Hooks{Confirm: func() error { confirmed++; return nil }})
					return err
				})
				if confirmed != 1 {
					t.Errorf("%s: Confirm called %d times", pw, confirmed)
				}
				if pw == "pencil" {
					if err != nil || (keys != nil) != tc.keys {
						t.Errorf("right password: %v, keys %v", err, keys)
					}
					continue
				}
				var f *Failure
				if !errors.As(err, &f) || f.Client.Code != wire.CodeInvalidPassword ||
					f.Client.Message != failedMessage(tc.name) || keys != nil {
					t.Errorf("wrong password: %v, keys %v", err, keys)
				}
			}
		})
	}

	// An unknown user gets the exchange and the answer of a wrong password.
	for name, run := range map[string]func(*Conn) error{
		"scram":     func(c *Conn) error { _, err := SCRAM(c, keyring, authn.Secret{}, false, Hooks{}); return err },
		"cleartext": func(c *Conn) error { _, err := Cleartext(c, authn.Secret{}, false, Hooks{}); return err },
		"md5":       func(c *Conn) error { _, err := MD5(c, authn.Secret{}, false, Hooks{}); return err },
	} {
		var f *Failure
		err := runLogin(t, "pencil", run)
		if !errors.As(err, &f) || f.Client.Code != wire.CodeInvalidPassword ||
			f.Client.Message != failedMessage(name) || f.Reason != "unknown user" {
			t.Errorf("%s: unknown user: %v", name, err)
		}
	}

	// A throttle that refuses at Confirm ends the login with its error.
	locked := errors.New("locked")
	err := runLogin(t, "pencil", func(c *Conn) error {
		_, err := SCRAM(c, keyring, stored, true, Hooks{Confirm: func() error { return locked }})
		return err
	})
	if err != locked {
		t.Errorf("throttled login: %v", err)
	}

	// A password changed since the cached secret: Refetch finds the new one.
	err = runLogin(t, "crayon", func(c *Conn) error {
		sec, err := Cleartext(c, plain, true, Hooks{Refetch: func() (authn.Secret, bool) { return authn.ParseSecret("crayon"), true }})
		if err == nil && !sec.Equal(authn.ParseSecret("crayon")) {
			t.Error("Cleartext did not return the secret that verified")
		}
		return err
	})
	if err != nil {
		t.Errorf("refetched secret: %v", err)
	}
}

// failedMessage is what a client is told when a login by method fails:
// PgBouncer's words for SCRAM, PostgreSQL's for the password methods.
func failedMessage(method string) string {
	if strings.HasPrefix(method, "scram") {
		return "SASL authentication failed"
	}
	return `password authentication failed for user "alice"`
}
