// Package authn authenticates pgbun's clients and holds the credentials pgbun
// uses to log in to PostgreSQL on their behalf.
//
// It is pure logic without network I/O: the gateway drives the wire protocol
// and hands authn the payloads of the authentication messages it received,
// sending back what authn returns. The package covers
//
//   - stored secrets as PostgreSQL and PgBouncer keep them (plaintext, md5,
//     SCRAM-SHA-256), parsed exactly as PgBouncer classifies them;
//   - PgBouncer's userlist.txt, loaded with PgBouncer's own leniency but
//     reporting every line it skips or reinterprets as a warning;
//   - the server side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS
//     (tls-server-end-point channel binding), with a mock exchange for
//     unknown users that fails exactly like a wrong password, and recovery
//     of the client's ClientKey for SCRAM pass-through;
//   - md5 and cleartext password checks with PostgreSQL's semantics;
//   - the client side (md5 response, SCRAM with a password or with
//     pass-through keys) used to log in to PostgreSQL servers.
//
// Every error that ends a client's login is an *Error, which keeps what the
// client may see (SQLSTATE and message) apart from the reason that is only
// logged. No secret ever appears in an error, a warning or the String form
// of a Secret; the one deliberate exception is (*SCRAMSecret).String, which
// renders the secret for writing userlists. Comparisons of secret material
// run in constant time. Parsers bound their input and never panic.
//
// Concurrency: Keyring and Userlist are safe for concurrent use once built;
// SCRAMServer and SCRAMClient hold one login attempt each and are not.
package authn
