package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Every driver test runs driverWorkers clients at once, each doing
// driverIterations rounds, through a transaction pool of two servers.
const (
	driverWorkers    = 8
	driverIterations = 25
	driverTimeout    = 3 * time.Minute
	// requireDrivers, when set in the environment, turns a missing driver
	// into a failure instead of a skip: CI installs them all.
	requireDrivers = "PGBUN_REQUIRE_DRIVERS"
)

// driverCase is one client library run as its own program.
type driverCase struct {
	name string
	// rowsPerIteration is how many rows one worker's round inserts.
	rowsPerIteration int
	// missing says why the driver cannot run here, or returns nil.
	missing func() error
	command func(ctx context.Context, p *proxy, table string) *exec.Cmd
}

var driverDir, _ = filepath.Abs("testdata/drivers")

func driverCases() []driverCase {
	python := "/usr/bin/python3" // Debian's, where python3-psycopg and python3-asyncpg install
	pyImport := func(module string) func() error {
		return func() error {
			if out, err := exec.Command(python, "-c", "import "+module).CombinedOutput(); err != nil {
				return fmt.Errorf("%s cannot import %s (apt-get install python3-%s): %v: %s", python, module, module, err, out)
			}
			return nil
		}
	}
	nodeModule := func(module string) func() error {
		return func() error {
			if _, err := exec.LookPath("node"); err != nil {
				return fmt.Errorf("node: %w", err)
			}
			if _, err := os.Stat(filepath.Join(driverDir, "node", "node_modules", module)); err != nil {
				return fmt.Errorf("npm module %s not installed (npm ci in %s/node): %w", module, driverDir, err)
			}
			return nil
		}
	}
	const jdbcJar = "/usr/share/java/postgresql.jar"
	nodeArgs := func(p *proxy, script, table string) []string {
		return []string{filepath.Join(driverDir, "node", script), "localhost", strconv.Itoa(p.port), scramUser, scramPass,
			appDB, getFixture(p.t).caFile, table, strconv.Itoa(driverWorkers), strconv.Itoa(driverIterations)}
	}
	counts := []string{strconv.Itoa(driverWorkers), strconv.Itoa(driverIterations)}
	return []driverCase{
		{
			name: "psycopg", rowsPerIteration: 1, missing: pyImport("psycopg"),
			command: func(ctx context.Context, p *proxy, table string) *exec.Cmd {
				args := append([]string{filepath.Join(driverDir, "psycopg_check.py"), p.url(scramUser, scramPass, appDB), table}, counts...)
				return exec.CommandContext(ctx, python, args...)
			},
		},
		{
			name: "asyncpg", rowsPerIteration: 4, missing: pyImport("asyncpg"),
			command: func(ctx context.Context, p *proxy, table string) *exec.Cmd {
				dsn := fmt.Sprintf("postgresql://%s@localhost:%d/%s", url.UserPassword(scramUser, scramPass), p.port, appDB)
				args := append([]string{filepath.Join(driverDir, "asyncpg_check.py"), dsn, getFixture(p.t).caFile, table}, counts...)
				return exec.CommandContext(ctx, python, args...)
			},
		},
		{
			name: "node_pg", rowsPerIteration: 1, missing: nodeModule("pg"),
			command: func(ctx context.Context, p *proxy, table string) *exec.Cmd {
				return exec.CommandContext(ctx, "node", nodeArgs(p, "pg_check.js", table)...)
			},
		},
		{
			name: "postgresjs", rowsPerIteration: 1, missing: nodeModule("postgres"),
			command: func(ctx context.Context, p *proxy, table string) *exec.Cmd {
				return exec.CommandContext(ctx, "node", nodeArgs(p, "postgresjs_check.js", table)...)
			},
		},
		{
			name: "jdbc", rowsPerIteration: 4,
			missing: func() error {
				if _, err := exec.LookPath("java"); err != nil {
					return fmt.Errorf("java: %w", err)
				}
				if _, err := os.Stat(jdbcJar); err != nil {
					return fmt.Errorf("pgJDBC (apt-get install libpostgresql-jdbc-java): %w", err)
				}
				return nil
			},
			command: func(ctx context.Context, p *proxy, table string) *exec.Cmd {
				jdbcURL := fmt.Sprintf("jdbc:postgresql://localhost:%d/%s?sslmode=verify-full&sslrootcert=%s",
					p.port, appDB, url.QueryEscape(getFixture(p.t).caFile))
				args := append([]string{"-cp", jdbcJar, filepath.Join(driverDir, "JdbcCheck.java"),
					jdbcURL, scramUser, scramPass, table}, counts...)
				return exec.CommandContext(ctx, "java", args...)
			},
		},
	}
}

// TestDrivers runs the mainstream PostgreSQL client libraries through
// transaction pooling with a pool of two servers and more clients than
// that: their named prepared statements, pipelines, batches, startup
// parameters and transactions must work as they do against PostgreSQL,
// and each client must see only its own application_name. The rows each
// driver inserted are counted afterwards.
func TestDrivers(t *testing.T) {
	p := start(t, txnSetup("2"))
	admin := p.connect(t, scramUser, scramPass, appDB)
	for _, d := range driverCases() {
		t.Run(d.name, func(t *testing.T) {
			if err := d.missing(); err != nil {
				if os.Getenv(requireDrivers) != "" {
					t.Fatalf("%s is set and %s cannot run: %v", requireDrivers, d.name, err)
				}
				t.Skipf("%s cannot run here: %v", d.name, err)
			}
			table := "drv_" + d.name
			exec1(t, admin, "drop table if exists "+table)
			exec1(t, admin, "create table "+table+" (id int primary key, v text not null)")
			ctx, cancel := context.WithTimeout(context.Background(), driverTimeout)
			defer cancel()
			cmd := d.command(ctx, p, table)
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Fatalf("%s did not finish in %s:\n%s", d.name, driverTimeout, out)
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", d.name, err, out)
			}
			if want := fmt.Sprintf("ok %d iterations", driverWorkers*driverIterations); !strings.Contains(string(out), want) {
				t.Fatalf("%s: output lacks %q:\n%s", d.name, want, out)
			}
			want := driverWorkers * driverIterations * d.rowsPerIteration
			if got := queryString(t, admin, "select count(*)::text from "+table); got != strconv.Itoa(want) {
				t.Errorf("%s: %s rows in %s, want %d", d.name, got, table, want)
			}
		})
	}
}
