// Package tlsconf turns pgbun's TLS settings into *tls.Config values.
//
// Both sides are built once, when a configuration is loaded, and reused for
// every connection: ForClients for the connections pgbun accepts, ForServers
// for the connections it makes to PostgreSQL. Settings use PgBouncer's
// vocabulary (libpq sslmodes, "secure"/"all" protocol sets, OpenSSL cipher
// names) and are mapped onto what crypto/tls can express; anything that
// cannot be expressed is an error at load time, not a surprise later.
package tlsconf
