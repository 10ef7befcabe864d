//go:build !linux && !darwin && !freebsd

package login

import (
	"errors"
	"fmt"
	"runtime"
)

// peerCredUID fails: pgbun does not read peer credentials on this system.
func peerCredUID(fd int) (int, error) {
	return -1, fmt.Errorf("peer credentials are not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
