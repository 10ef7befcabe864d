package session

import "golang.org/x/sys/unix"

// tcpPeerClosed reports whether a TCP socket's peer has sent its FIN or a
// reset: the connection's state says so even while bytes it sent before
// (a TLS close_notify, a Terminate) are still unread.
func tcpPeerClosed(fd int) bool {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return false // not TCP (a Unix socket): the peek decides
	}
	switch info.State {
	case unix.BPF_TCP_CLOSE_WAIT, unix.BPF_TCP_LAST_ACK, unix.BPF_TCP_CLOSE:
		return true
	}
	return false
}
