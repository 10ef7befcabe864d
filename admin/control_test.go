package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestControlCommands(t *testing.T) {
	ctl := &fakeCtl{}
	c := startConsole(t, sample(), ctl, Options{Admin: true})
	conn := c.connect(t, nil)
	for _, tc := range []struct {
		sql, tag, call string
	}{
		{"PAUSE", "PAUSE", `Pause("")`},
		{"pause app;", "PAUSE", `Pause("app")`},
		{`PAUSE "my""db"`, "PAUSE", `Pause("my\"db")`},
		{"RESUME", "RESUME", `Resume("")`},
		{"Resume App", "RESUME", `Resume("App")`},
		{"DISABLE app", "DISABLE", `Disable("app")`},
		{"ENABLE app", "ENABLE", `Enable("app")`},
		{"RECONNECT", "RECONNECT", `Reconnect("")`},
		{"RECONNECT app", "RECONNECT", `Reconnect("app")`},
		{"KILL", "KILL", `Kill("")`},
		{"KILL app", "KILL", `Kill("app")`},
		{"KILL_CLIENT 42", "KILL_CLIENT", `KillClient("42")`},
		{"SUSPEND", "SUSPEND", `Suspend()`},
		{"SHUTDOWN", "SHUTDOWN", `Shutdown("")`},
		{"shutdown wait_for_servers", "SHUTDOWN", `Shutdown("WAIT_FOR_SERVERS")`},
		{"SHUTDOWN WAIT_FOR_CLIENTS", "SHUTDOWN", `Shutdown("WAIT_FOR_CLIENTS")`},
		{"RELOAD", "RELOAD", `Reload()`},
		{"WAIT_CLOSE", "WAIT_CLOSE", `WaitClose("")`},
		{"WAIT_CLOSE app", "WAIT_CLOSE", `WaitClose("app")`},
		{"SET default_pool_size = 30", "SET default_pool_size=30", `Set("default_pool_size","30")`},
		{"set default_pool_size to '31'", "SET default_pool_size=31", `Set("default_pool_size","31")`},
		{"SET server_reset_query = 'SELECT ''x'''", "SET server_reset_query=SELECT 'x'", `Set("server_reset_query","SELECT 'x'")`},
		{"SET listen_addr=10.0.0.1", "SET listen_addr=10.0.0.1", `Set("listen_addr","10.0.0.1")`},
		{`SET "max_client_conn" = "500"`, "SET max_client_conn=500", `Set("max_client_conn","500")`},
	} {
		r := mustExec(t, conn, tc.sql)
		if r.tag != tc.tag {
			t.Errorf("%s: tag %q, want %q", tc.sql, r.tag, tc.tag)
		}
		if got := ctl.takeCalls(); len(got) != 1 || got[0] != tc.call {
			t.Errorf("%s: calls %v, want %s", tc.sql, got, tc.call)
		}
	}
}

func TestControlErrors(t *testing.T) {
	ctl := &fakeCtl{}
	c := startConsole(t, sample(), ctl, Options{Admin: true})
	conn := c.connect(t, nil)
	for _, tc := range []struct {
		sql    string
		method string
		err    error
		code   string
		msg    string
	}{
		{"PAUSE nosuch", "Pause", fmt.Errorf("lookup: %w", ErrNoDatabase), "08P01", "no such database: nosuch"},
		{"RESUME app", "Resume", ErrNotPaused, "08P01", "database app is not paused"},
		{"RESUME", "Resume", ErrNotPaused, "08P01", "pooler is not paused/suspended"},
		{"RESUME", "Resume", ErrShuttingDown, "08P01", "pooler is shutting down"},
		{"PAUSE", "Pause", ErrAlreadyPaused, "08P01", "already suspended/paused"},
		{"SUSPEND", "Suspend", ErrPausedDatabases, "08P01", "cannot suspend with paused databases"},
		{"KILL_CLIENT 9", "KillClient", ErrNoClient, "08P01", "client not found"},
		{"KILL app", "Kill", errors.New("kill app: pool is closing"), "08P01", "kill app: pool is closing"},
		{"RELOAD", "Reload", errors.New("pgbun.ini line 3: unknown key"), "F0000", "RELOAD failed, see logs for additional details"},
		{"SET foo = 1", "Set", errors.New("unknown setting foo"), "08P01", "SET failed"},
	} {
		ctl.errs = map[string]error{tc.method: tc.err}
		_, err := exec(t, conn, tc.sql)
		pe := pgErr(t, err, tc.code, tc.msg)
		if pe.Severity != "ERROR" {
			t.Errorf("%s: severity %s", tc.sql, pe.Severity)
		}
		if (tc.method == "Reload" || tc.method == "Set") && pe.Detail != tc.err.Error() {
			t.Errorf("%s: detail %q, want %q", tc.sql, pe.Detail, tc.err.Error())
		}
		ctl.takeCalls()
	}
	ctl.errs = nil

	// Refused by the console itself, without calling the controller.
	for _, tc := range []struct{ sql, msg string }{
		{"PAUSE pgbouncer", "cannot pause admin db: pgbouncer"},
		{"KILL pgbun", "cannot kill admin db: pgbun"},
		{"RECONNECT pgbouncer", "cannot reconnect admin db: pgbouncer"},
		{"WAIT_CLOSE pgbouncer", "cannot wait in admin db: pgbouncer"},
		{"DISABLE pgbouncer", "cannot disable admin db: pgbouncer"},
		{"ENABLE pgbouncer", "cannot enable admin db: pgbouncer"},
		{"DISABLE", "a database is required"},
		{"ENABLE", "a database is required"},
		{"KILL_CLIENT abc", "invalid client pointer supplied"},
		{"KILL_CLIENT", "invalid client pointer supplied"},
		{"RELOAD now", "invalid command 'RELOAD now', use SHOW HELP;"},
		{"SUSPEND all", "invalid command 'SUSPEND all', use SHOW HELP;"},
		{"SHUTDOWN later", "invalid command 'SHUTDOWN later', use SHOW HELP;"},
		{`SET "" = 1`, "bad arguments"},
	} {
		_, err := exec(t, conn, tc.sql)
		pgErr(t, err, "08P01", tc.msg)
	}
	if calls := ctl.takeCalls(); len(calls) != 0 {
		t.Errorf("controller called: %v", calls)
	}
}

