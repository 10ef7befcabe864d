package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/pgbun/pgbun/internal/snapshot"
	"github.com/pgbun/pgbun/internal/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeSource serves fixed snapshots.
type fakeSource struct {
	pools     []snapshot.Pool
	clients   []snapshot.Client
	servers   []snapshot.Server
	databases []snapshot.Database
	users     []snapshot.User
	stats     []snapshot.Stats
	config    []snapshot.Config
	state     snapshot.State
	peers     []snapshot.Peer
	lists     snapshot.Lists
	certs     []snapshot.Cert
	lockouts  []snapshot.Lockout
	version   string
}

func (f *fakeSource) Pools() []snapshot.Pool         { return f.pools }
func (f *fakeSource) Clients() []snapshot.Client     { return f.clients }
func (f *fakeSource) Servers() []snapshot.Server     { return f.servers }
func (f *fakeSource) Databases() []snapshot.Database { return f.databases }
func (f *fakeSource) Users() []snapshot.User         { return f.users }
func (f *fakeSource) Stats() []snapshot.Stats        { return f.stats }
func (f *fakeSource) Config() []snapshot.Config      { return f.config }
func (f *fakeSource) State() snapshot.State          { return f.state }
func (f *fakeSource) Peers() []snapshot.Peer         { return f.peers }
func (f *fakeSource) Lists() snapshot.Lists          { return f.lists }
func (f *fakeSource) Certs() []snapshot.Cert         { return f.certs }
func (f *fakeSource) Lockouts() []snapshot.Lockout   { return f.lockouts }
func (f *fakeSource) Version() string                { return f.version }

var _ Source = (*fakeSource)(nil)

// fakeCtl records calls as "Method(args)" and returns errs[Method].
type fakeCtl struct {
	mu    sync.Mutex
	calls []string
	errs  map[string]error
	// block, if set, is what Pause, Suspend and WaitClose do with their
	// context before returning.
	block func(ctx context.Context) error
}

var _ Controller = (*fakeCtl)(nil)

func (f *fakeCtl) record(method string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = fmt.Sprintf("%q", fmt.Sprint(a))
	}
	f.calls = append(f.calls, method+"("+strings.Join(parts, ",")+")")
	return f.errs[method]
}

func (f *fakeCtl) wait(ctx context.Context) error {
	if f.block != nil {
		return f.block(ctx)
	}
	return nil
}

func (f *fakeCtl) Pause(ctx context.Context, db string) error {
	if err := f.record("Pause", db); err != nil {
		return err
	}
	return f.wait(ctx)
}
func (f *fakeCtl) Resume(db string) error      { return f.record("Resume", db) }
func (f *fakeCtl) Disable(db string) error     { return f.record("Disable", db) }
func (f *fakeCtl) Enable(db string) error      { return f.record("Enable", db) }
func (f *fakeCtl) Reconnect(db string) error   { return f.record("Reconnect", db) }
func (f *fakeCtl) Kill(db string) error        { return f.record("Kill", db) }
func (f *fakeCtl) KillClient(id uint64) error  { return f.record("KillClient", id) }
func (f *fakeCtl) Shutdown(mode string) error  { return f.record("Shutdown", mode) }
func (f *fakeCtl) Reload() error               { return f.record("Reload") }
func (f *fakeCtl) Set(key, value string) error { return f.record("Set", key, value) }
func (f *fakeCtl) Suspend(ctx context.Context) error {
	if err := f.record("Suspend"); err != nil {
		return err
	}
	return f.wait(ctx)
}
func (f *fakeCtl) WaitClose(ctx context.Context, db string) error {
	if err := f.record("WaitClose", db); err != nil {
		return err
	}
	return f.wait(ctx)
}

func (f *fakeCtl) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// console is a listener on 127.0.0.1 that reads one startup packet per
// connection and hands the connection to Serve, in the way the gateway
// does after authentication.
type console struct {
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	served chan error // Serve's results, one per connection
}

func startConsole(t *testing.T, src Source, ctl Controller, opts Options) *console {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &console{ln: ln, ctx: ctx, cancel: cancel, served: make(chan error, 16)}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer conn.Close()
				if _, _, _, err := wire.ReadStartup(conn, nil); err != nil {
					c.served <- err
					return
				}
				c.served <- Serve(ctx, bufio.NewReader(conn), conn, src, ctl, opts)
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		c.wg.Wait()
	})
	return c
}

// connect opens a pgconn session to the console.
func (c *console) connect(t *testing.T, cfg func(*pgconn.Config)) *pgconn.PgConn {
	t.Helper()
	pc, err := pgconn.ParseConfig(fmt.Sprintf("postgres://admin@%s/pgbouncer?sslmode=disable&connect_timeout=5", c.ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		cfg(pc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// dial opens a raw connection that has sent its startup packet and read
// the welcome up to ReadyForQuery.
func (c *console) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", c.ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	startup := []byte{0, 0, 0, 0, 0, 3, 0, 0}
	startup = append(startup, "user\x00admin\x00\x00"...)
	startup[3] = byte(len(startup))
	if _, err := conn.Write(startup); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		typ, _, _, err := wire.ReadMessage(br, nil, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if typ == 'Z' {
			return conn, br
		}
	}
}

// served waits for one Serve to return.
func (c *console) waitServed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.served:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// res is one result of a query, as the test reads it.
type res struct {
	cols []string
	oids []uint32
	rows [][]*string
	tag  string
}

// val is a row value; "<null>" stands for NULL.
func (r *res) val(row int, col string) string {
	for i, c := range r.cols {
		if c == col {
			if v := r.rows[row][i]; v != nil {
				return *v
			}
			return "<null>"
		}
	}
	panic("no column " + col)
}

// exec runs sql and returns its results and the error that ended them.
func exec(t *testing.T, conn *pgconn.PgConn, sql string) ([]res, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mrr := conn.Exec(ctx, sql)
	var out []res
	var rerr error
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		var r res
		for _, fd := range rr.FieldDescriptions() {
			r.cols = append(r.cols, fd.Name)
			r.oids = append(r.oids, fd.DataTypeOID)
		}
		for rr.NextRow() {
			vals := rr.Values()
			if len(vals) != len(r.cols) {
				t.Fatalf("%s: row of %d values for %d columns", sql, len(vals), len(r.cols))
			}
			row := make([]*string, len(vals))
			for i, v := range vals {
				if v != nil {
					s := string(v)
					row[i] = &s
				}
			}
			r.rows = append(r.rows, row)
		}
		tag, err := rr.Close()
		if err != nil {
			rerr = err
			break
		}
		r.tag = tag.String()
		out = append(out, r)
	}
	if err := mrr.Close(); err != nil && rerr == nil {
		rerr = err
	}
	return out, rerr
}

// mustExec runs sql, which must succeed with exactly one result.
func mustExec(t *testing.T, conn *pgconn.PgConn, sql string) res {
	t.Helper()
	out, err := exec(t, conn, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(out) != 1 {
		t.Fatalf("%s: %d results, want 1", sql, len(out))
	}
	return out[0]
}

// pgErr asserts err is a PostgreSQL error with message msg.
func pgErr(t *testing.T, err error, code, msg string) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want error %q", err, msg)
	}
	if pe.Message != msg || (code != "" && pe.Code != code) {
		t.Fatalf("got error %s %q, want %s %q", pe.Code, pe.Message, code, msg)
	}
	return pe
}
