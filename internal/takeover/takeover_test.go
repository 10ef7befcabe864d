package takeover

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHandOver(t *testing.T) {
	dir := t.TempDir()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unixLn, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	path := Path(dir, 1)
	handedOff := make(chan struct{})
	if _, err := Offer(path, []net.Listener{tcp, unixLn}, func() { close(handedOff) }); err != nil {
		t.Fatal(err)
	}
	// A connection queued before the hand-over must be served after it.
	early, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lns, ready, err := Take(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	if len(lns) != 2 || lns[0].Addr().String() != tcp.Addr().String() {
		t.Fatalf("got %v", lns)
	}
	// The predecessor stops accepting only after ready.
	unixLn.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := ready(); err != nil {
		t.Fatal(err)
	}
	<-handedOff
	tcp.Close()
	unixLn.Close()
	lns[0].(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	c, err := lns[0].Accept()
	if err != nil {
		t.Fatalf("queued connection lost: %v", err)
	}
	c.Close()
	if _, err := os.Stat(filepath.Join(dir, "s")); err != nil {
		t.Fatal("the Unix socket file went away with the predecessor")
	}
	u, err := net.Dial("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatalf("Unix socket after hand-over: %v", err)
	}
	u.Close()
	// The control socket is free for the successor's own offer.
	if _, err := Offer(path, lns, func() {}); err != nil {
		t.Fatalf("successor cannot offer: %v", err)
	}
}

func TestTakeWithoutPredecessor(t *testing.T) {
	_, _, err := Take(context.Background(), Path(t.TempDir(), 2))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}
