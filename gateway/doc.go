// Package gateway accepts PostgreSQL clients and carries each one through
// its lifecycle: admit (SSLRequest, TLS, startup packet), route (which
// database and pool), authenticate (SCRAM-SHA-256 with channel binding,
// md5, plain, trust, or relayed to the server), acquire a server, welcome
// the client with the server's parameters and its own cancel key, then
// forward bytes both ways until one side ends, and give the server back.
//
// serve in conn.go reads as that sequence, one named call per step. The
// gateway never lets one client's fault reach another: every client has its
// own goroutine, its own deadlines, and a recover that logs and closes. In
// transaction pooling an idle client is parked (park.go): it leaves its
// goroutine for the parker's epoll set, and a new goroutine carries the
// session on when the client speaks; teardown runs on whichever goroutine
// ends the client.
package gateway
