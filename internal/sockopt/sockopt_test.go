package sockopt

import (
	"net"
	"testing"
	"time"
)

// dialLoopback returns a TCP connection to a loopback listener, both
// closed when the test ends.
func dialLoopback(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// UserTimeout succeeds on every system, for TCP and other connections.
func TestUserTimeout(t *testing.T) {
	c := dialLoopback(t)
	for _, d := range []time.Duration{0, time.Second} {
		if err := UserTimeout(c, d); err != nil {
			t.Fatalf("TCP, %v: %v", d, err)
		}
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := UserTimeout(a, time.Second); err != nil {
		t.Fatalf("pipe: %v", err)
	}
}
