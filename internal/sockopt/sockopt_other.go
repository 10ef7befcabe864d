//go:build !linux

package sockopt

import (
	"net"
	"time"
)

// UserTimeout would set TCP_USER_TIMEOUT, which only Linux has: here it
// does nothing and reports no error, so tcp_user_timeout is ignored.
func UserTimeout(c net.Conn, d time.Duration) error {
	return nil
}
