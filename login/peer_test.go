package login

import (
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// unixPair returns both ends of a Unix-socket connection. The directory
// is short, as macOS limits socket paths to 104 bytes.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "peer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.UnixConn), c.(*net.UnixConn)
}

// TestPeerCredentials: the process at the other end of a Unix socket is
// this one, so its user is ours; other connections have no peer user.
func TestPeerCredentials(t *testing.T) {
	srv, _ := unixPair(t)
	uid, err := peerUID(srv)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil || uid != os.Getuid() {
		t.Fatalf("peerUID = %d, %v; want %d", uid, err, os.Getuid())
	}
	if !PeerIsSelf(srv) {
		t.Fatal("PeerIsSelf = false for a connection from this process")
	}
	if me, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		if name, err := PeerUser(srv); err != nil || name != me.Username {
			t.Fatalf("PeerUser = %q, %v; want %q", name, err, me.Username)
		}
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if PeerIsSelf(a) {
		t.Fatal("PeerIsSelf = true for a pipe")
	}
	if _, err := PeerUser(a); err == nil {
		t.Fatal("PeerUser succeeded for a pipe")
	}
}
