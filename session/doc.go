// Package session carries a logged-in client's traffic to PostgreSQL
// servers. The gateway accepts a client, logs it in and gets it its first
// server; from then on Engine.Run owns the client until its session ends.
//
// In session pooling (and on a server dedicated to one client) forward
// relays bytes both ways on the same server for the whole session. In
// transaction and statement pooling a txnSession holds a server only from
// the first message of a transaction to the ReadyForQuery that ends it
// (statement pooling: that ends each statement); on every server it lands
// on, the client's settings and tracked parameters are applied
// (ApplySettings) and its prepared statements exist under names of pgbun's
// own, so a client sees one server where it uses many.
//
// Who owns what: the goroutine carrying the session owns the Client and
// the session's state; in transaction pooling a down goroutine per linked
// server forwards its answers and gives it back at the transaction's end,
// under the session's lock. An idle transaction-pooled client is parked
// (park.go): it leaves its goroutine for the parker's epoll set, and a new
// goroutine carries the session on when the client speaks. Whichever
// goroutine ends the session gives its server back and calls Run's done.
//
// Every way a session ends, with the SQLSTATE the client gets, is named in
// end.go. Timeouts (client_idle_timeout, idle_transaction_timeout,
// query_timeout, transaction_timeout) are enforced here; the wait for a
// server (query_wait_timeout) by the pool, which Client.Acquire leaves as
// soon as the client hangs up or is killed.
package session
