package gateway

import (
	"errors"
	"fmt"
	"net"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// peerUser returns the operating-system user at the other end of a Unix
// socket (SO_PEERCRED), for the hba peer method.
func peerUser(conn net.Conn) (string, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return "", errors.New("peer authentication needs a Unix-socket connection")
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return "", err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return "", err
	}
	if cerr != nil {
		return "", fmt.Errorf("SO_PEERCRED: %w", cerr)
	}
	u, err := user.LookupId(strconv.Itoa(int(cred.Uid)))
	if err != nil {
		return "", fmt.Errorf("peer uid %d: %w", cred.Uid, err)
	}
	return u.Username, nil
}
