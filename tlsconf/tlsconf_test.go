package tlsconf

import (
	"crypto/tls"
	"testing"

	"github.com/pgbun/pgbun/config"
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
