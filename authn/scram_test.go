package authn

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// exchange runs a whole SCRAM login between c and s. clientBinding is the
// binding data the client computed from the certificate it saw.
func exchange(c *SCRAMClient, s *SCRAMServer, clientBinding []byte) (mechanism string, err error) {
	mech, cf, err := c.First(s.Mechanisms(), clientBinding)
	if err != nil {
		return "", err
	}
	sf, err := s.First(mech, cf)
	if err != nil {
		return mech, err
	}
	cfin, err := c.Final(sf)
	if err != nil {
		return mech, err
	}
	sfin, err := s.Final(cfin)
	if err != nil {
		return mech, err
	}
	return mech, c.Verify(sfin)
}

func mustClient(t testing.TB, cred ServerCredentials) *SCRAMClient {
	t.Helper()
	c, err := NewSCRAMClient(cred)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustSCRAM(t testing.TB, secret string) *SCRAMSecret {
	t.Helper()
	sc, ok := ParseSecret(secret).SCRAM()
	if !ok {
		t.Fatalf("not a SCRAM secret")
	}
	return sc
}

// wantError asserts that err is an *Error with the given code and message.
func wantError(t *testing.T, err error, code, message string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if e.Code != code || e.Message != message {
		t.Fatalf("error %q/%q (%s), want %q/%q", e.Code, e.Message, e.Reason, code, message)
	}
	return e
}

func TestSCRAMRoundTripPostgresSecrets(t *testing.T) {
	k := NewKeyring()
	for _, tc := range pgSCRAMSecrets {
		t.Run(tc.name, func(t *testing.T) {
			sc := mustSCRAM(t, tc.secret)
			s := k.NewSCRAMServer("u", sc, nil)
			if _, err := exchange(mustClient(t, ServerCredentials{Password: tc.password}), s, nil); err != nil {
				t.Fatal(err)
			}
			// The recovered ClientKey is the one the password derives: what
			// pass-through sends to PostgreSQL in place of the password.
			keys, err := deriveKeys(tc.password, sc.Salt, sc.Iterations)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s.ClientKey(), keys.clientKey) {
				t.Fatalf("recovered ClientKey %x, derived %x", s.ClientKey(), keys.clientKey)
			}
		})
	}
}

func TestSCRAMPlaintextSecret(t *testing.T) {
	k := NewKeyring()
	ul, _, err := ParseUserlist(strings.NewReader(`"alice" "s3cret"`), "f")
	if err != nil {
		t.Fatal(err)
	}
	sec, found := ul.Lookup("alice")
	s := k.NewSCRAMServerFor("alice", sec, found, nil)
	if _, err := exchange(mustClient(t, ServerCredentials{Password: "s3cret"}), s, nil); err != nil {
		t.Fatal(err)
	}

	a, ok1 := k.SCRAMFor("alice", sec)
	b, ok2 := k.SCRAMFor("alice", sec)
	if !ok1 || !ok2 || a != b {
		t.Fatal("derived secret not cached")
	}
	if a.Iterations != defaultIterations || len(a.Salt) != defaultSaltLen {
		t.Fatalf("derived secret: %d iterations, %d-byte salt", a.Iterations, len(a.Salt))
	}
	other, _ := k.SCRAMFor("alice", ParseSecret("changed"))
	if other == a || !bytes.Equal(other.Salt, a.Salt) {
		t.Fatal("a changed password must derive a new secret with the same salt")
	}
	// Adding or removing a user does not show: an unknown user of the same
	// name gets the same salt.
	if got := saltOf(t, k.NewSCRAMServer("alice", nil, nil)); !bytes.Equal(got, a.Salt) {
		t.Fatal("mock salt differs from the derived salt")
	}
	if _, ok := k.SCRAMFor("alice", ParseSecret(pgMD5)); ok {
		t.Fatal("md5 secret cannot verify SCRAM")
	}
	if _, ok := k.SCRAMFor("alice", ParseSecret("")); ok {
		t.Fatal("empty password must not verify SCRAM")
	}
	if sc, ok := k.SCRAMFor("alice", ParseSecret(pgSecret)); !ok || sc.String() != pgSecret {
		t.Fatal("SCRAM secret must be returned as is")
	}
}

