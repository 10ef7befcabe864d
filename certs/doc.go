// Package certs holds the certificates pgbun serves to TLS clients.
//
// Certificates come from two sources. A Store holds key and certificate
// files: Reload re-reads them, keeping the old pair in service when a new
// one does not load, and Watch reloads by itself when the files change on
// disk (including atomic renames and Kubernetes secret updates). An ACME
// obtains certificates from an ACME CA with certmagic: the managed domains
// at Start, renewed in the background until Stop, and on-demand names,
// which a handshake may have obtained only when an allow list names them.
//
// A Set combines a Store and an ACME behind one GetCertificate for a
// listener's tls.Config, with the lookup order stated on that method, and
// NextProtos tells the listener which ALPN protocols to offer (ACME's
// TLS-ALPN-01 validation arrives on the same listener). Every handshake
// reads the current certificates, so a rotation never touches connections
// that are already established, and every new handshake sees the new
// certificate. GetCertificate returns exactly the certificate served, with
// Leaf set, for channel binding.
package certs
