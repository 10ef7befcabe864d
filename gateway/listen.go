package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/config"
	"golang.org/x/sys/unix"
)

// Listen opens the listeners the configuration asks for: TCP on each
// listen_addr ("*" = every IPv4 and IPv6 address) and, unless
// unix_socket_dir is empty, the Unix socket <dir>/.s.PGSQL.<port>. On any
// failure the listeners opened so far are closed.
func Listen(g *config.General) ([]net.Listener, error) {
	var out []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, ln := range out {
			ln.Close()
		}
		return nil, err
	}
	lc := net.ListenConfig{KeepAliveConfig: keepAlive(g)}
	if !g.TCPKeepalive {
		lc.KeepAlive = -1
	}
	if g.SoReuseport {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			return errors.Join(err, serr)
		}
	}
	port := strconv.Itoa(g.ListenPort)
	for _, a := range g.ListenAddr {
		addrs := []string{a}
		if a == "*" {
			addrs = []string{"0.0.0.0", "::"}
		}
		for _, host := range addrs {
			network := "tcp"
			if host == "0.0.0.0" {
				network = "tcp4"
			} else if host == "::" {
				network = "tcp6"
			}
			ln, err := lc.Listen(context.Background(), network, net.JoinHostPort(host, port))
			if err != nil {
				if a == "*" && host == "::" && len(out) > 0 && isNoIPv6(err) {
					continue // an IPv4-only machine
				}
				return fail(fmt.Errorf("listen on %s: %w", net.JoinHostPort(host, port), err))
			}
			out = append(out, ln)
		}
	}
	if g.UnixSocketDir != "" {
		ln, err := listenUnix(g)
		if err != nil {
			return fail(err)
		}
		out = append(out, ln)
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to listen on: set listen_addr or unix_socket_dir")
	}
	return out, nil
}

// listenUnix creates the socket file, replacing a stale one left by a
// process that is gone (a live one is an error: another pooler runs).
func listenUnix(g *config.General) (net.Listener, error) {
	path := filepath.Join(g.UnixSocketDir, fmt.Sprintf(".s.PGSQL.%d", g.ListenPort))
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen on %s: another process is serving this socket", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	mode := g.UnixSocketMode
	if mode == 0 {
		mode = 0o777
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("unix_socket_mode on %s: %w", path, err)
	}
	if g.UnixSocketGroup != "" {
		grp, err := user.LookupGroup(g.UnixSocketGroup)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("unix_socket_group: %w", err)
		}
		gid, _ := strconv.Atoi(grp.Gid)
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("unix_socket_group on %s: %w", path, err)
		}
	}
	return ln, nil
}

func isNoIPv6(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

// keepAlive maps the tcp_keepalive settings; zero values take Go's
// defaults (15 s idle and interval, 9 probes).
func keepAlive(g *config.General) net.KeepAliveConfig {
	return net.KeepAliveConfig{Enable: g.TCPKeepalive, Idle: g.TCPKeepIdle, Interval: g.TCPKeepIntvl, Count: g.TCPKeepCnt}
}
