package authn

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
)

// TLSServerEndpoint returns the tls-server-end-point channel-binding data
// (RFC 5929 section 4.1) of a certificate: the hash of its DER encoding with
// the hash function of its signature algorithm, SHA-256 standing in for MD5
// and SHA-1. Pass the leaf certificate pgbun served on the connection (or,
// as a client, the leaf the server presented).
//
// It returns nil when channel binding must not be offered: a nil
// certificate, or a signature algorithm that is not RSA (PKCS #1 v1.5 or
// PSS) or ECDSA with a known hash, e.g. Ed25519, which has no hash of its
// own and for which PostgreSQL cannot compute binding data either.
func TLSServerEndpoint(cert *x509.Certificate) []byte {
	if cert == nil || len(cert.Raw) == 0 {
		return nil
	}
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256:
		sum := sha256.Sum256(cert.Raw)
		return sum[:]
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		sum := sha512.Sum384(cert.Raw)
		return sum[:]
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		sum := sha512.Sum512(cert.Raw)
		return sum[:]
	default:
		return nil
	}
}
