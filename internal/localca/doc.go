// Package localca is a certificate authority held in memory, for servers
// and clients that live only as long as the process that made them: the
// throwaway PostgreSQL clusters of package cluster, `pgbun demo`, the
// benchmark runner and the tests. It issues server and client leaf
// certificates with crypto/x509 and writes them as PEM files with the modes
// PostgreSQL and pgbun expect (0644 for certificates, 0600 for keys).
//
// Every exported function and method is safe for concurrent use.
package localca
