package admin

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/pgbun/pgbun/internal/snapshot"
)

// Source is what the console shows; the gateway implements it. Calls must
// be cheap and safe for concurrent use.
type Source interface {
	Pools() []snapshot.Pool
	Clients() []snapshot.Client
	Servers() []snapshot.Server
	Databases() []snapshot.Database
	Users() []snapshot.User
	Stats() []snapshot.Stats
	Config() []snapshot.Config
	State() snapshot.State
	Peers() []snapshot.Peer
	Lists() snapshot.Lists
	Certs() []snapshot.Cert
	Lockouts() []snapshot.Lockout
	Version() string
}

// Controller carries out console commands; only admin sessions call it.
// The console shows a returned error to the admin as its message (or its
// detail, for SET and RELOAD), so errors must not carry secrets. Wrapping
// one of this package's Err values gets PgBouncer's wording for that case.
type Controller interface {
	Pause(ctx context.Context, db string) error // "" = every database; returns when paused (servers released)
	Resume(db string) error
	Disable(db string) error
	Enable(db string) error
	Reconnect(db string) error
	Kill(db string) error
	KillClient(id uint64) error
	Suspend(ctx context.Context) error
	Shutdown(mode string) error // "", "WAIT_FOR_SERVERS" or "WAIT_FOR_CLIENTS"
	Reload() error
	WaitClose(ctx context.Context, db string) error
	Set(key, value string) error
}

// Errors a Controller may return (wrapped or not) to have the console
// answer with PgBouncer's message for that condition.
var (
	ErrNoDatabase      = errors.New("no such database")                     // "no such database: <db>"
	ErrNotPaused       = errors.New("not paused")                           // "database <db> is not paused" / "pooler is not paused/suspended"
	ErrAlreadyPaused   = errors.New("already suspended/paused")             // PAUSE, SUSPEND, KILL while paused
	ErrPausedDatabases = errors.New("cannot suspend with paused databases") // SUSPEND while a database is paused
	ErrShuttingDown    = errors.New("pooler is shutting down")              // RESUME during a shutdown
	ErrNoClient        = errors.New("client not found")                     // KILL_CLIENT of an unknown id
)

// Options describe one console session.
type Options struct {
	// Admin allows every command; false allows SHOW commands only, as
	// for PgBouncer's stats_users.
	Admin bool
	// ServerVersion is the server_version ParameterStatus console
	// clients see; "" uses Source.Version().
	ServerVersion string
	// ApplicationName is the client's startup application_name, echoed
	// back in a ParameterStatus as PgBouncer does; "" sends none.
	ApplicationName string
	// PID and Secret are the BackendKeyData the client gets (the gateway
	// chose them). An empty Secret sends no BackendKeyData.
	PID    uint32
	Secret []byte
}

// Serve runs the console on an authenticated connection: it sends
// AuthenticationOk, the ParameterStatus messages PgBouncer's console sends
// (server_version, client_encoding, server_encoding, DateStyle, TimeZone,
// standard_conforming_strings, integer_datetimes, is_superuser,
// application_name), BackendKeyData and ReadyForQuery, then answers
// simple-protocol queries until Terminate (nil), a read or write error, or
// the end of ctx (ctx.Err()).
//
// r and w are the client connection; Serve reads message bodies of at most
// 64 KiB. If w has a SetDeadline method (a net.Conn does), the end of ctx
// interrupts blocked reads and writes through it; otherwise the caller
// must close the connection to end a Serve that waits for the client.
// Serve does not close the connection. src must not be nil; ctl may be
// nil, which makes the session a stats session whatever opts.Admin says.
func Serve(ctx context.Context, r *bufio.Reader, w io.Writer, src Source, ctl Controller, opts Options) error {
	s := newSession(ctx, r, w, src, ctl, opts)
	return s.run()
}
