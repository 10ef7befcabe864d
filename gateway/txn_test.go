package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

func txnSetup(size string, extra ...string) setup {
	g := map[string]string{"pool_mode": "transaction", "default_pool_size": size}
	for i := 0; i+1 < len(extra); i += 2 {
		g[extra[i]] = extra[i+1]
	}
	return setup{general: g}
}

func exec1(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestTransactionPoolingManyClients: 16 clients with pgx's statement
// cache (named prepared statements), transactions and batches share a
// pool of 2 servers.
func TestTransactionPoolingManyClients(t *testing.T) {
	p := start(t, txnSetup("2"))
	setupConn := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, setupConn, "create table if not exists txn_t(id int primary key, v int)")
	exec1(t, setupConn, "truncate txn_t")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	pids := sync.Map{}
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := pgx.Connect(ctx, p.url(scramUser, scramPass, appDB))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(ctx)
			for j := range 20 {
				tx, err := c.Begin(ctx)
				if err != nil {
					errs <- fmt.Errorf("client %d begin: %w", i, err)
					return
				}
				var pid int
				if err := tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
					errs <- err
					return
				}
				pids.Store(pid, true)
				if _, err := tx.Exec(ctx, "insert into txn_t values ($1, $2)", i*100+j, j); err != nil {
					errs <- fmt.Errorf("client %d insert: %w", i, err)
					return
				}
				var pid2 int
				if err := tx.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid2); err != nil || pid2 != pid {
					errs <- fmt.Errorf("client %d: transaction moved from server %d to %d (%v)", i, pid, pid2, err)
					return
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
				b := &pgx.Batch{}
				b.Queue("select count(*) from txn_t where id = $1", i*100+j)
				b.Queue("select $1::int + 1", j)
				br := c.SendBatch(ctx, b)
				var n, m int
				if err := br.QueryRow().Scan(&n); err != nil || n != 1 {
					errs <- fmt.Errorf("client %d batch row count %d: %v", i, n, err)
				}
				if err := br.QueryRow().Scan(&m); err != nil || m != j+1 {
					errs <- fmt.Errorf("client %d batch %d: %v", i, m, err)
				}
				br.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := 0
	pids.Range(func(any, any) bool { n++; return true })
	if n > 2 {
		t.Errorf("%d server backends used by a pool of 2", n)
	}
	if got := queryString(t, setupConn, "select count(*)::text from txn_t"); got != "320" {
		t.Errorf("rows = %s", got)
	}
}

