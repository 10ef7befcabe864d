package login

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// peerCredUID reads the peer's user id from a Unix socket (SO_PEERCRED).
func peerCredUID(fd int) (int, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, fmt.Errorf("SO_PEERCRED: %w", err)
	}
	return int(cred.Uid), nil
}
