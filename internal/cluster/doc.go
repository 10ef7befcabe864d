// Package cluster starts real, throwaway PostgreSQL clusters: `pgbun demo`
// serves one, and package pgtest builds the test harness on it. It needs no
// PostgreSQL driver: the few statements it runs itself (creating roles and
// databases, reading a role's secret, probing readiness) go over a minimal
// protocol client on the cluster's Unix socket.
//
// Start runs initdb and postgres from BinDir (as the `postgres` OS user when
// the caller is root, because PostgreSQL refuses to run as root) in a fresh
// temporary directory, with TLS on by default, a certificate signed by a CA
// generated for that cluster, trust over the Unix socket and password
// authentication (md5, which also accepts SCRAM secrets) over TCP on
// 127.0.0.1. Stop shuts the server down, escalating from a fast shutdown to
// SIGKILL of the server and its children, and removes the directory. If the
// process that started a cluster dies without calling Stop, the kernel sends
// the server SIGQUIT, and a later Start in any process removes the
// directory left behind.
//
// Every exported function and method is safe for concurrent use. Nothing
// here skips: a missing binary or a server that does not come up is an error
// that says why, including the tail of the server log where there is one.
package cluster
