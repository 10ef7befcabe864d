package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgbun/pgbun/config"
	"github.com/pgbun/pgbun/internal/wire"
	"github.com/pgbun/pgbun/pool"
	"github.com/pgbun/pgbun/session"
)

// This file implements the console's control commands (PAUSE, RESUME,
// RECONNECT, KILL, ...) and what the command line needs to stop pgbun.

// ShutdownMode says how pgbun should stop.
type ShutdownMode string

const (
	ShutdownNow            ShutdownMode = ""                 // close everything at once
	ShutdownWaitForServers ShutdownMode = "WAIT_FOR_SERVERS" // let transactions in flight finish
	ShutdownWaitForClients ShutdownMode = "WAIT_FOR_CLIENTS" // let clients leave on their own
)

// ShutdownRequests delivers SHUTDOWN commands from the console to whoever
// runs the gateway (the command line), which carries them out.
func (g *Gateway) ShutdownRequests() <-chan ShutdownMode { return g.shutdownReq }

// SetReloader tells the gateway how to reload (RELOAD on the console): the
// command line re-reads the configuration file and calls Reload.
func (g *Gateway) SetReloader(f func() error) {
	g.mu.Lock()
	g.reloader = f
	g.mu.Unlock()
}

// poolsOf returns the pools serving database db ("" = all). SNI routes
// name their pools "<entry>/<database>".
func (g *Gateway) poolsOf(db string) []*pool.Pool {
	var out []*pool.Pool
	for _, p := range g.pools.Pools() {
		if isAuthPool(p.Key) {
			continue
		}
		if db == "" || p.Key.Database == db || strings.HasPrefix(p.Key.Database, db+"/") {
			out = append(out, p)
		}
	}
	return out
}

func (g *Gateway) checkDB(db string) error {
	if db == "" {
		return nil
	}
	if _, ok := g.state.Load().cfg.Databases[db]; ok {
		return nil
	}
	if len(g.poolsOf(db)) > 0 { // a database reached through the "*" entry
		return nil
	}
	return fmt.Errorf("no such database: %s", db)
}

// Pause stops handing out servers for db ("" = every database) and waits
// until its servers are back and closed: transactions in flight finish,
// new ones wait (PAUSE, SIGUSR1).
func (g *Gateway) Pause(ctx context.Context, db string) error {
	if err := g.checkDB(db); err != nil {
		return err
	}
	g.mu.Lock()
	if db == "" {
		g.allPaused = true
	} else {
		g.pausedDBs[db] = true
	}
	g.mu.Unlock()
	pools := g.poolsOf(db)
	for _, p := range pools {
		p.Pause()
	}
	for _, p := range pools {
		if err := p.WaitQuiet(ctx); err != nil {
			return fmt.Errorf("pause %s: still waiting for servers: %w", orAll(db), err)
		}
	}
	return nil
}

// Resume undoes Pause, Kill and Suspend for db ("" = everything).
func (g *Gateway) Resume(db string) error {
	if err := g.checkDB(db); err != nil {
		return err
	}
	g.mu.Lock()
	if db == "" {
		g.allPaused, g.suspended = false, false
		clear(g.pausedDBs)
	} else {
		delete(g.pausedDBs, db)
	}
	g.mu.Unlock()
	for _, p := range g.poolsOf(db) {
		if db == "" || !g.dbPaused(db) {
			p.Resume()
		}
	}
	return nil
}

// dbPaused reports whether db is paused (by PAUSE, KILL or SUSPEND).
func (g *Gateway) dbPaused(db string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allPaused || g.pausedDBs[db]
}

// Disable refuses new clients of db; Enable lets them in again.
func (g *Gateway) Disable(db string) error {
	if db == "" {
		return errors.New("DISABLE needs a database name")
	}
	if err := g.checkDB(db); err != nil {
		return err
	}
	g.disabled.Store(db, true)
	return nil
}

func (g *Gateway) Enable(db string) error {
	if db == "" {
		return errors.New("ENABLE needs a database name")
	}
	if err := g.checkDB(db); err != nil {
		return err
	}
	g.disabled.Delete(db)
	return nil
}

func (g *Gateway) isDisabled(db string) bool {
	_, ok := g.disabled.Load(db)
	return ok
}

// Reconnect closes the servers of db as they are released (RECONNECT).
func (g *Gateway) Reconnect(db string) error {
	if err := g.checkDB(db); err != nil {
		return err
	}
	for _, p := range g.poolsOf(db) {
		p.Recycle()
	}
	g.fastClose(db)
	return nil
}

// fastClose, with server_fast_close, ends at once the sessions of db that
// hold a server between transactions (session pooling), as PgBouncer
// does: their server is outdated and would otherwise serve them until
// they leave. Sessions inside a transaction end when it does.
func (g *Gateway) fastClose(db string) {
	if !g.state.Load().cfg.General.ServerFastClose {
		return
	}
	for _, c := range g.clientList() {
		if k, ok := c.poolKey(); ok && c.ready.Load() && c.Quiet.Load() && c.Server() != nil &&
			(k.Database == db || strings.HasPrefix(k.Database, db+"/")) {
			c.Kill(session.ErrFastClose())
		}
	}
}

