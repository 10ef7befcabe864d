package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/internal/wire"
)

// errPortInUse reports that the postmaster exited because its TCP port was
// taken between FreePort and its bind.
var errPortInUse = errors.New("port already in use")

// readyPoll is the pause between readiness probes; a fresh cluster is
// usually ready within 100 ms.
const readyPoll = 50 * time.Millisecond

// logTailBytes bounds how much of the end of the log LogTail reads.
const logTailBytes = 256 << 10

// server is one run of the postmaster.
type server struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd.Wait has returned
	waitErr error         // cmd.Wait's result; read only after done is closed
}

// launchReady starts the postmaster on port and waits until it accepts
// connections on the Unix socket. On failure the postmaster is stopped and
// the error carries the new part of the server log.
func (c *Cluster) launchReady(ctx context.Context, port int) (*server, error) {
	srv, logOffset, err := c.launch(port)
	if err != nil {
		return nil, err
	}
	err = c.waitReady(ctx, srv, port)
	if err == nil {
		return srv, nil
	}
	if serr := srv.shutdown(c.waits); serr != nil {
		err = errors.Join(err, serr)
	}
	logText := c.logSince(logOffset)
	if strings.Contains(logText, "could not bind") {
		err = fmt.Errorf("%w: %w", errPortInUse, err)
	}
	return nil, fmt.Errorf("postgres on port %d: %w\nserver log:\n%s", port, err, tail(logText, logTailLines))
}

// launch starts `postgres -D data -p port` with its output appended to the
// server log and returns the log's size before the start.
func (c *Cluster) launch(port int) (*server, int64, error) {
	f, err := os.OpenFile(c.logFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("open server log: %w", err)
	}
	// The child gets its own copy of the descriptor; ours is not needed
	// once it has started.
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, 0, fmt.Errorf("open server log: %w", err)
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.dataDir(), "-p", strconv.Itoa(port))
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = f, f
	// A process group of its own keeps a terminal's ^C away from the server
	// (Stop decides how it ends); Pdeathsig makes the kernel send SIGQUIT
	// (immediate shutdown) if this process dies without calling Stop.
	cmd.SysProcAttr = groupAttr(syscall.SIGQUIT)
	if err := AsPostgres(cmd); err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start postgres: %w", err)
	}
	srv := &server{cmd: cmd, done: make(chan struct{})}
	go func() {
		srv.waitErr = cmd.Wait()
		close(srv.done)
	}()
	return srv, off, nil
}

// waitReady polls the Unix socket until the server accepts a connection, the
// postmaster exits, ctx ends or readyTimeout passes.
func (c *Cluster) waitReady(ctx context.Context, srv *server, port int) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var lastErr error
	for {
		s, err := c.connect(ctx, "postgres", port)
		if err == nil {
			s.close()
			return nil
		}
		// Any answer but "the database system is starting up" comes from a
		// running server that will not let the superuser in; waiting longer
		// cannot help.
		pgErr, isPgErr := wire.AsError(err)
		if (isPgErr && pgErr.Code != wire.CodeCannotConnectNow) || errors.Is(err, errAuthRequested) {
			return fmt.Errorf("server refuses the superuser over the Unix socket "+
				"(pg_hba.conf needs a line such as \"local all all trust\"): %w", err)
		}
		lastErr = err
		select {
		case <-srv.done:
			return fmt.Errorf("postmaster exited during start-up: %v", srv.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last attempt: %v)", ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// shutdown stops the postmaster: SIGINT (fast shutdown: roll back and
// disconnect sessions), then SIGQUIT (immediate shutdown), then SIGKILL to
// its whole process group so no backend outlives it. It returns once the
// postmaster has been reaped, or an error if even SIGKILL did not end it.
func (s *server) shutdown(w stopWaits) error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{
		{syscall.SIGINT, w.fast},
		{syscall.SIGQUIT, w.quit},
		{syscall.SIGKILL, w.kill},
	}
	pid := s.cmd.Process.Pid
	for _, st := range steps {
		select {
		case <-s.done:
			return nil
		default:
		}
		if st.sig == syscall.SIGKILL {
			s.kill()
		} else if err := s.cmd.Process.Signal(st.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("signal postmaster %d: %w", pid, err)
		}
		t := time.NewTimer(st.wait)
		select {
		case <-s.done:
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	return fmt.Errorf("postmaster %d did not exit after SIGKILL", pid)
}

// kill sends SIGKILL to the postmaster's children and then to its process
// group. Children need their own signal: each one calls setsid, so they are
// not in the postmaster's group, and without the postmaster nobody would
// tell them to stop. The postmaster has not been reaped yet, so neither its
// pid nor its children's parent link can have been reused.
func (s *server) kill() {
	pid := s.cmd.Process.Pid
	for _, child := range childPIDs(pid) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentPID(p); ok && ppid == pid {
			pids = append(pids, p)
		}
	}
	return pids
}

// parentPID reads the parent of pid from /proc/pid/stat; ok is false if the
// process is gone.
func parentPID(pid int) (ppid int, ok bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is parenthesised and may itself hold spaces or
	// parentheses; the fields after the last ')' are: state ppid ...
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, err == nil
}

// LogTail returns the last n lines of the server log, for failure messages.
// It returns "" once the cluster is stopped.
func (c *Cluster) LogTail(n int) string {
	data, err := readEnd(c.logFile(), logTailBytes)
	if err != nil {
		return ""
	}
	return tail(string(data), n)
}

// logSince returns the server log from byte offset off on, bounded to its
// last logTailBytes.
func (c *Cluster) logSince(off int64) string {
	f, err := os.Open(c.logFile())
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= off {
		return ""
	}
	start := max(off, fi.Size()-logTailBytes)
	buf := make([]byte, fi.Size()-start)
	n, _ := f.ReadAt(buf, start)
	return string(buf[:n])
}

// readEnd reads at most limit bytes from the end of the file at path.
func readEnd(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	start := max(0, fi.Size()-limit)
	buf := make([]byte, fi.Size()-start)
	n, err := f.ReadAt(buf, start)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

// tail returns the last n lines of s, without a trailing line break. A
// final line without a line break counts as a line.
func tail(s string, n int) string {
	if n <= 0 {
		return ""
	}
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for range n {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}
