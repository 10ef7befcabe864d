//go:build unix

package session

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// peerClosed reports whether the other end of the socket has closed it
// (or reset it), without consuming anything the client sent.
func peerClosed(rc syscall.RawConn) bool {
	closed := false
	rc.Control(func(fd uintptr) {
		if tcpPeerClosed(int(fd)) {
			closed = true
			return
		}
		// Bytes still unread hide an end of stream from a peek; where the
		// TCP state cannot be read, such a client counts as present.
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || (err != nil && err != unix.EAGAIN && err != unix.EINTR)
	})
	return closed
}
