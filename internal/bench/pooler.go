//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgbun/pgbun/internal/pgtest"
)

// Bounds of a pooler's life.
const (
	readyTimeout   = 20 * time.Second
	loginTimeout   = 5 * time.Second
	readyInterval  = 200 * time.Millisecond
	stopGrace      = 5 * time.Second
	killWait       = 5 * time.Second
	logTailLines   = 20
	maxOutputBytes = 1 << 20
)

// pooler is a running PgBouncer or pgbun, in its own process group, as the
// postgres OS user. Only the goroutine that started it uses it.
type pooler struct {
	name    target
	port    int
	logfile string // the program's logfile
	outfile string // its stdout and stderr
	stopSig syscall.Signal
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// poolerSpec says how to start one pooler.
type poolerSpec struct {
	name    target
	bin     string
	ini     string // its wrapper configuration
	port    int
	dir     string // working directory, the postgres user's
	logfile string
	outfile string
	stopSig syscall.Signal // the signal that asks it to shut down
}

// startPooler starts the pooler in the foreground with its configuration.
func startPooler(s poolerSpec) (*pooler, error) {
	name := s.name
	out, err := os.OpenFile(s.outfile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(s.bin, s.ini)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = s.dir
	// Its own process group keeps a terminal's ^C away from it (the runner
	// decides how it stops); the kernel kills it if the runner dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := pgtest.AsPostgres(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &pooler{name: name, port: s.port, logfile: s.logfile, outfile: s.outfile, stopSig: s.stopSig,
		cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the pooler's process id, whose /proc/<pid>/stat holds its CPU time.
func (p *pooler) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended, and how.
func (p *pooler) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// waitReady waits until a real login with each connection string succeeds
// and runs a query. An error from the pooler itself (it is up but refuses)
// ends the wait at once; a refused TCP connection is retried until
// readyTimeout.
func (p *pooler) waitReady(ctx context.Context, connStrings []string, password string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for _, cs := range connStrings {
		for {
			err := tryLogin(ctx, cs, password)
			if err == nil {
				break
			}
			if done, werr := p.exited(); done {
				if werr == nil {
					werr = errors.New("exit status 0")
				}
				return fmt.Errorf("%s exited during start-up (%v): %w", p.name, werr, err)
			}
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				return fmt.Errorf("%s refused a login: %w", p.name, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not ready after %s: %w", p.name, readyTimeout, err)
			case <-time.After(readyInterval):
			}
		}
	}
	return nil
}

// tryLogin logs in as the bench role and runs SELECT 1.
func tryLogin(ctx context.Context, connString, password string) error {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return fmt.Errorf("connection string: %w", err)
	}
	cfg.Password = password
	// Simple protocol, as psql: pgx's default named statements would
	// collide on a shared server connection in transaction pooling.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		// The login's context may be spent; closing still gets its own
		// bounded wait so the Terminate message goes out.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), loginTimeout)
		defer ccancel()
		_ = conn.Close(cctx)
	}()
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("select 1: %w", err)
	}
	return nil
}

// stop asks the pooler to shut down with its stop signal and kills its
// process group after stopGrace. It returns once the process is gone or
// killWait after the kill.
func (p *pooler) stop() error {
	if done, _ := p.exited(); done {
		return nil
	}
	if err := p.cmd.Process.Signal(p.stopSig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	// Negative pid: the whole group, which Setpgid made the pooler's own.
	if err := syscall.Kill(-p.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return fmt.Errorf("stop %s: killed after %s", p.name, stopGrace)
	case <-time.After(killWait):
		return fmt.Errorf("stop %s: still running %s after SIGKILL", p.name, killWait)
	}
}

// logTail is the end of the pooler's logfile and, when it says something
// else (an error before the logfile was opened), of its output.
func (p *pooler) logTail() string {
	log := tailFile(p.logfile, logTailLines)
	out := tailFile(p.outfile, logTailLines)
	s := fmt.Sprintf("--- %s (last %d lines)\n%s", p.logfile, logTailLines, log)
	if out != log {
		s += fmt.Sprintf("--- %s (last %d lines)\n%s", p.outfile, logTailLines, out)
	}
	return s
}

// tailFile returns the last n lines of the file, or why it cannot.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)\n", err)
	}
	defer f.Close()
	// Logs are short here, but a runaway one must not fill the memory.
	if fi, err := f.Stat(); err == nil && fi.Size() > maxOutputBytes {
		if _, err := f.Seek(fi.Size()-maxOutputBytes, 0); err != nil {
			return fmt.Sprintf("(%v)\n", err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxOutputBytes))
	if err != nil {
		return fmt.Sprintf("(%v)\n", err)
	}
	return lastLines(string(b), n)
}

// lastLines returns the last n lines of s, each ending in a newline.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// cpuTicks reads the process's user+system CPU time in USER_HZ ticks.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	return parseProcStat(string(b))
}
