package tlsconf

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/pgtest"
)

func TestParseProtocols(t *testing.T) {
	for _, tc := range []struct {
		in       string
		min, max uint16
		err      bool
	}{
		{"", tls.VersionTLS12, tls.VersionTLS13, false},
		{"secure", tls.VersionTLS12, tls.VersionTLS13, false},
		{"all", tls.VersionTLS10, tls.VersionTLS13, false},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, false},
		{"tlsv1.2,tlsv1.3", tls.VersionTLS12, tls.VersionTLS13, false},
		{"TLSv1.1:tlsv1.2", tls.VersionTLS11, tls.VersionTLS12, false},
		{"sslv3", 0, 0, true},
	} {
		min, max, err := ParseProtocols(tc.in)
		if (err != nil) != tc.err || (!tc.err && (min != tc.min || max != tc.max)) {
			t.Errorf("%q: %x-%x %v", tc.in, min, max, err)
		}
	}
}

func TestParseCiphers(t *testing.T) {
	if s, note, err := ParseCiphers("default"); s != nil || note != "" || err != nil {
		t.Errorf("default: %v %q %v", s, note, err)
	}
	s, _, err := ParseCiphers("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305")
	if err != nil || len(s) != 2 || s[0] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("explicit list: %v %v", s, err)
	}
	if s, note, err := ParseCiphers("HIGH:!aNULL:!MD5"); s != nil || note == "" || err != nil {
		t.Errorf("expression: %v %q %v", s, note, err)
	}
	if _, _, err := ParseCiphers("RC4-MD5"); err == nil {
		t.Error("RC4-MD5 accepted")
	}
}

func TestServerModes(t *testing.T) {
	for _, tc := range []struct {
		mode             config.SSLMode
		wanted, required bool
	}{
		{config.SSLDisable, false, false},
		{config.SSLAllow, false, false},
		{config.SSLPrefer, true, false},
		{config.SSLRequire, true, true},
		{config.SSLVerifyCA, true, true},
		{config.SSLVerifyFull, true, true},
	} {
		s, err := ForServers(config.ServerTLS{SSLMode: tc.mode})
		if err != nil {
			t.Fatal(err)
		}
		if s.Wanted() != tc.wanted || s.Required() != tc.required {
			t.Errorf("%s: wanted %v required %v", tc.mode, s.Wanted(), s.Required())
		}
		cfg := s.Config("db.example")
		switch tc.mode {
		case config.SSLVerifyFull:
			if cfg.InsecureSkipVerify || cfg.ServerName != "db.example" {
				t.Errorf("verify-full does not verify the name")
			}
		case config.SSLVerifyCA:
			if cfg.VerifyConnection == nil {
				t.Errorf("verify-ca does not verify the chain")
			}
		}
	}
}

func TestClientRequiresCertificate(t *testing.T) {
	if _, err := ForClients(config.ClientTLS{SSLMode: config.SSLRequire}, nil); err == nil {
		t.Fatal("TLS without a certificate source accepted")
	}
	c, err := ForClients(config.ClientTLS{SSLMode: config.SSLDisable}, nil)
	if err != nil || c.Enabled() || c.Required() {
		t.Fatalf("disable: %+v %v", c, err)
	}
	if _, err := ForClients(config.ClientTLS{SSLMode: config.SSLVerifyCA, CAFile: "/nonexistent"},
		func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }); err == nil {
		t.Fatal("verify-ca with a missing CA file accepted")
	}
}

// TestClientSessionTicketsDisabled: every client-facing configuration
// refuses session tickets, so no handshake can skip GetCertificate.
func TestClientSessionTicketsDisabled(t *testing.T) {
	ca, err := pgtest.NewCA("tlsconf test CA", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := ca.WriteCert(caFile); err != nil {
		t.Fatal(err)
	}
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
	for _, s := range []config.ClientTLS{
		{SSLMode: config.SSLAllow},
		{SSLMode: config.SSLPrefer},
		{SSLMode: config.SSLPrefer, CAFile: caFile},
		{SSLMode: config.SSLRequire, Protocols: "tlsv1.2"},
		{SSLMode: config.SSLVerifyCA, CAFile: caFile},
		{SSLMode: config.SSLVerifyFull, CAFile: caFile},
	} {
		c, err := ForClients(s, getCert)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		if !c.Config.SessionTicketsDisabled {
			t.Errorf("%s (CA file %q): session tickets enabled", s.SSLMode, s.CAFile)
		}
	}
}

// TestClientHandshakesNeverResume: a client that keeps a session cache
// receives no ticket, and its next handshake is a full one that picks the
// certificate again.
func TestClientHandshakesNeverResume(t *testing.T) {
	ca, err := pgtest.NewCA("tlsconf test CA", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueServer([]string{"db.pgbun.test"}, pgtest.ECDSAP256, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var picked atomic.Int32
	c, err := ForClients(config.ClientTLS{SSLMode: config.SSLRequire}, func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		picked.Add(1)
		return &kp.TLS, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			picked.Store(0)
			cache := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			client := &tls.Config{
				ServerName:         "db.pgbun.test",
				RootCAs:            ca.Pool(),
				MinVersion:         v.version,
				MaxVersion:         v.version,
				NextProtos:         []string{ALPNPostgres},
				ClientSessionCache: cache,
			}
			for i := range 2 {
				if cs := handshake(t, c.Config, client); cs.DidResume {
					t.Fatalf("handshake %d resumed a session", i+1)
				}
			}
			if n := cache.stored(); n != 0 {
				t.Fatalf("client received %d session tickets", n)
			}
			if n := picked.Load(); n != 2 {
				t.Fatalf("certificate picked %d times in 2 handshakes", n)
			}
		})
	}
}

// handshake runs one TLS handshake between server and client over a pipe.
// The server then sends a byte, which the client reads: anything the
// server sent after its handshake (a TLS 1.3 ticket) reaches the client
// before that byte.
func handshake(t *testing.T, server, client *tls.Config) tls.ConnectionState {
	t.Helper()
	sc, cc := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	sc.SetDeadline(deadline)
	cc.SetDeadline(deadline)
	var wg sync.WaitGroup
	var serr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer sc.Close()
		s := tls.Server(sc, server)
		if serr = s.Handshake(); serr == nil {
			_, serr = s.Write([]byte{'x'})
		}
	}()
	c := tls.Client(cc, client)
	err := c.Handshake()
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	cs := c.ConnectionState()
	cc.Close()
	wg.Wait()
	if err != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", err, serr)
	}
	return cs
}

// countingCache counts the sessions a client was given to keep.
type countingCache struct {
	tls.ClientSessionCache
	mu sync.Mutex
	n  int
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	c.ClientSessionCache.Put(key, cs)
}

func (c *countingCache) stored() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
