package sockopt

import (
	"net"
	"testing"
	"time"
)

// UserTimeout succeeds on every system, for TCP and other connections.
func TestUserTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
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
