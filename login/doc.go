// Package login holds the message exchanges by which a client proves who
// it is to pgbun: SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, md5 and cleartext
// password, the relayed login of auth_type=server (Relay), and the peer
// credentials of a Unix-socket client (PeerUser, PeerIsSelf).
//
// The gateway decides everything around an exchange: which method applies
// (auth_type, hba rules, ident maps), the user's secret (auth_file,
// auth_query), the failed-login throttle, what a login teaches about the
// server, audit and counters. It hands an exchange the client's connection
// (Conn), the secret, and Hooks through which its policy takes part: Confirm
// asks the throttle again just before a proof is checked, Refetch gets a
// fresh secret when a cached one may be stale, CPU bounds the key
// derivations and proofs running at once.
//
// The contract that matters for security: an unknown user and a wrong
// password cannot be told apart. Both get the same exchange (SCRAM runs
// against a mock secret, always computed, for the same work) and the same
// answer, a *Failure with SQLSTATE 28P01 and PostgreSQL's "password
// authentication failed" message; only Failure.Reason, for the log and the
// audit, says which it was. SCRAM, MD5 and Cleartext end with nil (the
// client proved itself), a *Failure (what the client is told and why), a
// *wire.Error for a message that breaks the protocol, or the error reading
// or writing the connection (a malformed frame included). They never read
// a message longer than 64 KiB, and send nothing after a failure:
// telling the client is the caller's job.
//
// An exchange is carried by the goroutine that calls it; a Conn belongs to
// one client's login at a time.
package login
