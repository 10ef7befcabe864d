package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pair returns two connected loopback sockets, the first wrapped.
func pair(t *testing.T, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = t.TempDir() + "/s"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	w := Wrap(a)
	if _, ok := w.(*Conn); ok != wraps {
		t.Fatalf("Wrap(%T): wrapped %v, want %v", a, ok, wraps)
	}
	t.Cleanup(func() { w.Close(); r.c.Close() })
	return w, r.c
}

func TestRoundTrip(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			w, peer := pair(t, network)
			// More than the socket buffers hold, so writes wait for room
			// and reads come in pieces, both ways at once.
			out := make([]byte, 8<<20)
			rand.Read(out)
			var wg sync.WaitGroup
			var echoErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, echoErr = io.CopyN(peer, peer, int64(len(out)))
			}()
			var writeErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, writeErr = w.Write(out)
			}()
			in := make([]byte, len(out))
			if _, err := io.ReadFull(w, in); err != nil {
				t.Fatalf("read: %v", err)
			}
			wg.Wait()
			if writeErr != nil || echoErr != nil {
				t.Fatalf("write: %v, echo: %v", writeErr, echoErr)
			}
			if !bytes.Equal(in, out) {
				t.Fatal("bytes read back differ from those written")
			}
		})
	}
}

func TestEndOfStream(t *testing.T) {
	w, peer := pair(t, "tcp")
	peer.Write([]byte("x"))
	peer.Close()
	b, err := io.ReadAll(w)
	if err != nil || string(b) != "x" {
		t.Fatalf("ReadAll = %q, %v; want \"x\", nil", b, err)
	}
	if n, err := w.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read after end = %d, %v; want 0, EOF", n, err)
	}
	// Writing to a closed peer fails (reset or broken pipe) rather than
	// killing the process with SIGPIPE.
	var err2 error
	for i := 0; i < 100 && err2 == nil; i++ {
		_, err2 = w.Write([]byte("after close"))
		time.Sleep(time.Millisecond)
	}
	var oe *net.OpError
	if !errors.As(err2, &oe) || oe.Op != "write" {
		t.Fatalf("write to a closed peer: %v, want a write *net.OpError", err2)
	}
}

func TestDeadlines(t *testing.T) {
	w, peer := pair(t, "tcp")
	w.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := w.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the deadline did not end the read")
	}
	// A deadline leaves the connection usable.
	w.SetReadDeadline(time.Time{})
	peer.Write([]byte("y"))
	b := make([]byte, 1)
	if _, err := io.ReadFull(w, b); err != nil || b[0] != 'y' {
		t.Fatalf("read after a deadline: %q, %v", b, err)
	}
	// A deadline in the past ends a blocked read from another goroutine,
	// as pgbun does to interrupt an idle wait.
	interruptRead(t, w, func() { w.SetReadDeadline(time.Unix(1, 0)) }, os.ErrDeadlineExceeded)
}

// interruptRead starts a read on w that blocks, calls interrupt from this
// goroutine, and wants the read to end with an error that is want.
func interruptRead(t *testing.T, w net.Conn, interrupt func(), want error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	interrupt()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Fatalf("interrupted read: %v, want %v", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read was not interrupted")
	}
}

func TestCloseEndsRead(t *testing.T) {
	w, _ := pair(t, "tcp")
	interruptRead(t, w, func() { w.Close() }, net.ErrClosed)
	if _, err := w.Write([]byte("z")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v, want net.ErrClosed", err)
	}
}

func TestNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a connection that is not a socket")
	}
}

func TestPeek(t *testing.T) {
	w, peer := pair(t, "tcp")
	rc, err := peer.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	peek := func() syscall.Errno {
		var e syscall.Errno
		var b [1]byte
		if err := rc.Control(func(fd uintptr) { e = Peek(fd, b[:]) }); err != nil {
			t.Fatal(err)
		}
		return e
	}
	// waitPeek peeks until something other than EAGAIN comes back.
	waitPeek := func() syscall.Errno {
		deadline := time.Now().Add(5 * time.Second)
		e := peek()
		for e == syscall.EAGAIN && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			e = peek()
		}
		return e
	}
	if e := peek(); e != syscall.EAGAIN {
		t.Fatalf("Peek with nothing sent = %v, want EAGAIN", e)
	}
	w.Write([]byte("p"))
	if e := waitPeek(); e != 0 {
		t.Fatalf("Peek with data = %v, want 0", e)
	}
	// The byte is still there for the read.
	b := make([]byte, 1)
	if _, err := io.ReadFull(peer, b); err != nil || b[0] != 'p' {
		t.Fatalf("read after Peek: %q, %v", b, err)
	}
	w.Close()
	if e := waitPeek(); e != 0 {
		t.Fatalf("Peek at the end of the stream = %v, want 0", e)
	}
}

func BenchmarkSmallRoundTrip(b *testing.B) {
	for _, wrap := range []bool{false, true} {
		name := "net"
		if wrap {
			name = "rawio"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.Copy(c, c)
				c.Close()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			if wrap {
				c = Wrap(c)
			}
			defer c.Close()
			msg := make([]byte, 64)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Write(msg)
				if _, err := io.ReadFull(c, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
