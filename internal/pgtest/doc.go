// Package pgtest is the test harness of pgbun: real, throwaway PostgreSQL
// clusters and the certificates that go with them, for pgbun's tests and the
// benchmark runner.
//
// The clusters themselves come from package cluster and the certificates
// from package localca, which `pgbun demo` uses directly; this package keeps
// their names for the tests (Cluster, Start, CA, NewCA and the rest) and adds
// what a test needs beyond them: Main, which runs a test binary around one
// shared cluster, Cluster.SuperConn, which hands out a pgx connection, and
// LogBuffer. Only this package links package testing and the pgx driver, so
// the pgbun binary carries neither.
//
// Every exported function and method is safe for concurrent use. Nothing
// here skips: a missing binary or a server that does not come up is an error
// that says why, including the tail of the server log where there is one.
package pgtest
