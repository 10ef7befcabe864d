//go:build !linux && !darwin && !freebsd

package gateway

import (
	"errors"
	"fmt"
	"net"
	"runtime"
)

// peerUID fails: pgbun does not read peer credentials on this system.
func peerUID(uc *net.UnixConn) (int, error) {
	return -1, fmt.Errorf("peer credentials are not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
