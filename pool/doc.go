// Package pool owns pgbun's connections to PostgreSQL.
//
// A Server is one logged-in server connection; a Dialer makes them (TCP or
// Unix socket, TLS per server_tls_sslmode, login with stored credentials or
// with a client's relayed authentication). A Pool holds the servers of one
// (database, user) pair: it hands idle servers out, opens new ones up to
// its size, queues waiting clients in FIFO order with a deadline, resets
// and takes servers back, and retires them by age and idleness. A Manager
// holds every pool and runs their housekeeping.
//
// Ownership: a Server handed out by Acquire belongs to its caller, who
// alone reads and writes its connection until Release; pools never touch
// servers in use.
package pool
