// Package admin is pgbun's admin console: the virtual database pgbouncer
// (alias pgbun) that answers PgBouncer's console commands with
// PgBouncer's column names, column order, column types, command tags and
// error texts, so exporters and scripts written for PgBouncer work
// unchanged.
//
// The gateway authenticates the client and hands the connection to Serve,
// which speaks the simple query protocol until the client leaves. What
// the console shows comes from a Source; what it changes goes through a
// Controller, which only admin sessions reach (stats users get
// PgBouncer's "admin access needed"). Serve owns nothing but the session:
// it neither listens nor closes the connection.
//
// # Commands
//
// SHOW HELP, VERSION, CONFIG, DATABASES, POOLS, CLIENTS, SERVERS,
// SOCKETS, ACTIVE_SOCKETS, USERS, STATS, STATS_TOTALS, STATS_AVERAGES,
// TOTALS, LISTS, STATE, PEERS, PEER_POOLS, FDS, MEM, DNS_HOSTS, DNS_ZONES
// as PgBouncer (1.24/1.25 column sets; SELECT x is SHOW x), plus pgbun's
// SHOW CERTS (names, subject, issuer, serial, not_after, source) and SHOW
// THROTTLE (kind, key, until, failures, offences). PAUSE [db], RESUME
// [db], DISABLE db, ENABLE db, RECONNECT [db], KILL [db], KILL_CLIENT id,
// SUSPEND, SHUTDOWN [WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS], RELOAD,
// WAIT_CLOSE [db] and SET key = value map one for one to the Controller.
// PAUSE, SUSPEND and WAIT_CLOSE run under a context that ends when the
// client disconnects. Errors are ERROR with SQLSTATE 08P01, as
// PgBouncer's; a failed RELOAD is F0000. SET and RELOAD failures carry the
// Controller's error as DETAIL.
//
// # Where pgbun differs
//
// Parsing is a superset of PgBouncer's: one Query may hold several
// statements separated by ';' (run in order, stopping at the first
// error, one ReadyForQuery at the end), "--" comments are skipped, an
// empty query gets EmptyQueryResponse, and bare words may hold any
// character but white space, quotes, ';' and '=' (PgBouncer: letters,
// digits, '_'), so SET listen_addr = 10.0.0.1 needs no quotes.
//
// Extended-protocol messages get PgBouncer's error, but the session
// survives: messages up to the next Sync are discarded and Sync gets
// ReadyForQuery, as PostgreSQL does after an error. An immediate SHUTDOWN
// is answered with its tag instead of silence.
//
// Columns pgbun cannot fill truthfully keep their place and type:
//   - ptr and link (CLIENTS, SERVERS, SOCKETS) are "c<id>" for clients and
//     "s<id>" for servers instead of object addresses: unique, and a
//     client's link is its server's ptr.
//   - The packet-buffer columns of SOCKETS and ACTIVE_SOCKETS are 0;
//     ACTIVE_SOCKETS lists the connections linked to a partner, since
//     pgbun cannot see per-connection buffered bytes.
//   - SHOW FDS, DNS_HOSTS and DNS_ZONES list nothing: pgbun has no socket
//     hand-off for online restarts (it restarts with SO_REUSEPORT) and
//     keeps no DNS cache; LISTS' dns_* rows are 0.
//   - SHOW MEM reports the Go heap in place of slab caches: heap_objects
//     (average size, live objects, bytes), heap_free, stacks and total
//     (bytes), clamped to int4 like every int4 column PgBouncer declares.
//   - LISTS' peer_pools and SHOW PEER_POOLS have one pool per configured
//     peer, with zero counts where the gateway tracks none.
//   - SHOW USERS' pool_size and reserve_pool_size are plain numbers (or
//     empty when unset), without PgBouncer's padding to nine characters.
//
// Timestamps print as PgBouncer's, local time to the second with the
// zone's abbreviation; an unset one prints as now, as in PgBouncer.
// Clients still logging in appear in SHOW SOCKETS only. The welcome adds
// integer_datetimes to PgBouncer's parameters, and is_superuser is "on"
// for admin sessions only.
package admin
