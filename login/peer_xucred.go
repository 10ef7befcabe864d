//go:build darwin || freebsd

package login

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// peerCredUID reads the peer's user id from a Unix socket (LOCAL_PEERCRED).
func peerCredUID(fd int) (int, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, fmt.Errorf("LOCAL_PEERCRED: %w", err)
	}
	return int(cred.Uid), nil
}
