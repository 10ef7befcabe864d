package cluster

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pg is the cluster shared by the tests that do not stop or restart it.
var pg *Cluster

// clusterName and rawSetting exercise the quoting of postgresql.conf values;
// a custom (dotted) parameter takes any text.
const (
	clusterName = `cluster's \name`
	rawSetting  = "a'b\\c\nd\te ü ''"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests starts the shared cluster, runs the tests and stops it. A fuzzing
// run (-fuzz, and the workers it starts) runs fuzz targets only and gets no
// cluster.
func runTests(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout+readyTimeout)
	c, err := Start(ctx, Options{Settings: map[string]string{
		"cluster_name": clusterName,
		"work_mem":     "8MB",
		"cluster.raw":  rawSetting,
	}})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: cannot run the tests: %v\n", err)
		return 1
	}
	pg = c
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// testCtx is a context for one test, bounded so a hung server fails the test
// instead of the whole binary.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startCluster starts a cluster owned by one test and stops it at cleanup,
// failing the test if Stop fails.
func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	c, err := Start(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

// superConn opens a pgx connection as the superuser over c's Unix socket,
// independent of the package's own client, and closes it when t ends. Every
// key that matters is given so the PG* environment cannot redirect it.
func superConn(t *testing.T, c *Cluster, db string) *pgx.Conn {
	t.Helper()
	quote := func(v string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `\'`) + "'"
	}
	conn, err := pgx.Connect(testCtx(t), "host="+quote(c.SocketDir())+" port="+strconv.Itoa(c.Port())+
		" user=postgres dbname="+quote(db)+" sslmode=disable target_session_attrs=any")
	if err != nil {
		t.Fatalf("superuser connection to %q: %v", db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// holdPort listens on a free loopback port for the rest of the test.
func holdPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}