// WaitClose waits until the servers RECONNECT or a reload recycled are
// gone (WAIT_CLOSE).
func (g *Gateway) WaitClose(ctx context.Context, db string) error {
	if err := g.checkDB(db); err != nil {
		return err
	}
	for _, p := range g.poolsOf(db) {
		if err := p.WaitRecycled(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Kill drops every client and server of db (of every database when db is
// "") at once and pauses it: new clients wait until RESUME (KILL). The
// console's own sessions stay.
func (g *Gateway) Kill(db string) error {
	if db != "" {
		if err := g.checkDB(db); err != nil {
			return err
		}
	}
	g.mu.Lock()
	if db == "" {
		g.allPaused = true
	} else {
		g.pausedDBs[db] = true
	}
	g.mu.Unlock()
	for _, p := range g.poolsOf(db) {
		p.Pause()
	}
	for _, c := range g.clientList() {
		k, ok := c.poolKey()
		if !ok || !c.ready.Load() || db != "" && k.Database != db && !strings.HasPrefix(k.Database, db+"/") {
			continue
		}
		if db == "" {
			c.Kill(wire.Fatal(wire.CodeAdminShutdown, "killed by an administrator"))
		} else {
			c.Kill(wire.Fatal(wire.CodeAdminShutdown, "database %s was killed by an administrator", db))
		}
	}
	return nil
}

// KillClient ends one client session (KILL_CLIENT).
func (g *Gateway) KillClient(id uint64) error {
	for _, c := range g.clientList() {
		if c.id == id {
			c.Kill(wire.Fatal(wire.CodeAdminShutdown, "client killed by an administrator"))
			return nil
		}
	}
	return fmt.Errorf("no client with id %d", id)
}

// Suspend pauses everything until RESUME (SUSPEND): sessions finish their
// transactions and wait, new clients log in and wait for a server.
// pgbun's binary upgrade hands sockets over without it.
func (g *Gateway) Suspend(ctx context.Context) error {
	g.mu.Lock()
	g.suspended = true
	g.mu.Unlock()
	return g.Pause(ctx, "")
}

// Shutdown asks the process to stop (SHUTDOWN [mode]).
func (g *Gateway) RequestShutdown(mode string) error {
	m := ShutdownMode(strings.ToUpper(strings.TrimSpace(mode)))
	switch m {
	case ShutdownNow, ShutdownWaitForServers, ShutdownWaitForClients:
	default:
		return fmt.Errorf("unknown shutdown mode %q", mode)
	}
	select {
	case g.shutdownReq <- m:
		return nil
	default:
		return errors.New("a shutdown is already under way")
	}
}

// ReloadFromSource re-reads the configuration through the reloader the
// command line set (RELOAD).
func (g *Gateway) ReloadFromSource() error {
	g.mu.Lock()
	f := g.reloader
	g.mu.Unlock()
	if f == nil {
		return errors.New("running on built-in defaults: there is no configuration file to reload")
	}
	return f()
}

// SetKey changes one setting of the running configuration (SET key =
// value); the file is not touched, so the next reload from it wins.
func (g *Gateway) SetKey(key, value string) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	next, err := config.With(g.state.Load().cfg, key, value)
	if err != nil {
		return err
	}
	return g.reloadLocked(next)
}

func orAll(db string) string {
	if db == "" {
		return "all databases"
	}
	return db
}

func tlsCipherName(id uint16) string { return tls.CipherSuiteName(id) }

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1.0"
	}
	return fmt.Sprintf("0x%04x", v)
}

// ShutdownAfterServers stops accepting, lets every transaction in flight
// finish (as PAUSE does), then closes the remaining clients with a FATAL
// message and stops (SIGINT, SHUTDOWN WAIT_FOR_SERVERS). ctx ending turns
// it into an immediate stop.
func (g *Gateway) ShutdownAfterServers(ctx context.Context) error {
	g.stopAccepting()
	g.mu.Lock()
	g.allPaused = true
	g.mu.Unlock()
	for _, p := range g.poolsOf("") {
		p.Pause() // no new transaction starts; servers close as they come back
	}
	// Close each client once it is between transactions: in session
	// pooling that is when its server is idle, in transaction pooling
	// when it holds none.
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var err error
	for {
		left := 0
		for _, c := range g.clientList() {
			if !c.ready.Load() || c.Quiet.Load() {
				c.Kill(wire.Fatal(wire.CodeAdminShutdown, "server shutting down"))
				continue
			}
			left++
		}
		if left == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-t.C:
			continue
		}
		break
	}
	// A moment for the FATAL messages to go out before sockets close.
	grace, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.Shutdown(grace)
	return err
}

// stopAccepting closes the listeners; connected clients go on.
func (g *Gateway) stopAccepting() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closing = true
	for ln := range g.listeners {
		ln.Close()
		delete(g.listeners, ln)
	}
}

// Ready reports whether pgbun accepts and serves clients (/readyz).
func (g *Gateway) Ready() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.closing && !g.suspended && len(g.listeners) > 0
}
