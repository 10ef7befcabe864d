package gateway

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/pgbun/pgbun/admin"
	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/login"
	"github.com/pgbun/pgbun/session"
)

// serveConsole runs the admin console for a client that connected to the
// database pgbouncer (or pgbun). Who may use it, as PgBouncer: the user
// pgbouncer over the Unix socket when its process runs as pgbun's own
// operating-system user (no password); otherwise users in admin_users
// (every command) or stats_users (SHOW only), after authenticating like
// any client.
func (g *Gateway) serveConsole(c *client, st *state, loggedIn func()) error {
	gen := &st.cfg.General
	isAdmin := slices.Contains(gen.AdminUsers, c.User)
	isStats := isAdmin || slices.Contains(gen.StatsUsers, c.User)
	switch {
	case c.unix && c.User == "pgbouncer" && login.PeerIsSelf(c.Raw):
		isAdmin, c.method = true, "peer"
	case gen.AuthType == config.AuthServer || gen.AuthType == config.AuthAny:
		return &login.Failure{
			Client: wire.Fatal(wire.CodeInvalidAuthSpec, "the admin console needs a password login (auth_file): not available with auth_type %s", gen.AuthType),
			Reason: "console with auth_type " + string(gen.AuthType),
		}
	default:
		if err := g.authenticate(c, st, target{db: &config.Database{Name: c.dbname}}); err != nil {
			return err
		}
		if !isStats {
			return &login.Failure{
				Client: wire.Fatal(wire.CodeInvalidAuthSpec, "not allowed to use the admin console: user %q is in neither admin_users nor stats_users", c.User),
				Reason: "not an admin or stats user",
			}
		}
	}
	loggedIn()
	g.cancels.register(c, gen.PeerID)
	defer g.cancels.unregister(c)
	c.Raw.SetDeadline(time.Time{})
	c.ready.Store(true)
	c.State.Store(int32(session.Active)) // shown in SHOW CLIENTS, as PgBouncer shows it
	c.Quiet.Store(true)                  // a console session holds no transaction
	g.audit.event("login_ok", "user", c.User, "database", c.dbname, "addr", c.Addr, "method", c.method, "tls", tlsVersion(c), "console", true)
	if gen.LogConnections {
		g.log.Info("console login", "client", c.Addr, "user", c.User, "admin", isAdmin)
	}
	// KILL_CLIENT and shutdown cancel the client's context, which ends
	// the console session.
	ctx := c.Context()
	var ctl admin.Controller
	if isAdmin {
		ctl = consoleControl{g}
	}
	err := admin.Serve(ctx, c.In, c.Conn, g, ctl, admin.Options{
		Admin: isAdmin, ServerVersion: Version + "/pgbun", ApplicationName: c.params["application_name"],
		PID: c.pid, Secret: c.secret,
	})
	if k := c.Killed(); k != nil {
		c.fail(k)
	}
	if err != nil && !errors.Is(err, context.Canceled) && !isQuietDisconnect(err) {
		return err
	}
	return errHandled
}

// consoleControl adapts the gateway to the console's Controller.
type consoleControl struct{ g *Gateway }

func (cc consoleControl) Pause(ctx context.Context, db string) error { return cc.g.Pause(ctx, db) }
func (cc consoleControl) Resume(db string) error                     { return cc.g.Resume(db) }
func (cc consoleControl) Disable(db string) error                    { return cc.g.Disable(db) }
func (cc consoleControl) Enable(db string) error                     { return cc.g.Enable(db) }
func (cc consoleControl) Reconnect(db string) error                  { return cc.g.Reconnect(db) }
func (cc consoleControl) Kill(db string) error                       { return cc.g.Kill(db) }
func (cc consoleControl) KillClient(id uint64) error                 { return cc.g.KillClient(id) }
func (cc consoleControl) Suspend(ctx context.Context) error          { return cc.g.Suspend(ctx) }
func (cc consoleControl) Shutdown(mode string) error                 { return cc.g.RequestShutdown(mode) }
func (cc consoleControl) Reload() error                              { return cc.g.ReloadFromSource() }
func (cc consoleControl) WaitClose(ctx context.Context, db string) error {
	return cc.g.WaitClose(ctx, db)
}
func (cc consoleControl) Set(key, value string) error {
	return cc.g.SetKey(strings.TrimSpace(key), strings.TrimSpace(value))
}
