package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// poolWaiting returns how many clients wait for a server of db's pool.
func poolWaiting(p *proxy, db string) int {
	for _, row := range p.gw.Pools() {
		if row.Database == db {
			return row.ClWaiting
		}
	}
	return 0
}

// TestQueuedClientHangsUp: a client that hangs up while it waits for a
// server leaves the queue at once, even with query_wait_timeout = 0
// (wait for ever), in session and in transaction pooling; the server
// then goes to the next client in line.
func TestQueuedClientHangsUp(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			p := start(t, setup{general: map[string]string{
				"pool_mode": mode, "default_pool_size": "1", "query_wait_timeout": "0"}})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			holder := p.connect(t, scramUser, scramPass, appDB)
			var quitter interface{ Close() error }
			done := make(chan error, 1)
			if mode == "transaction" {
				// Logged in first: a login needs a server too.
				q := p.connect(t, scramUser, scramPass, appDB)
				quitter = q.PgConn().Conn()
				if _, err := holder.Exec(ctx, "begin"); err != nil {
					t.Fatal(err)
				}
				go func() { _, err := q.Exec(ctx, "select 1"); done <- err }()
			} else {
				// The login itself waits for the only server.
				go func() {
					q, err := connectFrom(ctx, "127.0.0.1", p.url(scramUser, scramPass, appDB))
					if err == nil {
						q.Close(ctx)
					}
					done <- err
				}()
			}
			waitFor(t, 10*time.Second, func() bool { return poolWaiting(p, appDB) == 1 })
			if quitter != nil {
				quitter.Close()
			} else {
				cancel() // pgx closes the socket when its context ends
			}
			<-done
			waitFor(t, 2*time.Second, func() bool { return poolWaiting(p, appDB) == 0 })
			// The server goes to the next client, not to the one that left.
			if mode == "transaction" {
				if _, err := holder.Exec(context.Background(), "commit"); err != nil {
					t.Fatal(err)
				}
			} else {
				holder.Close(context.Background())
			}
			next := p.connect(t, scramUser, scramPass, appDB)
			queryString(t, next, "select 'served'")
		})
	}
}

// TestQueuedClientKilled: KILL_CLIENT ends a client's wait for a server at
// once.
func TestQueuedClientKilled(t *testing.T) {
	p, ctx, _, q := oneServerInUse(t, "0")
	done := make(chan error, 1)
	go func() { _, err := q.Exec(ctx, "select 1"); done <- err }()
	waitFor(t, 10*time.Second, func() bool { return poolWaiting(p, appDB) == 1 })
	var killed bool
	for _, c := range p.gw.Clients() {
		if c.State == "waiting" {
			if err := p.gw.KillClient(c.ID); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	if !killed {
		t.Fatal("no waiting client listed")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("killed client's query succeeded")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("KILL_CLIENT did not end the wait")
	}
	waitFor(t, 2*time.Second, func() bool { return poolWaiting(p, appDB) == 0 })
}

// TestFlushInsideTransactionReleasesServer: a Flush sent while nothing is
// in flight does not leave the session waiting for a Sync, so the server
// goes back to the pool when the transaction ends.
func TestFlushInsideTransactionReleasesServer(t *testing.T) {
	_, ctx, a, b := oneServerInUse(t, "3")
	// A Flush while the transaction is idle: nothing answers it.
	if _, err := a.PgConn().Conn().Write([]byte{'H', 0, 0, 0, 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "commit"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, "select 1"); err != nil {
		t.Fatalf("the only server was not given back after the transaction: %v", err)
	}
}

// oneServerInUse starts a transaction pool of one server with
// query_wait_timeout wait, logs two clients in, and opens a transaction on
// the first, which so holds the only server. ctx ends with the test.
func oneServerInUse(t *testing.T, wait string) (*proxy, context.Context, *pgx.Conn, *pgx.Conn) {
	t.Helper()
	p := start(t, setup{general: map[string]string{
		"pool_mode": "transaction", "default_pool_size": "1", "query_wait_timeout": wait}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	holder := p.connect(t, scramUser, scramPass, appDB)
	other := p.connect(t, scramUser, scramPass, appDB) // logged in first: a login needs a server too
	if _, err := holder.Exec(ctx, "begin"); err != nil {
		t.Fatal(err)
	}
	return p, ctx, holder, other
}

// TestQueryWaitTimeoutPerEntry: a [users] query_wait_timeout wins over the
// [databases] one, which wins over [pgbouncer]'s.
func TestQueryWaitTimeoutPerEntry(t *testing.T) {
	for _, tc := range []struct{ name, db, users string }{
		{"database", " query_wait_timeout=1", ""},
		{"user", " query_wait_timeout=200", scramUser + " = query_wait_timeout=1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, setup{
				general:   map[string]string{"pool_mode": "transaction", "default_pool_size": "1", "query_wait_timeout": "200"},
				databases: fmt.Sprintf("%s = host=127.0.0.1 port=%d%s\n", appDB, pg.Port(), tc.db),
				users:     tc.users,
			})
			ctx := context.Background()
			holder := p.connect(t, scramUser, scramPass, appDB)
			waiter := p.connect(t, scramUser, scramPass, appDB)
			exec1(t, holder, "begin")
			started := time.Now()
			_, err := waiter.Exec(ctx, "select 1")
			if err == nil || !strings.Contains(err.Error(), "query_wait_timeout") {
				t.Fatalf("waiter: %v", err)
			}
			if waited := time.Since(started); waited > 5*time.Second {
				t.Fatalf("waited %v with a 1 s query_wait_timeout", waited)
			}
		})
	}
}
