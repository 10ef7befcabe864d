//go:build !linux

package rawio

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Conn is a socket whose Read and Write use raw system calls on Linux.
// Elsewhere Wrap never makes one; its methods are the wrapped
// connection's.
type Conn struct {
	net.Conn
}

// wraps says that Wrap wraps sockets on this system.
const wraps = false

// Wrap returns c itself: this system reads and writes sockets through net.
func Wrap(c net.Conn) net.Conn {
	return c
}

func (c *Conn) Read(p []byte) (int, error) {
	return c.Conn.Read(p)
}

func (c *Conn) Write(p []byte) (int, error) {
	return c.Conn.Write(p)
}

// Peek looks at the socket's next byte without consuming it or waiting,
// as recv(MSG_PEEK|MSG_DONTWAIT). It returns 0 when there is data or the
// stream has ended, the error number otherwise (EAGAIN: nothing to read
// yet).
func Peek(fd uintptr, b []byte) syscall.Errno {
	for {
		n, _, err := unix.Recvfrom(int(fd), b[:1], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case n > 0 || err == nil:
			// Data, or the end of the stream (an address that could not
			// be decoded does not matter).
			return 0
		case err == unix.EINTR:
			continue
		}
		if e, ok := err.(syscall.Errno); ok {
			return e
		}
		return syscall.EIO
	}
}
