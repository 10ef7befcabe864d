//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/internal/pgtest"
)

// Bounds of the set-up steps.
const (
	installTimeout = 10 * time.Minute
	// The cluster's start, role, database and pgbench -i, which takes
	// about a second per scale unit on a slow machine.
	clusterTimeout  = 2 * time.Minute
	perScaleTimeout = 2 * time.Second
	certValidity    = 24 * time.Hour
)

// env is everything the runs share: the cluster, the working directory
// with the poolers' files, and the secret of the bench role.
type env struct {
	opts     options
	pg       *pgtest.Cluster
	dir      string // working directory, owned by the postgres OS user
	password string // the bench role's password: never print it
	authFile string
	certFile string
	keyFile  string
	pgbench  string // pgbench of the cluster's PostgreSQL version
}

// setup raises the open-files limit, checks the binaries, and starts and
// fills the cluster. On error, everything it started is stopped; otherwise
// the caller must call close.
func setup(ctx context.Context, o options) (e *env, err error) {
	if err := raiseNoFile(); err != nil {
		return nil, err
	}
	if err := findBinaries(ctx, &o); err != nil {
		return nil, err
	}
	e = &env{opts: o}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.close())
			e = nil
		}
	}()
	if e.dir, err = os.MkdirTemp("", "pgbun-bench-*"); err != nil {
		return e, fmt.Errorf("working directory: %w", err)
	}
	if err := giveToPostgres(e.dir); err != nil {
		return e, err
	}
	if err := e.writeAuthFiles(); err != nil {
		return e, err
	}
	cctx, cancel := context.WithTimeout(ctx, clusterTimeout+time.Duration(o.scale)*perScaleTimeout)
	defer cancel()
	fmt.Fprintf(os.Stderr, "starting PostgreSQL and loading pgbench data at scale %d...\n", o.scale)
	e.pg, err = pgtest.Start(cctx, pgtest.Options{Settings: map[string]string{
		"max_connections": strconv.Itoa(maxConnections),
		"shared_buffers":  "128MB",
	}})
	if err != nil {
		return e, err
	}
	e.pgbench = filepath.Join(e.pg.BinDir(), "pgbench")
	if err := e.pg.CreateRole(cctx, benchUser, e.password, pgtest.SCRAM); err != nil {
		return e, err
	}
	if err := e.pg.CreateDatabase(cctx, benchDB, benchUser); err != nil {
		return e, err
	}
	if err := e.pg.PgbenchInit(cctx, benchDB, o.scale); err != nil {
		return e, err
	}
	if err := e.grantTables(cctx); err != nil {
		return e, err
	}
	return e, nil
}

// close stops the cluster and removes the working directory unless -keep.
func (e *env) close() error {
	var errs []error
	if e.pg != nil {
		errs = append(errs, e.pg.Stop())
	}
	if e.dir != "" {
		if e.opts.keep {
			fmt.Fprintf(os.Stderr, "kept the working directory %s\n", e.dir)
		} else if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove working directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// raiseNoFile lifts the soft open-files limit to the hard one. The Go
// runtime does that for itself but restores the old limit in children;
// after an explicit Setrlimit the children (pgbench, both poolers) inherit
// it, which a thousand clients need.
func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read open-files limit: %w", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise open-files limit to %d: %w", lim.Max, err)
	}
	return nil
}

// findBinaries makes the pooler paths absolute and checks they run. A
// missing PgBouncer is installed with scripts/deps.sh --bench when the
// runner is started from the repository root, as `make bench` does.
func findBinaries(ctx context.Context, o *options) error {
	if slices.Contains(o.only, targetPgBouncer) {
		if _, err := os.Stat(o.pgbouncer); errors.Is(err, os.ErrNotExist) {
			if err := installPgBouncer(ctx); err != nil {
				return err
			}
		}
		if err := checkExecutable(&o.pgbouncer, "PgBouncer"); err != nil {
			return err
		}
	}
	if slices.Contains(o.only, targetPgbun) {
		if err := checkExecutable(&o.pgbun, "pgbun (run `make build` first)"); err != nil {
			return err
		}
	}
	return nil
}

func installPgBouncer(ctx context.Context) error {
	const script = "scripts/deps.sh"
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("PgBouncer is missing and %s is not here to install it: %w", script, err)
	}
	fmt.Fprintln(os.Stderr, "PgBouncer is missing: running "+script+" --bench")
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, "--bench")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("install PgBouncer with %s --bench: %w", script, err)
	}
	return nil
}

func checkExecutable(path *string, what string) error {
	abs, err := filepath.Abs(*path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o001 == 0 {
		// The poolers run as the postgres OS user, so "other" must be
		// allowed to execute.
		return fmt.Errorf("%s: %s is not a file everyone may execute", what, abs)
	}
	*path = abs
	return nil
}

// writeAuthFiles creates the bench password, the userlist holding it and
// the poolers' TLS certificate, all readable by the postgres OS user only.
func (e *env) writeAuthFiles() error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("generate password: %w", err)
	}
	e.password = hex.EncodeToString(b)
	e.authFile = filepath.Join(e.dir, "userlist.txt")
	if err := os.WriteFile(e.authFile, []byte(userlistLine(benchUser, e.password)), 0o600); err != nil {
		return fmt.Errorf("write userlist: %w", err)
	}
	ca, err := pgtest.NewCA("pgbun bench CA", pgtest.ECDSAP256)
	if err != nil {
		return err
	}
	kp, err := ca.IssueServer([]string{"localhost", "127.0.0.1"}, pgtest.ECDSAP256, certValidity)
	if err != nil {
		return err
	}
	if e.certFile, e.keyFile, err = kp.WriteFiles(e.dir, "pooler"); err != nil {
		return err
	}
	caFile := filepath.Join(e.dir, "ca.crt")
	if err := ca.WriteCert(caFile); err != nil {
		return err
	}
	return giveToPostgres(e.authFile, e.certFile, e.keyFile, caFile)
}

// grantTables hands the pgbench tables to the bench role, since pgbench -i
// ran as the superuser.
func (e *env) grantTables(ctx context.Context) error {
	conn, err := e.pg.SuperConn(ctx, benchDB)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	for _, t := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"} {
		if _, err := conn.Exec(ctx, "ALTER TABLE "+t+" OWNER TO "+benchUser); err != nil {
			return fmt.Errorf("give %s to %s: %w", t, benchUser, err)
		}
	}
	return nil
}

// giveToPostgres chowns paths to the postgres OS user when running as root,
// because the poolers run as that user (PgBouncer refuses root). As any
// other user the poolers run as that user, who already owns the files.
func giveToPostgres(paths ...string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("look up OS user postgres: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("OS user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("OS user postgres: gid %q: %w", u.Gid, err)
	}
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("give %s to postgres: %w", p, err)
		}
	}
	return nil
}
