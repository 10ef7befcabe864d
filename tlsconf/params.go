package tlsconf

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// ParseProtocols maps a client_tls_protocols/server_tls_protocols value to
// the minimum and maximum TLS versions. PgBouncer's words are accepted:
// "secure" and "default" (TLS 1.2 and 1.3), "all" and "legacy" (1.0 to 1.3),
// or a list of tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3 separated by commas, colons
// or spaces. crypto/tls cannot leave a gap inside the range, so a list spans
// from its lowest to its highest version.
func ParseProtocols(s string) (min, max uint16, err error) {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return r == ',' || r == ':' || r == ' ' || r == '\t'
	})
	if len(words) == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	for _, w := range words {
		var lo, hi uint16
		switch w {
		case "secure", "default":
			lo, hi = tls.VersionTLS12, tls.VersionTLS13
		case "all", "legacy":
			lo, hi = tls.VersionTLS10, tls.VersionTLS13
		case "tlsv1.0", "tlsv1":
			lo, hi = tls.VersionTLS10, tls.VersionTLS10
		case "tlsv1.1":
			lo, hi = tls.VersionTLS11, tls.VersionTLS11
		case "tlsv1.2":
			lo, hi = tls.VersionTLS12, tls.VersionTLS12
		case "tlsv1.3":
			lo, hi = tls.VersionTLS13, tls.VersionTLS13
		default:
			return 0, 0, fmt.Errorf("unknown TLS protocol %q (use secure, all, legacy or tlsv1.0..tlsv1.3)", w)
		}
		if min == 0 || lo < min {
			min = lo
		}
		if hi > max {
			max = hi
		}
	}
	return min, max, nil
}

// openSSLNames maps OpenSSL cipher names to crypto/tls suites (TLS 1.2 and
// below; Go always enables its TLS 1.3 suites).
var openSSLNames = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
}

// ParseCiphers maps a *_tls_ciphers value to crypto/tls suites. PgBouncer's
// keywords (default, secure, fast, normal, compat, all, legacy, insecure)
// and OpenSSL selection expressions (HIGH:!aNULL, ...) select Go's default
// suites, which are the modern AEAD set: the returned note says so, for the
// log. An explicit colon list of OpenSSL names selects exactly those; a name
// crypto/tls does not implement is an error.
func ParseCiphers(s string) (suites []uint16, note string, err error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "default", "secure", "fast", "normal", "compat", "all", "legacy", "insecure":
		return nil, "", nil
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	for _, p := range parts {
		if id, ok := openSSLNames[strings.ToUpper(p)]; ok {
			suites = append(suites, id)
			continue
		}
		if isOpenSSLExpression(p) {
			return nil, fmt.Sprintf("cipher expression %q is not an explicit list; using Go's default cipher suites", s), nil
		}
		return nil, "", fmt.Errorf("cipher %q is not supported (supported: explicit OpenSSL names of ECDHE/AES-GCM/CHACHA20 suites, or default)", p)
	}
	return suites, "", nil
}

// isOpenSSLExpression reports whether a token is an OpenSSL selection
// keyword or operator rather than a cipher name.
func isOpenSSLExpression(tok string) bool {
	if tok == "" {
		return false
	}
	switch tok[0] {
	case '!', '-', '+', '@':
		return true
	}
	switch strings.ToUpper(tok) {
	case "HIGH", "MEDIUM", "LOW", "DEFAULT", "ALL", "COMPLEMENTOFALL", "COMPLEMENTOFDEFAULT",
		"ANULL", "ENULL", "AECDH", "ECDHE", "EECDH", "DHE", "EDH", "AESGCM", "CHACHA20", "AES",
		"AES128", "AES256", "SHA", "SHA256", "SHA384", "TLSV1.2", "SSLV3", "KECDHE", "AECDSA", "ARSA":
		return true
	}
	return false
}
