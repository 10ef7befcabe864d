package login

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
)

// PeerUser returns the operating-system user at the other end of a Unix
// socket (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS and FreeBSD), for
// the hba peer method. Where the system offers neither it fails, and so
// does peer authentication.
func PeerUser(conn net.Conn) (string, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return "", errors.New("peer authentication needs a Unix-socket connection")
	}
	uid, err := peerUID(uc)
	if err != nil {
		return "", err
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", fmt.Errorf("peer uid %d: %w", uid, err)
	}
	return u.Username, nil
}

// PeerIsSelf reports whether the process at the other end of a Unix
// socket runs as pgbun's own user: the admin console lets the user
// pgbouncer in without a password from such a process, as PgBouncer does.
func PeerIsSelf(conn net.Conn) bool {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return false
	}
	uid, err := peerUID(uc)
	return err == nil && uid == os.Getuid()
}

// peerUID returns the user id of the process at the other end of uc, as
// the system's peer-credential option (peerCredUID) reads it.
func peerUID(uc *net.UnixConn) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid, cerr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { uid, cerr = peerCredUID(int(fd)) }); err != nil {
		return -1, err
	}
	return uid, cerr
}