func TestStatsUserRefused(t *testing.T) {
	ctl := &fakeCtl{}
	c := startConsole(t, sample(), ctl, Options{Admin: false})
	var notices []string
	conn := c.connect(t, func(cfg *pgconn.Config) {
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	})
	if conn.ParameterStatus("is_superuser") != "off" {
		t.Errorf("is_superuser %q for a stats user", conn.ParameterStatus("is_superuser"))
	}
	for _, sql := range []string{
		"PAUSE", "RESUME app", "DISABLE app", "ENABLE app", "RECONNECT", "KILL app", "KILL_CLIENT 1",
		"SUSPEND", "SHUTDOWN", "RELOAD", "WAIT_CLOSE", "SET default_pool_size = 1",
	} {
		_, err := exec(t, conn, sql)
		pgErr(t, err, "08P01", "admin access needed")
	}
	if calls := ctl.takeCalls(); len(calls) != 0 {
		t.Errorf("controller called: %v", calls)
	}
	// Settings drivers set on connect are acknowledged for anyone.
	r := mustExec(t, conn, "SET DateStyle = 'ISO'")
	if r.tag != "SET" || len(notices) != 1 || notices[0] != "SET ignored" {
		t.Errorf("fake SET: tag %q notices %v", r.tag, notices)
	}
	mustExec(t, conn, "SHOW STATS")
}

func TestNilControllerIsStatsSession(t *testing.T) {
	c := startConsole(t, sample(), nil, Options{Admin: true})
	conn := c.connect(t, nil)
	_, err := exec(t, conn, "RELOAD")
	pgErr(t, err, "08P01", "admin access needed")
	mustExec(t, conn, "SHOW VERSION")
}

// TestPauseWaits checks that PAUSE answers only once the controller
// returns, and that the controller's context ends when the client leaves.
func TestPauseWaits(t *testing.T) {
	release := make(chan struct{})
	ended := make(chan error, 1)
	ctl := &fakeCtl{block: func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			ended <- ctx.Err()
			return ctx.Err()
		}
	}}
	c := startConsole(t, sample(), ctl, Options{Admin: true})
	conn := c.connect(t, nil)

	done := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		results, err := conn.Exec(ctx, "SHOW STATE; PAUSE app").ReadAll()
		if err != nil || len(results) != 2 {
			done <- fmt.Sprintf("%d results, %v", len(results), err)
			return
		}
		done <- results[1].CommandTag.String()
	}()
	select {
	case <-done:
		t.Fatal("PAUSE answered before the pools were paused")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case tag := <-done:
		if tag != "PAUSE" {
			t.Fatalf("PAUSE answered %s", tag)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PAUSE did not answer")
	}
	mustExec(t, conn, "SHOW VERSION") // the session goes on

	// A client that disconnects while waiting cancels the wait.
	ctl.block = func(ctx context.Context) error {
		<-ctx.Done()
		ended <- ctx.Err()
		return ctx.Err()
	}
	raw, _ := c.dial(t)
	raw.Write(queryMsg("WAIT_CLOSE app"))
	deadline := time.After(5 * time.Second)
	for len(ctl.takeCallsPeek()) == 0 {
		select {
		case <-deadline:
			t.Fatal("WAIT_CLOSE not called")
		case <-time.After(5 * time.Millisecond):
		}
	}
	raw.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("wait ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait was not canceled when the client left")
	}
	if err := c.waitServed(t); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("Serve returned %v", err)
	}
}

// takeCallsPeek returns the calls so far without clearing them.
func (f *fakeCtl) takeCallsPeek() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}
