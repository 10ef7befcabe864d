package authn

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

func TestSCRAMPassThrough(t *testing.T) {
	k := NewKeyring()
	sc := mustSCRAM(t, pgSecret)
	first := k.NewSCRAMServer("u", sc, nil)
	if first.ClientKey() != nil || first.PassThroughKeys() != nil {
		t.Fatal("keys before the login")
	}
	if _, err := exchange(mustClient(t, ServerCredentials{Password: pgPassword}), first, nil); err != nil {
		t.Fatal(err)
	}
	keys := first.PassThroughKeys()
	if keys == nil || keys.Iterations != sc.Iterations || !bytes.Equal(keys.Salt, sc.Salt) || !bytes.Equal(keys.ServerKey, sc.ServerKey) {
		t.Fatalf("pass-through keys %+v", keys)
	}
	// A second login, as pgbun to the server, without the password.
	second := k.NewSCRAMServer("u", sc, nil)
	if _, err := exchange(mustClient(t, ServerCredentials{Keys: keys}), second, nil); err != nil {
		t.Fatalf("pass-through login: %v", err)
	}
	if !bytes.Equal(second.ClientKey(), keys.ClientKey) {
		t.Fatal("pass-through login recovered another ClientKey")
	}
}

func TestSCRAMPassThroughSecretMismatch(t *testing.T) {
	k := NewKeyring()
	sc := mustSCRAM(t, pgSecret)
	s := k.NewSCRAMServer("u", sc, nil)
	if _, err := exchange(mustClient(t, ServerCredentials{Password: pgPassword}), s, nil); err != nil {
		t.Fatal(err)
	}
	keys := s.PassThroughKeys()

	// The role's password was set again: new salt.
	changed := SCRAMSecretFromPassword(pgPassword, []byte("another salt 123"), sc.Iterations)
	_, err := exchange(mustClient(t, ServerCredentials{Keys: keys}), k.NewSCRAMServer("u", changed, nil), nil)
	if !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("salt changed: %v", err)
	}
	// Same salt, other iteration count.
	changed = SCRAMSecretFromPassword(pgPassword, sc.Salt, sc.Iterations+1)
	_, err = exchange(mustClient(t, ServerCredentials{Keys: keys}), k.NewSCRAMServer("u", changed, nil), nil)
	if !errors.Is(err, ErrSecretMismatch) {
		t.Fatalf("iterations changed: %v", err)
	}
	// A password, when known, logs in whatever the salt.
	_, err = exchange(mustClient(t, ServerCredentials{Password: pgPassword, Keys: keys}), k.NewSCRAMServer("u", changed, nil), nil)
	if err != nil {
		t.Fatalf("password login: %v", err)
	}
}

func TestSCRAMClientAgainstXDGServer(t *testing.T) {
	sc := mustSCRAM(t, pgSecret)
	srv, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) {
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(sc.Salt), Iters: sc.Iterations},
			StoredKey:  sc.StoredKey, ServerKey: sc.ServerKey,
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conv := srv.NewConversation()
	c := mustClient(t, ServerCredentials{Password: pgPassword})
	_, cf, err := c.First([]string{MechanismSCRAM}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := conv.Step(string(cf))
	if err != nil {
		t.Fatal(err)
	}
	cfin, err := c.Final([]byte(sf))
	if err != nil {
		t.Fatal(err)
	}
	sfin, err := conv.Step(string(cfin))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify([]byte(sfin)); err != nil || !conv.Valid() {
		t.Fatalf("verify: %v, server valid %v", err, conv.Valid())
	}
}

