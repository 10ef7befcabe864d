package authn

import (
	"bytes"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var warningShape = regexp.MustCompile(`^f:[1-9][0-9]*: [a-zA-Z]`)

func FuzzParseUserlist(f *testing.F) {
	for _, seed := range []string{
		`"alice" "pw"` + "\n" + `"bob" "` + pgMD5 + `"` + "\n" + `"carol" "` + pgSecret + `"`,
		`"a""b" "p""w"` + "\n; comment\n\n",
		"# not a comment\n\"u\" \"p\"",
		`"u"` + "\n" + `"v" "w"`,
		`"u" junk "p" rest`,
		`"u" "p` + "\n",
		`"u" "p"` + "\x00" + `"v" "q"`,
		`"u" "SCRAM-SHA-256$0:c2FsdA==$` + strings.Repeat("A", 43) + "=:" + strings.Repeat("A", 43) + `="`,
		"\"" + strings.Repeat("x", 200) + "\" \"p\"",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ul, warnings, err := ParseUserlist(bytes.NewReader(data), "f")
		if err != nil {
			t.Fatalf("error for in-memory input: %v", err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, w := range warnings {
			if !warningShape.MatchString(w) {
				t.Fatalf("warning %q is not file:line: problem", w)
			}
		}
		if ul.Len() > bytes.Count(data, []byte(`"`))/4 {
			t.Fatalf("%d users from %d quotes", ul.Len(), bytes.Count(data, []byte(`"`)))
		}
		if len(warnings) > 5*lines+1 {
			t.Fatalf("%d warnings for %d lines", len(warnings), lines)
		}
	})
}

func FuzzParseSecret(f *testing.F) {
	for _, seed := range []string{
		pgSecret, pgMD5, "pencil", "", "md5", "SCRAM-SHA-256$", "SCRAM-SHA-256$4096:YQ==$x:y",
		"$$SCRAM-SHA-256$:4096:$c2FsdA==$:" + strings.Repeat("A", 43) + "=:" + strings.Repeat("A", 43) + "=",
		"SCRAM-SHA-256$ -2147483648:YQ=A$" + strings.Repeat("B", 43) + "=:" + strings.Repeat("C", 43) + "=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec := ParseSecret(s)
		switch sec.Kind {
		case SecretPlain:
			if sec.text != s {
				t.Fatal("plaintext changed")
			}
		case SecretMD5:
			if len(s) != md5SecretLen || !strings.HasPrefix(s, "md5") {
				t.Fatalf("md5 kind for %q", s)
			}
		case SecretSCRAM:
			sc, _ := sec.SCRAM()
			// Our canonical rendering must parse back to the same secret.
			again, ok := ParseSecret(sc.String()).SCRAM()
			if !ok || again.Iterations != sc.Iterations || !bytes.Equal(again.Salt, sc.Salt) ||
				!bytes.Equal(again.StoredKey, sc.StoredKey) || !bytes.Equal(again.ServerKey, sc.ServerKey) {
				t.Fatalf("SCRAM secret %q does not round-trip", s)
			}
		default:
			t.Fatalf("kind %d", sec.Kind)
		}
		if str := sec.String(); str != "plain" && str != "md5" && str != "SCRAM-SHA-256" {
			t.Fatalf("String() = %q", str)
		}
		// Canonical base64 decodes the same with PostgreSQL's rules.
		if want, err := base64.StdEncoding.Strict().DecodeString(s); err == nil && !strings.ContainsAny(s, "\r\n") {
			got, ok := pgB64Decode(s)
			if !ok || !bytes.Equal(got, want) {
				t.Fatalf("pgB64Decode(%q) = %x, %v; want %x", s, got, ok, want)
			}
		}
	})
}

// fuzzServerSeeds returns a valid exchange against a keyring whose server
// nonce is fixed, so that mutations start from messages that pass.
func fuzzServerSeeds(tb testing.TB, binding []byte) (k *Keyring, mech string, first, final []byte) {
	k = NewKeyring()
	k.nonceGen = func() string { return "SERVERNONCE" }
	c := mustClient(tb, ServerCredentials{Password: pgPassword})
	c.nonceGen = func() string { return "CLIENTNONCE" }
	s := k.NewSCRAMServer("u", mustSCRAM(tb, pgSecret), binding)
	mech, first, err := c.First(s.Mechanisms(), binding)
	if err != nil {
		tb.Fatal(err)
	}
	sf, err := s.First(mech, first)
	if err != nil {
		tb.Fatal(err)
	}
	if final, err = c.Final(sf); err != nil {
		tb.Fatal(err)
	}
	return k, mech, first, final
}

func FuzzSCRAMServer(f *testing.F) {
	binding := bytes.Repeat([]byte{0x5a}, 32)
	k, mech, first, final := fuzzServerSeeds(f, nil)
	f.Add(mech, first, final, false)
	_, mech, first, final = fuzzServerSeeds(f, binding)
	f.Add(mech, first, final, true)
	f.Add(MechanismSCRAM, []byte("y,,n=,r=CLIENTNONCE"), []byte("c=eSws,r=CLIENTNONCESERVERNONCE,p=AAAA"), true)
	f.Add(MechanismSCRAM, []byte("n,a=x,n=u,r=CLIENTNONCE,e=ext"), []byte("c=biws,r=x,z=1,p="), false)
	f.Add("OTHER", []byte{}, []byte{}, false)
	sc := mustSCRAM(f, pgSecret)

	f.Fuzz(func(t *testing.T, mech string, first, final []byte, withBinding bool) {
		var b []byte
		if withBinding {
			b = binding
		}
		for _, s := range []*SCRAMServer{k.NewSCRAMServer("u", sc, b), k.NewSCRAMServer("u", nil, b)} {
			mock := s.doomed
			_, err := s.First(mech, first)
			if err != nil {
				checkError(t, err)
				if s.ClientKey() != nil {
					t.Fatal("ClientKey after failed First")
				}
				continue
			}
			_, err = s.Final(final)
			if err != nil {
				checkError(t, err)
				if s.ClientKey() != nil {
					t.Fatal("ClientKey after failed Final")
				}
				continue
			}
			if mock {
				t.Fatal("a mock exchange succeeded")
			}
			if len(s.ClientKey()) != scramKeyLen {
				t.Fatal("success without ClientKey")
			}
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok || e == nil {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	switch e.Code {
	case codeInvalidPassword, codeInvalidAuthorization, codeProtocolViolation, codeFeatureNotSupported:
	default:
		t.Fatalf("unexpected code %q", e.Code)
	}
	if e.Message == "" || e.Reason == "" {
		t.Fatalf("incomplete error %#v", e)
	}
	if strings.Contains(e.Error(), pgPassword) {
		t.Fatal("error shows the password")
	}
}

func FuzzSCRAMClientFinal(f *testing.F) {
	binding := bytes.Repeat([]byte{0x5a}, 32)
	// A real server-first and server-final for the seeds.
	k := NewKeyring()
	k.nonceGen = func() string { return "SERVERNONCE" }
	s := k.NewSCRAMServer("u", mustSCRAM(f, pgSecret), nil)
	c := mustClient(f, ServerCredentials{Password: pgPassword})
	c.nonceGen = func() string { return "CLIENTNONCE" }
	mech, cf, _ := c.First(s.Mechanisms(), nil)
	sf, err := s.First(mech, cf)
	if err != nil {
		f.Fatal(err)
	}
	cfin, _ := c.Final(sf)
	sfin, err := s.Final(cfin)
	if err != nil {
		f.Fatal(err)
	}
	keys := s.PassThroughKeys()

	f.Add(sf, sfin, false, false)
	f.Add(sf, sfin, true, false)
	f.Add(sf, []byte("e=invalid-proof"), true, true)
	f.Add([]byte("r=CLIENTNONCEx,s=YQ==,i=1"), []byte("v=AAAA,x=1"), false, true)
	f.Add([]byte("m=x,r=CLIENTNONCE"), []byte(""), true, false)

	f.Fuzz(func(t *testing.T, serverFirst, serverFinal []byte, useKeys, withBinding bool) {
		cred := ServerCredentials{Password: pgPassword}
		if useKeys {
			cred = ServerCredentials{Keys: keys}
		}
		c, err := NewSCRAMClient(cred)
		if err != nil {
			t.Fatal(err)
		}
		c.nonceGen = func() string { return "CLIENTNONCE" }
		c.maxIterations = 4096 // keep PBKDF2 cheap while fuzzing
		var b []byte
		if withBinding {
			b = binding
		}
		if _, _, err := c.First([]string{MechanismSCRAMPlus, MechanismSCRAM}, b); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Final(serverFirst); err != nil {
			var e *Error
			if errors.As(err, &e) {
				t.Fatal("client errors must not be client-facing *Error values")
			}
			return
		}
		_ = c.Verify(serverFinal)
	})
}
