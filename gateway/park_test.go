//go:build linux

package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func waitParked(t *testing.T, p *proxy, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := p.gw.Events().Parked
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions parked, want %d", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIdleSessionsPark: idle transaction-pooled clients, plain and TLS,
// are parked on small goroutines; they keep their settings and prepared
// statements, answer pipelined queries sent while parked, and a parked
// client can be killed from the console.
func TestIdleSessionsPark(t *testing.T) {
	p := start(t, txnSetup("2", "admin_users", scramUser))
	const n = 8
	clients := make([]*pgx.Conn, n)
	for i := range clients {
		mode := "disable"
		if i%2 == 1 {
			mode = "verify-full"
		}
		c := p.connect(t, scramUser, scramPass, appDB, "sslmode", mode, "application_name", fmt.Sprintf("parked%d", i))
		exec1(t, c, fmt.Sprintf("SET TimeZone = 'UTC%+d'", i))
		if got := queryString(t, c, "SELECT $1::text", "warm"); got != "warm" {
			t.Fatalf("client %d: %q", i, got)
		}
		clients[i] = c
	}
	waitParked(t, p, n)

	// Back from parking: the session's tracked settings and the
	// prepared statement pgx made for "SELECT $1::text" are still there.
	for i, c := range clients {
		if got := queryString(t, c, "SELECT current_setting('TimeZone')"); got != fmt.Sprintf("UTC%+d", i) {
			t.Fatalf("client %d after parking: TimeZone %q", i, got)
		}
		if got := queryString(t, c, "SELECT $1::text", "again"); got != "again" {
			t.Fatalf("client %d after parking: %q", i, got)
		}
	}
	waitParked(t, p, n)

	// A batch written in one go while parked: every answer comes back.
	for i, c := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		b := &pgx.Batch{}
		for j := range 5 {
			b.Queue("SELECT $1::int * 2", j)
		}
		br := c.SendBatch(ctx, b)
		for j := range 5 {
			var v int
			if err := br.QueryRow().Scan(&v); err != nil || v != 2*j {
				t.Fatalf("client %d batch row %d: %d %v", i, j, v, err)
			}
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	waitParked(t, p, n)

	// KILL_CLIENT reaches a parked session: it ends, the others go on.
	adm := p.console(t, scramUser, scramPass)
	cols, rows := show(t, adm, "SHOW CLIENTS")
	var id string
	for _, r := range rows {
		if col(cols, r, "application_name") == "parked3" {
			id = col(cols, r, "id")
		}
	}
	if id == "" {
		t.Fatalf("parked3 not in SHOW CLIENTS: %v", rows)
	}
	show(t, adm, "KILL_CLIENT "+id)
	waitParked(t, p, n-1)
	if _, err := clients[3].Exec(context.Background(), "SELECT 1"); err == nil {
		t.Fatal("killed parked client still works")
	}
	for i, c := range clients {
		if i != 3 {
			queryString(t, c, "SELECT 'still here'")
		}
	}
}

// TestParkedIdleTimeout: client_idle_timeout ends a parked session on
// time, with PostgreSQL's error, over plain and TLS connections.
func TestParkedIdleTimeout(t *testing.T) {
	p := start(t, txnSetup("2", "client_idle_timeout", "3"))
	for _, mode := range []string{"disable", "verify-full"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pc, err := pgconn.Connect(ctx, p.url(scramUser, scramPass, appDB, "sslmode", mode))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
				t.Fatal(err)
			}
			idleFrom := time.Now()
			hj, err := pc.Hijack()
			if err != nil {
				t.Fatal(err)
			}
			defer hj.Conn.Close()
			waitParked(t, p, 1)
			hj.Conn.SetDeadline(time.Now().Add(15 * time.Second))
			expectIdleTimeout(t, hj.Frontend)
			// The parker checks parked sessions twice a second; the bound above
			// is loose for busy machines.
			if d := time.Since(idleFrom); d < 3*time.Second || d > 10*time.Second {
				t.Fatalf("idle timeout of 3s ended the session after %v", d)
			}
			waitParked(t, p, 0)
		})
	}
}

// TestShutdownReachesParkedClients: closing the gateway ends parked
// sessions at once; nothing waits on them and no goroutine is left.
func TestShutdownReachesParkedClients(t *testing.T) {
	p := start(t, txnSetup("2"))
	conns := make([]*pgconn.PgConn, 4)
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		mode := []string{"disable", "verify-full"}[i%2]
		c, err := pgconn.Connect(ctx, p.url(scramUser, scramPass, appDB, "sslmode", mode))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	waitParked(t, p, len(conns))
	closed := make(chan struct{})
	go func() {
		p.gw.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with parked clients connected")
	}
	for i, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Exec(ctx, "SELECT 1").ReadAll()
		cancel()
		if err == nil {
			t.Fatalf("client %d still served after Close", i)
		}
	}
}