// TestPgbenchPreparedTransactionMode: pgbench -M prepared, 8 clients, a
// pool of 2.
func TestPgbenchPreparedTransactionMode(t *testing.T) {
	p := start(t, txnSetup("2", "ignore_startup_parameters", "extra_float_digits"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := p.url(scramUser, scramPass, appDB)
	c := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, c, "create table if not exists pb(a int)")
	exec1(t, c, "insert into pb select generate_series(1, 100)")
	for _, mode := range []string{"prepared", "extended", "simple"} {
		// One thread per client: pgbench prepares synchronously, so a thread
		// driving several clients would wait on one client's Parse while
		// another of its clients holds a server in a transaction.
		cmd := exec.CommandContext(ctx, "pgbench", "-n", "-M", mode, "-c", "8", "-j", "8", "-t", "100", "-f", "-", url)
		cmd.Stdin = strings.NewReader("\\set x random(1, 100)\nselect a from pb where a = :x;\nbegin;\nselect count(*) from pb;\nend;\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "number of transactions actually processed: 800/800") {
			t.Fatalf("pgbench -M %s: %v\n%s", mode, err, out)
		}
	}
}

// TestStatementNameReuse: a reused name gets PostgreSQL's own 42P05 and
// the connection carries on.
func TestStatementNameReuse(t *testing.T) {
	p := start(t, txnSetup("1"))
	c := p.connect(t, scramUser, scramPass, appDB)
	pc := c.PgConn()
	ctx := context.Background()
	if _, err := pc.Prepare(ctx, "s1", "select $1::int", nil); err != nil {
		t.Fatal(err)
	}
	_, err := pc.Prepare(ctx, "s1", "select 2", nil)
	if pe := pgErr(t, err); pe.Code != "42P05" || pe.Message != `prepared statement "s1" already exists` {
		t.Fatalf("got %+v", pe)
	}
	res := pc.ExecPrepared(ctx, "s1", [][]byte{[]byte("41")}, nil, nil).Read()
	if res.Err != nil || string(res.Rows[0][0]) != "41" {
		t.Fatalf("s1 after the failed reuse: %v %v", res.Err, res.Rows)
	}
	// Describe of an unknown statement: PostgreSQL's 26000.
	_, err = pc.Prepare(ctx, "", "select 1", nil)
	if err != nil {
		t.Fatal(err)
	}
	res = pc.ExecPrepared(ctx, "nosuch", nil, nil, nil).Read()
	if pe := pgErr(t, res.Err); pe.Code != "26000" || !strings.Contains(pe.Message, `"nosuch"`) {
		t.Fatalf("unknown statement: %+v", pe)
	}
	// Another client on the same (single) server does not see the junk
	// the 42P05 answer left: its own unknown name still fails.
	c2 := p.connect(t, scramUser, scramPass, appDB)
	res = c2.PgConn().ExecPrepared(ctx, "s1", nil, nil, nil).Read()
	if pe := pgErr(t, res.Err); pe.Code != "26000" {
		t.Fatalf("s1 leaked to another client: %+v", res)
	}
	// Close, then the name is free again.
	if err := pc.Deallocate(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Prepare(ctx, "s1", "select 3", nil); err != nil {
		t.Fatalf("prepare after close: %v", err)
	}
}

// TestPreparedAcrossServers: statements follow the client to whichever
// server runs its next transaction, and DEALLOCATE ALL resets them.
func TestPreparedAcrossServers(t *testing.T) {
	p := start(t, txnSetup("3", "max_prepared_statements", "2"))
	ctx := context.Background()
	c := p.connect(t, scramUser, scramPass, appDB)
	pc := c.PgConn()
	for i := range 5 {
		if _, err := pc.Prepare(ctx, fmt.Sprintf("q%d", i), fmt.Sprintf("select %d + $1::int", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Hold the other servers in transactions so this client moves around.
	others := []*pgx.Conn{p.connect(t, scramUser, scramPass, appDB), p.connect(t, scramUser, scramPass, appDB)}
	for round := range 3 {
		for i := range 5 {
			res := pc.ExecPrepared(ctx, fmt.Sprintf("q%d", i), [][]byte{[]byte("10")}, nil, nil).Read()
			if res.Err != nil || string(res.Rows[0][0]) != fmt.Sprint(10+i) {
				t.Fatalf("round %d q%d: %v %q", round, i, res.Err, res.Rows)
			}
		}
		o := others[round%2]
		exec1(t, o, "begin")
		exec1(t, o, "select 1")
		defer exec1(t, o, "rollback")
	}
	if _, err := pc.Exec(ctx, "DEALLOCATE ALL").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Prepare(ctx, "q0", "select 'again'", nil); err != nil {
		t.Fatalf("q0 after DEALLOCATE ALL: %v", err)
	}
	// pgbun's names on the server are bounded by max_prepared_statements.
	var n int
	if err := c.QueryRow(ctx, "select count(*) from pg_prepared_statements where name like 'pgbun\\_%' and name <> 'pgbun_nop'").Scan(&n); err != nil || n > 2 {
		t.Fatalf("%d pgbun statements on a server with max_prepared_statements=2 (%v)", n, err)
	}
}

// TestPipelineWithError: an error inside a pipeline skips to the Sync, as
// PostgreSQL does, and the session goes on.
func TestPipelineWithError(t *testing.T) {
	p := start(t, txnSetup("1"))
	c := p.connect(t, scramUser, scramPass, appDB)
	ctx := context.Background()
	b := &pgx.Batch{}
	b.Queue("select 1")
	b.Queue("select 1/0")
	b.Queue("select 3")
	err := c.SendBatch(ctx, b).Close()
	if pe := pgErr(t, err); pe.Code != "22012" {
		t.Fatalf("got %v", err)
	}
	if got := queryString(t, c, "select 'after'"); got != "after" {
		t.Fatal(got)
	}
}

// TestTrackedParametersDoNotLeak: a client's SET of a tracked parameter
// follows it to other servers and never shows up in another client's
// session.
func TestTrackedParametersDoNotLeak(t *testing.T) {
	p := start(t, txnSetup("1"))
	a := p.connect(t, scramUser, scramPass, appDB)
	b := p.connect(t, scramUser, scramPass, appDB, "application_name", "bee")
	def := queryString(t, b, "show timezone")
	exec1(t, a, "set timezone = 'Asia/Tokyo'")
	exec1(t, a, "set application_name = 'aye'")
	for range 3 {
		if got := queryString(t, b, "show timezone"); got != def {
			t.Fatalf("b sees timezone %q, want %q", got, def)
		}
		if got := queryString(t, b, "show application_name"); got != "bee" {
			t.Fatalf("b sees application_name %q", got)
		}
		if got := queryString(t, a, "show timezone"); got != "Asia/Tokyo" {
			t.Fatalf("a lost its timezone: %q", got)
		}
		if got := queryString(t, a, "show application_name"); got != "aye" {
			t.Fatalf("a lost its application_name: %q", got)
		}
	}
	// A startup option that the server does not report (search_path) is
	// applied per client and reset for others.
	s := p.connect(t, scramUser, scramPass, appDB, "options", "-c search_path=pg_catalog")
	for range 2 {
		if got := queryString(t, s, "show search_path"); got != "pg_catalog" {
			t.Fatalf("s search_path %q", got)
		}
		if got := queryString(t, b, "show search_path"); got == "pg_catalog" {
			t.Fatal("search_path leaked to b")
		}
	}
}

// TestStatementMode: single statements run; a transaction block ends
// the session with a clear error.
func TestStatementMode(t *testing.T) {
	p := start(t, setup{general: map[string]string{"pool_mode": "statement", "default_pool_size": "1"}})
	c := p.connect(t, scramUser, scramPass, appDB, "default_query_exec_mode", "simple_protocol")
	if got := queryString(t, c, "select 'one'"); got != "one" {
		t.Fatal(got)
	}
	ctx := context.Background()
	_, err := c.Exec(ctx, "begin")
	if err == nil {
		_, err = c.Exec(ctx, "select 1")
	}
	if err == nil || !strings.Contains(err.Error(), "statement pooling") {
		t.Fatalf("transaction in statement mode: %v", err)
	}
	c2 := p.connect(t, scramUser, scramPass, appDB)
	if got := queryString(t, c2, "select 'fine'"); got != "fine" {
		t.Fatal(got)
	}
}

// TestDisconnectMidTransaction: a client that leaves inside a transaction
// has it rolled back; the server is reused clean.
func TestDisconnectMidTransaction(t *testing.T) {
	p := start(t, txnSetup("1"))
	a := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, a, "create table if not exists mid(x int)")
	exec1(t, a, "truncate mid")
	exec1(t, a, "begin")
	exec1(t, a, "insert into mid values (1)")
	a.Close(context.Background())
	b := p.connect(t, scramUser, scramPass, appDB)
	if got := queryString(t, b, "select count(*)::text from mid"); got != "0" {
		t.Fatalf("uncommitted row visible: %s", got)
	}
	// A's transaction had written, so it had an xid; a fresh one has none.
	if got := queryString(t, b, "select (pg_current_xact_id_if_assigned() is null)::text"); got != "true" {
		t.Fatal("b landed inside a transaction")
	}
}

// TestCopyTransactionMode streams COPY in both directions.
func TestCopyTransactionMode(t *testing.T) {
	p := start(t, txnSetup("1"))
	c := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, c, "create table if not exists cp(a int, b text)")
	exec1(t, c, "truncate cp")
	rows := make([][]any, 5000)
	for i := range rows {
		rows[i] = []any{i, strings.Repeat("x", i%50)}
	}
	n, err := c.CopyFrom(context.Background(), pgx.Identifier{"cp"}, []string{"a", "b"}, pgx.CopyFromRows(rows))
	if err != nil || n != 5000 {
		t.Fatalf("copy from: %d %v", n, err)
	}
	var sb strings.Builder
	tag, err := c.PgConn().CopyTo(context.Background(), &sb, "copy cp to stdout")
	if err != nil || tag.RowsAffected() != 5000 {
		t.Fatalf("copy to: %v %v", tag, err)
	}
	if got := queryString(t, c, "select count(*)::text from cp"); got != "5000" {
		t.Fatal(got)
	}
}

// TestCancelTransactionMode cancels the query of the right client.
func TestCancelTransactionMode(t *testing.T) {
	p := start(t, txnSetup("2"))
	c := p.connect(t, scramUser, scramPass, appDB)
	other := p.connect(t, scramUser, scramPass, appDB)
	errc := make(chan error, 1)
	go func() {
		_, err := other.Exec(context.Background(), "select pg_sleep(2)")
		errc <- err
	}()
	if err := sleepAndCancel(c); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("the other client's query was hit: %v", err)
	}
}

// TestTimeouts: idle_transaction_timeout, client_idle_timeout and
// query_timeout.
func TestTimeouts(t *testing.T) {
	p := start(t, txnSetup("2", "idle_transaction_timeout", "0.3", "client_idle_timeout", "0.6", "query_timeout", "0.3"))
	ctx := context.Background()
	c := p.connect(t, scramUser, scramPass, appDB)
	_, err := c.Exec(ctx, "select pg_sleep(5)")
	if pe := pgErr(t, err); pe.Code != "57014" {
		t.Fatalf("query_timeout: %v", err)
	}
	exec1(t, c, "begin")
	time.Sleep(700 * time.Millisecond)
	_, err = c.Exec(ctx, "select 1")
	if err == nil || !strings.Contains(err.Error(), "idle transaction timeout") && !errors.Is(err, context.Canceled) && !pgconn.SafeToRetry(err) && !strings.Contains(err.Error(), "closed") {
		t.Fatalf("idle_transaction_timeout: %v", err)
	}
	c2 := p.connect(t, scramUser, scramPass, appDB)
	time.Sleep(900 * time.Millisecond)
	if _, err := c2.Exec(ctx, "select 1"); err == nil {
		t.Fatal("client_idle_timeout did not close an idle client")
	}
	if !strings.Contains(p.logs(), "client_idle_timeout") || !strings.Contains(p.logs(), "idle transaction timeout") {
		t.Fatalf("timeouts not logged:\n%s", p.logs())
	}
}

// TestTransactionTimeout: transaction_timeout ends the session of a
// client whose transaction outlives it, busy or not, and its server is not
// handed to anyone in that state; a transaction that ends in time leaves
// no timer behind.
func TestTransactionTimeout(t *testing.T) {
	p := start(t, txnSetup("1", "transaction_timeout", "0.5"))
	ctx := context.Background()
	c := p.connect(t, scramUser, scramPass, appDB)
	exec1(t, c, "begin")
	exec1(t, c, "commit")
	time.Sleep(700 * time.Millisecond)
	exec1(t, c, "select 1") // the ended transaction's timer did not fire

	exec1(t, c, "begin")
	exec1(t, c, "create temp table tt (x int)")
	var err error
	for deadline := time.Now().Add(5 * time.Second); err == nil && time.Now().Before(deadline); {
		_, err = c.Exec(ctx, "select 1")
		time.Sleep(50 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("transaction_timeout did not end a busy transaction")
	}
	if !strings.Contains(p.logs(), "transaction timeout") {
		t.Fatalf("transaction_timeout not logged:\n%s", p.logs())
	}
	// The pool's one server was closed, not handed on inside the open
	// transaction: a new client starts clean.
	c2 := p.connect(t, scramUser, scramPass, appDB)
	var n int
	if err := c2.QueryRow(ctx, "select count(*) from pg_tables where tablename = 'tt'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after transaction_timeout: %v, %d temp tables left", err, n)
	}
}

// TestServerRestartTransactionMode: PostgreSQL restarts; clients in a
// transaction get an error, new transactions get fresh servers.
func TestServerRestartTransactionMode(t *testing.T) {
	p := start(t, txnSetup("2", "server_login_retry", "0.1"))
	c := p.connect(t, scramUser, scramPass, appDB)
	queryString(t, c, "select 'warm'")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.Exec(ctx, "select pg_terminate_backend(pid) from pg_stat_activity where usename = '"+scramUser+"' and pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	// The next transaction fails at most once, then works on a new server.
	var ok bool
	for range 3 {
		var s string
		if err := c.QueryRow(ctx, "select 'again'").Scan(&s); err == nil {
			ok = true
			break
		}
		if c.IsClosed() {
			c = p.connect(t, scramUser, scramPass, appDB)
		}
	}
	if !ok {
		t.Fatal("no transaction worked after the servers were killed")
	}
}

// TestConnectionLimits: max_db_client_connections refuses clients;
// max_user_connections caps servers across databases, queueing the rest.
func TestConnectionLimits(t *testing.T) {
	p := start(t, setup{
		general: map[string]string{"pool_mode": "transaction", "default_pool_size": "5",
			"max_db_client_connections": "3", "max_user_connections": "1"},
		databases: fmt.Sprintf("%s = host=127.0.0.1 port=%d\nother = host=127.0.0.1 port=%d dbname=%s\n",
			appDB, pg.Port(), pg.Port(), appDB),
	})
	a := p.connect(t, scramUser, scramPass, appDB)
	p.connect(t, scramUser, scramPass, appDB)
	p.connect(t, scramUser, scramPass, appDB)
	pe := pgErr(t, tryConnect(p.url(scramUser, scramPass, appDB)))
	if pe.Code != "53300" || !strings.Contains(pe.Message, "max_db_client_connections") {
		t.Fatalf("got %+v", pe)
	}
	// One server for alice across both databases: the second query waits
	// for the first transaction to end.
	b := p.connect(t, scramUser, scramPass, "other")
	exec1(t, a, "begin")
	exec1(t, a, "select 1")
	done := make(chan error, 1)
	go func() {
		_, err := b.Exec(context.Background(), "select 1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("second database got a server beyond max_user_connections: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	exec1(t, a, "commit")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestMessagesAcrossIdleWaits: between transactions a client waits with
// no read buffer and gets one when it sends again. A message that arrives
// a byte at a time, and several messages in one write, are still read
// whole, over plain TCP and TLS; client_idle_timeout still ends the wait.
func TestMessagesAcrossIdleWaits(t *testing.T) {
	p := start(t, txnSetup("1", "client_idle_timeout", "1"))
	query := func(sql string) []byte {
		b, err := (&pgproto3.Query{String: sql}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, sslmode := range []string{"disable", "verify-full"} {
		t.Run(sslmode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pc, err := pgconn.Connect(ctx, p.url(scramUser, scramPass, appDB, "sslmode", sslmode))
			if err != nil {
				t.Fatal(err)
			}
			hj, err := pc.Hijack()
			if err != nil {
				t.Fatal(err)
			}
			defer hj.Conn.Close()
			hj.Conn.SetDeadline(time.Now().Add(20 * time.Second))
			// answers reads the replies to the queries sent, in order,
			// and returns the single value each one returned.
			answers := func(n int) []string {
				var got []string
				for len(got) < n {
					msg, err := hj.Frontend.Receive()
					if err != nil {
						t.Fatalf("after %v: %v", got, err)
					}
					switch m := msg.(type) {
					case *pgproto3.DataRow:
						got = append(got, string(m.Values[0]))
					case *pgproto3.ErrorResponse:
						t.Fatalf("error: %s", m.Message)
					}
				}
				if _, err := hj.Frontend.Receive(); err != nil { // CommandComplete
					t.Fatal(err)
				}
				return got
			}
			waitReady := func() {
				for {
					msg, err := hj.Frontend.Receive()
					if err != nil {
						t.Fatal(err)
					}
					if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
						return
					}
				}
			}

			for _, b := range query("SELECT 'dribbled'") {
				if _, err := hj.Conn.Write([]byte{b}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			if got := answers(1); got[0] != "dribbled" {
				t.Errorf("byte at a time: got %q", got)
			}
			waitReady()

			batch := append(append(query("SELECT 'a'"), query("SELECT 'b'")...), query("SELECT 'c'")...)
			if _, err := hj.Conn.Write(batch); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"a", "b", "c"} {
				if got := answers(1); got[0] != want {
					t.Errorf("pipelined: got %q, want %q", got, want)
				}
				waitReady()
			}

			// Idle past client_idle_timeout: pgbun says why and closes.
			expectIdleTimeout(t, hj.Frontend)
		})
	}
}

// expectIdleTimeout reads until pgbun's client_idle_timeout error and
// fails if the connection ends without it.
func expectIdleTimeout(t *testing.T, fe *pgproto3.Frontend) {
	t.Helper()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("no client_idle_timeout error before the connection ended: %v", err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			if e.Code != "57P05" {
				t.Fatalf("idle timeout: got %s %s", e.Code, e.Message)
			}
			return
		}
	}
}