func TestKeyringCacheBounded(t *testing.T) {
	k := NewKeyring()
	k.max = 3
	for i := range 10 {
		if _, ok := k.SCRAMFor("u", ParseSecret(strings.Repeat("p", i+1))); !ok {
			t.Fatal("derivation failed")
		}
	}
	if n := len(k.cache); n != 3 {
		t.Fatalf("cache holds %d secrets, want 3", n)
	}
}

// saltOf runs the first half of an exchange and returns the salt the
// server announced.
func saltOf(t *testing.T, s *SCRAMServer) []byte {
	t.Helper()
	sf, err := s.First(MechanismSCRAM, []byte("n,,n=,r=abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseServerFirst(string(sf))
	if err != nil {
		t.Fatal(err)
	}
	if m.iterations != defaultIterations {
		t.Fatalf("iterations %d", m.iterations)
	}
	return m.salt
}

func TestSCRAMUnknownUserLooksLikeWrongPassword(t *testing.T) {
	k := NewKeyring()
	sc := mustSCRAM(t, pgSecret)
	client := func() *SCRAMClient { return mustClient(t, ServerCredentials{Password: "wrong"}) }
	const msg = `password authentication failed for user "bob"`
	cases := []struct {
		name   string
		server *SCRAMServer
		reason string
	}{
		{"wrong password", k.NewSCRAMServer("bob", sc, nil), "proof mismatch"},
		{"unknown user", k.NewSCRAMServer("bob", nil, nil), "unknown user or no usable secret"},
		{"unknown user via lookup", k.NewSCRAMServerFor("bob", Secret{}, false, nil), "unknown user"},
		{"md5 secret", k.NewSCRAMServerFor("bob", ParseSecret(pgMD5), true, nil), "md5 secret cannot verify SCRAM"},
		{"empty password", k.NewSCRAMServerFor("bob", ParseSecret(""), true, nil), "empty password"},
		{"unusable secret", k.NewSCRAMServer("bob", mustSCRAM(t, strings.Replace(pgSecret, "$4096:", "$0:", 1)), nil),
			"stored SCRAM secret is unusable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := exchange(client(), tc.server, nil)
			e := wantError(t, err, codeInvalidPassword, msg)
			if e.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", e.Reason, tc.reason)
			}
			if tc.server.ClientKey() != nil {
				t.Fatal("ClientKey after a failed login")
			}
		})
	}
	// The right password does not help a mock exchange.
	_, err := exchange(mustClient(t, ServerCredentials{Password: pgPassword}), k.NewSCRAMServer("bob", nil, nil), nil)
	wantError(t, err, codeInvalidPassword, msg)

	// The mock salt is stable per name and differs between names.
	s1, s2 := saltOf(t, k.NewSCRAMServer("bob", nil, nil)), saltOf(t, k.NewSCRAMServer("bob", nil, nil))
	s3 := saltOf(t, k.NewSCRAMServer("carol", nil, nil))
	if !bytes.Equal(s1, s2) || bytes.Equal(s1, s3) || len(s1) != defaultSaltLen {
		t.Fatalf("mock salts %x %x %x", s1, s2, s3)
	}
}

