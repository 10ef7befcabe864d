// Package gateway accepts PostgreSQL clients and carries each one through
// its login: admit (SSLRequest, TLS, startup packet), resolve (which
// database), authenticate (which method applies, the user's secret, the
// failed-login throttle; the exchanges themselves, SCRAM-SHA-256 with
// channel binding, md5, plain or relayed to the server, are package
// login's), attach (its pool), acquire a server, welcome the client with
// the server's parameters and its own cancel key, then hand it to the
// session engine (package session), which forwards its traffic until the
// session ends and calls back to close the client.
//
// serve in conn.go reads as that sequence, one named call per step. The
// gateway never lets one client's fault reach another: every client has its
// own goroutine, its own deadlines, and a recover that logs and closes;
// teardown gives back what the client holds on whichever goroutine ends it.
// The gateway also keeps the running state (state.go, swapped whole on
// reload), the pools' records, the console and the statistics.
package gateway
