package sockopt

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUserTimeoutLinux(t *testing.T) {
	c := dialLoopback(t)
	if err := UserTimeout(c, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rc, _ := c.(*net.TCPConn).SyscallConn()
	var got int
	var err error
	rc.Control(func(fd uintptr) {
		got, err = unix.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	})
	if err != nil || got != 1500 {
		t.Fatalf("TCP_USER_TIMEOUT = %d, %v", got, err)
	}
	if err := UserTimeout(c, 0); err != nil {
		t.Fatal(err)
	}
}
