// Package certs holds the certificates pgbun serves to TLS clients.
//
// A Store is a concurrency-safe set of certificates picked per handshake by
// the client's SNI. Certificates come from sources: key and certificate
// files today (reloaded on demand, keeping the old pair when a new one does
// not load), ACME later. Every handshake reads the current set through
// GetCertificate, so a rotation never touches connections that are already
// established, and every new handshake sees the new certificate.
package certs
