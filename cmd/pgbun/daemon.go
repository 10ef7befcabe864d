package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// daemonEnv marks the re-executed child of -d; Go cannot fork safely, so
// daemon mode starts a new session running the same command.
const daemonEnv = "PGBUN_DAEMON_CHILD"

// daemonize starts pgbun again in a new session with stdio detached and
// waits until the child reports that it is serving (or why it is not).
func daemonize() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgbun: daemonize:", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgbun: daemonize:", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgbun: daemonize:", err)
		return 1
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "pgbun: daemonize:", err)
		return 1
	}
	w.Close()
	null.Close()
	r.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close()
	switch {
	case err == nil && strings.TrimSpace(line) == "ok":
		return 0
	case err == nil:
		fmt.Fprintln(os.Stderr, "pgbun:", strings.TrimSpace(line))
	default:
		fmt.Fprintln(os.Stderr, "pgbun: the background process did not start:", err)
	}
	return 1
}

// readyPipe is the daemon child's line back to its parent; nil when not a
// daemon child.
type readyPipe struct{ f *os.File }

func daemonReadyPipe() *readyPipe {
	if os.Getenv(daemonEnv) == "" {
		return nil
	}
	return &readyPipe{f: os.NewFile(3, "ready")}
}

// report tells the parent the outcome, once.
func (p *readyPipe) report(err error) {
	if p == nil || p.f == nil {
		return
	}
	msg := "ok\n"
	if err != nil {
		msg = strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
	}
	_, werr := p.f.WriteString(msg)
	p.f.Close()
	p.f = nil
	if werr != nil && !errors.Is(werr, os.ErrClosed) {
		fmt.Fprintln(os.Stderr, "pgbun: report to parent:", werr)
	}
}
