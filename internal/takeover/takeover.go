// Package takeover hands listening sockets from a running pgbun to its
// successor (pgbun -R), for binary upgrades without refused connections.
//
// The running process offers its listeners on a Unix control socket only
// its owner can reach. A successor connects, receives duplicates of the
// listening sockets (SCM_RIGHTS), starts serving on them and says so; the
// predecessor then stops accepting and drains its own clients — TLS
// sessions included, since nothing but the listening sockets moves. The
// sockets never close in between, so connections waiting in the kernel's
// accept queue are served by the successor.
package takeover

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Path returns the control socket path for a pgbun listening on port,
// in dir (unix_socket_dir, or the temporary directory).
func Path(dir string, port int) string {
	if dir == "" {
		dir = os.TempDir()
	}
	return fmt.Sprintf("%s/.s.PGBUN.%d.takeover", strings.TrimSuffix(dir, "/"), port)
}

// description tells the successor what each passed socket is.
type description struct {
	Network string `json:"network"`
	Addr    string `json:"addr"`
}

// Offer serves the takeover protocol on path for lns. When a successor has
// taken the listeners and started serving, handoff is called (the caller
// stops accepting and drains); Offer then stops. stop ends the offer early.
func Offer(path string, lns []net.Listener, handoff func()) (stop func(), err error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("takeover socket %s is in use by another process", path)
	}
	os.Remove(path)
	old := unix.Umask(0o077) // only the owner may take the sockets
	ctl, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("takeover socket: %w", err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { ctl.Close() }) }
	go func() {
		defer stop()
		for {
			c, err := ctl.Accept()
			if err != nil {
				return
			}
			if serveOne(c.(*net.UnixConn), lns, stop) {
				handoff()
				return
			}
		}
	}()
	return stop, nil
}

// serveOne runs one takeover conversation; true when the successor took
// over (the control socket is closed by then, so it can make its own).
func serveOne(c *net.UnixConn, lns []net.Listener, closeCtl func()) bool {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "take" {
		return false
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var desc []description
	for _, ln := range lns {
		f, err := fileOf(ln)
		if err != nil {
			fmt.Fprintf(c, "error %v\n", err)
			return false
		}
		files = append(files, f)
		desc = append(desc, description{Network: ln.Addr().Network(), Addr: ln.Addr().String()})
	}
	payload, _ := json.Marshal(desc)
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if _, _, err := c.WriteMsgUnix(append(payload, '\n'), unix.UnixRights(fds...), nil); err != nil {
		return false
	}
	line, err = br.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		return false // the successor gave up: keep serving
	}
	closeCtl()
	fmt.Fprintf(c, "bye\n")
	return true
}

func fileOf(ln net.Listener) (*os.File, error) {
	switch l := ln.(type) {
	case *net.TCPListener:
		return l.File()
	case *net.UnixListener:
		return l.File()
	}
	return nil, fmt.Errorf("cannot pass a %T", ln)
}

// Take connects to the predecessor on path and receives its listeners.
// The caller starts serving on them and then calls ready, which tells the
// predecessor to stop accepting and waits until it has let go of path.
// os.ErrNotExist (wrapped) means there is no predecessor.
func Take(ctx context.Context, path string) (lns []net.Listener, ready func() error, err error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("no running pgbun at %s: %w", path, os.ErrNotExist)
		}
		return nil, nil, fmt.Errorf("takeover: %w", err)
	}
	c := nc.(*net.UnixConn)
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	fail := func(err error) ([]net.Listener, func() error, error) {
		c.Close()
		for _, ln := range lns {
			ln.Close()
		}
		return nil, nil, err
	}
	if _, err := c.Write([]byte("take\n")); err != nil {
		return fail(fmt.Errorf("takeover: %w", err))
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(64*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return fail(fmt.Errorf("takeover: %w", err))
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return fail(fmt.Errorf("takeover: no sockets received (%s)", strings.TrimSpace(string(buf[:n]))))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return fail(fmt.Errorf("takeover: %w", err))
	}
	var desc []description
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(buf[:n]))), &desc); err != nil || len(desc) != len(fds) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return fail(fmt.Errorf("takeover: bad description %q", string(buf[:n])))
	}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), desc[i].Addr)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fail(fmt.Errorf("takeover: socket %s: %w", desc[i].Addr, err))
		}
		lns = append(lns, ln)
	}
	ready = func() error {
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write([]byte("ready\n")); err != nil {
			return fmt.Errorf("takeover: %w", err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "bye" {
			return fmt.Errorf("takeover: predecessor did not let go (%q, %v)", line, err)
		}
		return nil
	}
	return lns, ready, nil
}
