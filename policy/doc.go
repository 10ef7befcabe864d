// Package policy decides who may connect to pgbun from where, and how much
// an unauthenticated or failing client may cost it. It is pure logic with
// small, concurrency-safe state and no network I/O; the gateway calls it
// at fixed points of a connection's lifecycle:
//
//  1. On accept, Admission.Admit bounds pre-authentication work per source
//     (open connections and a token-bucket connection rate) and overall
//     (connections not yet authenticated). The Ticket it returns is marked
//     Authenticated after login and Closed when the connection ends.
//  2. After the startup message, HBA.Match picks the first rule of the
//     auth_hba_file (pg_hba.conf syntax, as PgBouncer reads it) that fits
//     the connection type, address, database and user; no rule means
//     reject. For cert and peer rules, IdentMap.Allows checks the rule's
//     map option against the auth_ident_file.
//  3. Before any password work, Throttle.Begin refuses sources and users
//     locked out after repeated failures, and holds back a source with
//     too many logins in progress. Attempt.Confirm checks again just
//     before the client's proof is verified, since only failures, not
//     logins in progress, count against a user. The Attempt is ended with
//     Succeeded, Failed or Abandoned once the password was checked (or
//     never was).
//
// Files are parsed whole or not at all: the first problem is a
// *ParseError "file:line: problem", and features PgBouncer lacks or
// pgbun cannot honour (group membership, samehost/samenet, host names,
// ident/ldap/pam/... methods, unknown options) are reported rather than
// skipped, because a silently dropped or reinterpreted line in an access
// policy is a security hole. HBA and IdentMap values are immutable; a
// reload parses new ones and swaps them in. Throttle and Admission keep
// their state across reloads through SetConfig.
//
// Sources are keyed by IPv4 address, or by IPv6 /64 (one host controls a
// whole /64), and all tracked state is bounded: least recently seen
// entries are forgotten first. Nothing here ever sees a password.
package policy