func TestSCRAMClientDetectsImpostor(t *testing.T) {
	k := NewKeyring()
	sc := mustSCRAM(t, pgSecret)
	// A server that learned StoredKey (enough to check proofs) but not
	// ServerKey cannot sign.
	fake := &SCRAMSecret{Iterations: sc.Iterations, Salt: sc.Salt, StoredKey: sc.StoredKey, ServerKey: make([]byte, 32)}
	_, err := exchange(mustClient(t, ServerCredentials{Password: pgPassword}), k.NewSCRAMServer("u", fake, nil), nil)
	if err == nil || !strings.Contains(err.Error(), "server signature does not match") {
		t.Fatalf("err = %v", err)
	}
	var e *Error
	if errors.As(err, &e) {
		t.Fatal("client-side errors are not client-facing *Error values")
	}

	c := mustClient(t, ServerCredentials{Password: pgPassword})
	s := k.NewSCRAMServer("u", sc, nil)
	mech, cf, _ := c.First(s.Mechanisms(), nil)
	sf, _ := s.First(mech, cf)
	if _, err := c.Final(sf); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify([]byte("e=invalid-proof")); err == nil || !strings.Contains(err.Error(), "invalid-proof") {
		t.Fatalf("e= error: %v", err)
	}
}

func TestNewSCRAMClient(t *testing.T) {
	if _, err := NewSCRAMClient(ServerCredentials{}); err == nil {
		t.Fatal("no credentials accepted")
	}
	if _, err := NewSCRAMClient(ServerCredentials{MD5: pgMD5}); err == nil {
		t.Fatal("md5 hash cannot answer SCRAM")
	}
	bad := &PassThroughKeys{ClientKey: make([]byte, 31), ServerKey: make([]byte, 32), Salt: []byte("s"), Iterations: 1}
	if _, err := NewSCRAMClient(ServerCredentials{Keys: bad}); err == nil {
		t.Fatal("short ClientKey accepted")
	}
}

func TestSCRAMClientFirst(t *testing.T) {
	binding := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name    string
		mechs   []string
		binding []byte
		mech    string
		prefix  string
	}{
		{"plus", []string{MechanismSCRAMPlus, MechanismSCRAM}, binding, MechanismSCRAMPlus, "p=tls-server-end-point,,n=,r="},
		{"no tls", []string{MechanismSCRAMPlus, MechanismSCRAM}, nil, MechanismSCRAM, "n,,n=,r="},
		{"plus not offered", []string{MechanismSCRAM}, binding, MechanismSCRAM, "y,,n=,r="},
		{"only plus without tls", []string{MechanismSCRAMPlus}, nil, "", ""},
		{"nothing usable", []string{"OAUTHBEARER"}, binding, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustClient(t, ServerCredentials{Password: "pw"})
			mech, cf, err := c.First(tt.mechs, tt.binding)
			if tt.mech == "" {
				if err == nil {
					t.Fatalf("chose %s", mech)
				}
				return
			}
			if err != nil || mech != tt.mech || !strings.HasPrefix(string(cf), tt.prefix) {
				t.Fatalf("mech %s, first %q, err %v", mech, cf, err)
			}
			if len(cf) != len(tt.prefix)+24 {
				t.Fatalf("nonce of %d characters, want 24", len(cf)-len(tt.prefix))
			}
		})
	}
}

func TestSCRAMClientRejectsBadServerFirst(t *testing.T) {
	for name, sf := range map[string]string{
		"foreign nonce":       "r=XXXX,s=c2FsdA==,i=4096",
		"nonce not extended":  "r=NONCE,s=c2FsdA==,i=4096",
		"too many iterations": "r=NONCEmore,s=c2FsdA==,i=99999999",
		"zero iterations":     "r=NONCEmore,s=c2FsdA==,i=0",
		"signed iterations":   "r=NONCEmore,s=c2FsdA==,i=+4096",
		"bad salt":            "r=NONCEmore,s=c2Fsd,i=4096",
		"garbage at end":      "r=NONCEmore,s=c2FsdA==,i=4096,x=1",
		"extension first":     "m=ext,r=NONCEmore,s=c2FsdA==,i=4096",
		"empty":               "",
	} {
		t.Run(name, func(t *testing.T) {
			c := mustClient(t, ServerCredentials{Password: "pw"})
			c.nonceGen = func() string { return "NONCE" }
			if _, _, err := c.First([]string{MechanismSCRAM}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Final([]byte(sf)); err == nil {
				t.Fatal("accepted")
			}
			if _, err := c.Final([]byte("r=NONCEmore,s=c2FsdA==,i=1")); err == nil {
				t.Fatal("a failed client must stay failed")
			}
		})
	}
}