func TestSCRAMChannelBinding(t *testing.T) {
	k := NewKeyring()
	sc := mustSCRAM(t, pgSecret)
	binding := bytes.Repeat([]byte{0xab}, 32)
	other := bytes.Repeat([]byte{0xcd}, 32)
	pw := ServerCredentials{Password: pgPassword}

	t.Run("plus with matching binding", func(t *testing.T) {
		s := k.NewSCRAMServer("u", sc, binding)
		if got := s.Mechanisms(); len(got) != 2 || got[0] != MechanismSCRAMPlus || got[1] != MechanismSCRAM {
			t.Fatalf("mechanisms %q", got)
		}
		mech, err := exchange(mustClient(t, pw), s, binding)
		if err != nil || mech != MechanismSCRAMPlus {
			t.Fatalf("mechanism %s, err %v", mech, err)
		}
	})
	t.Run("plus with another certificate", func(t *testing.T) {
		_, err := exchange(mustClient(t, pw), k.NewSCRAMServer("u", sc, binding), other)
		wantError(t, err, codeInvalidAuthorization, msgBindingCheckFailed)
	})
	t.Run("downgrade: y while plus was offered", func(t *testing.T) {
		c := mustClient(t, pw)
		s := k.NewSCRAMServer("u", sc, binding)
		// A man in the middle stripped SCRAM-SHA-256-PLUS from the offer.
		mech, cf, err := c.First([]string{MechanismSCRAM}, binding)
		if err != nil || !bytes.HasPrefix(cf, []byte("y,,")) {
			t.Fatalf("client-first %q, err %v", cf, err)
		}
		_, err = s.First(mech, cf)
		wantError(t, err, codeInvalidAuthorization, msgBindingNegotiation)
	})
	t.Run("y accepted when plus is not offered", func(t *testing.T) {
		s := k.NewSCRAMServer("u", sc, nil)
		if got := s.Mechanisms(); len(got) != 1 || got[0] != MechanismSCRAM {
			t.Fatalf("mechanisms %q", got)
		}
		if _, err := exchange(mustClient(t, pw), s, binding); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("n accepted when plus is offered", func(t *testing.T) {
		mech, err := exchange(mustClient(t, pw), k.NewSCRAMServer("u", sc, binding), nil)
		if err != nil || mech != MechanismSCRAM {
			t.Fatalf("mechanism %s, err %v", mech, err)
		}
	})
	t.Run("plus without binding", func(t *testing.T) {
		_, err := k.NewSCRAMServer("u", sc, nil).First(MechanismSCRAMPlus, []byte("p=tls-server-end-point,,n=,r=abc"))
		wantError(t, err, codeInvalidAuthorization, msgInvalidMechanism)
	})
	t.Run("p flag with SCRAM-SHA-256", func(t *testing.T) {
		_, err := k.NewSCRAMServer("u", sc, binding).First(MechanismSCRAM, []byte("p=tls-server-end-point,,n=,r=abc"))
		wantError(t, err, codeProtocolViolation, msgMalformedSCRAM)
	})
	t.Run("n flag with SCRAM-SHA-256-PLUS", func(t *testing.T) {
		_, err := k.NewSCRAMServer("u", sc, binding).First(MechanismSCRAMPlus, []byte("n,,n=,r=abc"))
		wantError(t, err, codeProtocolViolation, msgMalformedSCRAM)
	})
	t.Run("unsupported binding type", func(t *testing.T) {
		_, err := k.NewSCRAMServer("u", sc, binding).First(MechanismSCRAMPlus, []byte("p=tls-unique,,n=,r=abc"))
		wantError(t, err, codeProtocolViolation, msgUnsupportedBinding+` "tls-unique"`)
	})
}

// RFC 7677 section 3: the SCRAM-SHA-256 exchange of user "user" with
// password "pencil".
const (
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

func TestSCRAMServerRFC7677(t *testing.T) {
	k := NewKeyring()
	k.nonceGen = func() string { return rfcServerNonce }
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	s := k.NewSCRAMServer("user", SCRAMSecretFromPassword("pencil", salt, 4096), nil)
	sf, err := s.First(MechanismSCRAM, []byte(rfcClientFirst))
	if err != nil || string(sf) != rfcServerFirst {
		t.Fatalf("server-first %q, err %v", sf, err)
	}
	sfin, err := s.Final([]byte(rfcClientFinal))
	if err != nil || string(sfin) != rfcServerFinal {
		t.Fatalf("server-final %q, err %v", sfin, err)
	}
}

func TestSCRAMClientProofMatchesRFC7677Math(t *testing.T) {
	// The RFC's client sends n=user where pgbun sends n=, so replay its
	// math: a client with the RFC's nonce, against the RFC's server-first
	// rewritten to pgbun's client-first-bare, must agree with our server.
	k := NewKeyring()
	k.nonceGen = func() string { return rfcServerNonce }
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	s := k.NewSCRAMServer("user", SCRAMSecretFromPassword("pencil", salt, 4096), nil)
	c := mustClient(t, ServerCredentials{Password: "pencil"})
	c.nonceGen = func() string { return "rOprNGfwEbeRWgbNEkqO" }
	if _, err := exchange(c, s, nil); err != nil {
		t.Fatal(err)
	}
}

func TestXDGClientAgainstServer(t *testing.T) {
	k := NewKeyring()
	sc := mustSCRAM(t, pgSecret)
	binding := bytes.Repeat([]byte{0x42}, 48)
	xc, err := scram.SHA256.NewClient("", pgPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	run := func(conv *scram.ClientConversation, s *SCRAMServer, mech string) error {
		cf, err := conv.Step("")
		if err != nil {
			return err
		}
		sf, err := s.First(mech, []byte(cf))
		if err != nil {
			return err
		}
		cfin, err := conv.Step(string(sf))
		if err != nil {
			return err
		}
		sfin, err := s.Final([]byte(cfin))
		if err != nil {
			return err
		}
		if _, err := conv.Step(string(sfin)); err != nil {
			return err
		}
		if !conv.Valid() {
			return errors.New("xdg client: conversation not valid")
		}
		return nil
	}
	if err := run(xc.NewConversation(), k.NewSCRAMServer("u", sc, nil), MechanismSCRAM); err != nil {
		t.Fatalf("plain: %v", err)
	}
	cb := scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: binding}
	if err := run(xc.NewConversationWithChannelBinding(cb), k.NewSCRAMServer("u", sc, binding), MechanismSCRAMPlus); err != nil {
		t.Fatalf("plus: %v", err)
	}
	err = run(xc.NewConversationAdvertisingChannelBinding(), k.NewSCRAMServer("u", sc, binding), MechanismSCRAM)
	wantError(t, err, codeInvalidAuthorization, msgBindingNegotiation)
}

func TestSCRAMServerRejectsMalformed(t *testing.T) {
	k := NewKeyring()
	sc := mustSCRAM(t, pgSecret)
	long := append([]byte("n,,n=,r=abc,x="), bytes.Repeat([]byte("y"), maxSCRAMMessage)...)
	firsts := []struct {
		name, mech, msg string
		code            string
		message         string
	}{
		{"empty", MechanismSCRAM, "", codeProtocolViolation, msgMalformedSCRAM},
		{"too long", MechanismSCRAM, string(long), codeProtocolViolation, msgMalformedSCRAM},
		{"NUL", MechanismSCRAM, "n,,n=,r=ab\x00c", codeProtocolViolation, msgMalformedSCRAM},
		{"unknown mechanism", "SCRAM-SHA-1", "n,,n=,r=abc", codeProtocolViolation, msgInvalidMechanism},
		{"bad flag", MechanismSCRAM, "x,,n=,r=abc", codeProtocolViolation, msgMalformedSCRAM},
		{"no comma after flag", MechanismSCRAM, "nn=,r=abc", codeProtocolViolation, msgMalformedSCRAM},
		{"authzid", MechanismSCRAM, "n,a=admin,n=,r=abc", codeFeatureNotSupported, msgAuthzidUnsupported},
		{"mandatory extension", MechanismSCRAM, "n,,m=ext,n=,r=abc", codeFeatureNotSupported, msgExtensionUnsupported},
		{"no user name", MechanismSCRAM, "n,,r=abc", codeProtocolViolation, msgMalformedSCRAM},
		{"no nonce", MechanismSCRAM, "n,,n=", codeProtocolViolation, msgMalformedSCRAM},
		{"empty nonce", MechanismSCRAM, "n,,n=,r=", codeProtocolViolation, msgNonPrintableNonce},
		{"non-printable nonce", MechanismSCRAM, "n,,n=,r=a\x7fb", codeProtocolViolation, msgNonPrintableNonce},
		{"bad extension", MechanismSCRAM, "n,,n=,r=abc,1=x", codeProtocolViolation, msgMalformedSCRAM},
		{"bad user name encoding", MechanismSCRAM, "n,,n=a=b,r=abc", codeProtocolViolation, msgMalformedSCRAM},
	}
	for _, tt := range firsts {
		t.Run("first/"+tt.name, func(t *testing.T) {
			s := k.NewSCRAMServer("u", sc, nil)
			_, err := s.First(tt.mech, []byte(tt.msg))
			wantError(t, err, tt.code, tt.message)
			_, err = s.First(MechanismSCRAM, []byte("n,,n=,r=abc"))
			wantError(t, err, codeProtocolViolation, msgMalformedSCRAM)
		})
	}

	k.nonceGen = func() string { return "SRV" }
	proof := base64.StdEncoding.EncodeToString(make([]byte, 32))
	finals := []struct {
		name, msg, code, message string
	}{
		{"empty", "", codeProtocolViolation, msgMalformedSCRAM},
		{"no channel binding", "r=abcSRV,p=" + proof, codeProtocolViolation, msgMalformedSCRAM},
		{"wrong gs2 header", "c=eSws,r=abcSRV,p=" + proof, codeProtocolViolation, msgUnexpectedBindAttr},
		{"binding data without p", "c=" + base64.StdEncoding.EncodeToString([]byte("n,,xyz")) + ",r=abcSRV,p=" + proof, codeProtocolViolation, msgUnexpectedBindAttr},
		{"nonce mismatch", "c=biws,r=abcXYZ,p=" + proof, codeProtocolViolation, msgInvalidResponse},
		{"client nonce only", "c=biws,r=abc,p=" + proof, codeProtocolViolation, msgInvalidResponse},
		{"no proof", "c=biws,r=abcSRV", codeProtocolViolation, msgMalformedSCRAM},
		{"short proof", "c=biws,r=abcSRV,p=AAAA", codeProtocolViolation, msgMalformedSCRAM},
		{"garbage after proof", "c=biws,r=abcSRV,p=" + proof + ",x=1", codeProtocolViolation, msgMalformedSCRAM},
		{"trailing comma", "c=biws,r=abcSRV,p=" + proof + ",", codeProtocolViolation, msgMalformedSCRAM},
		{"wrong proof", "c=biws,r=abcSRV,p=" + proof, codeInvalidPassword, `password authentication failed for user "u"`},
		{"wrong proof after extension", "c=biws,r=abcSRV,x=ext,p=" + proof, codeInvalidPassword, `password authentication failed for user "u"`},
	}
	for _, tt := range finals {
		t.Run("final/"+tt.name, func(t *testing.T) {
			s := k.NewSCRAMServer("u", sc, nil)
			if _, err := s.First(MechanismSCRAM, []byte("n,,n=,r=abc")); err != nil {
				t.Fatal(err)
			}
			_, err := s.Final([]byte(tt.msg))
			wantError(t, err, tt.code, tt.message)
			_, err = s.Final([]byte(tt.msg))
			wantError(t, err, codeProtocolViolation, msgMalformedSCRAM)
		})
	}

	s := k.NewSCRAMServer("u", sc, nil)
	_, err := s.Final([]byte("c=biws,r=abcSRV,p=" + proof))
	wantError(t, err, codeProtocolViolation, msgMalformedSCRAM)
}

func TestErrorText(t *testing.T) {
	e := authFailed("x", "proof mismatch")
	if e.Error() != `password authentication failed for user "x": proof mismatch` {
		t.Fatalf("Error() = %q", e.Error())
	}
	if (&Error{Message: "m"}).Error() != "m" {
		t.Fatal("Error() without reason")
	}
}

func TestKeyringConcurrent(t *testing.T) {
	k := NewKeyring()
	k.max = 4 // force evictions while others read
	sc := mustSCRAM(t, pgSecret)
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 10 {
				user := "u" + strings.Repeat("x", (g+i)%6)
				if _, ok := k.SCRAMFor(user, ParseSecret("pw")); !ok {
					errs <- errors.New("derivation failed")
					return
				}
				c, err := NewSCRAMClient(ServerCredentials{Password: pgPassword})
				if err == nil {
					_, err = exchange(c, k.NewSCRAMServer(user, sc, nil), nil)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(k.cache); n > 4 {
		t.Fatalf("cache holds %d secrets, bound is 4", n)
	}
}
