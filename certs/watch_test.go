package certs

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgbun/pgbun/internal/pgtest"
)

// writeAtomically writes a new pair beside the live files and renames it
// into place, the way certificate tools replace files.
func writeAtomically(t *testing.T, ca *pgtest.CA, live FilePair, hosts ...string) {
	t.Helper()
	dir := filepath.Dir(live.CertFile)
	next := issue(t, ca, dir, ".next", hosts...)
	if err := os.Rename(next.KeyFile, live.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next.CertFile, live.CertFile); err != nil {
		t.Fatal(err)
	}
}

// startWatch runs s.Watch until the test ends. It returns a stop function
// that waits for Watch to return, and the log Watch writes.
func startWatch(t *testing.T, s *Store) (stop func(), logs *pgtest.LogBuffer) {
	t.Helper()
	logger, logs := testLogger(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- s.watch(ctx, logger, ready) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Watch: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Watch did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Watch: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not start")
	}
	return stop, logs
}

func TestWatchRotation(t *testing.T) {
	ca, err := pgtest.NewCA("watch ca", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	live := issue(t, ca, t.TempDir(), "server", "db.pgbun.test")
	store, err := NewStore(live)
	if err != nil {
		t.Fatal(err)
	}
	stop, logs := startWatch(t, store)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTLSServer(t, ln, NewSet(store, nil))

	old, err := dialVerified(srv.port, "db.pgbun.test", ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	first := peerSerial(old)

	writeAtomically(t, ca, live, "db.pgbun.test")
	if !waitFor(5*time.Second, func() bool { return store.Infos()[0].Serial != first }) {
		t.Fatal("rename into place not picked up")
	}
	second := store.Infos()[0].Serial
	// The store swaps before the watcher logs, so give the log line a moment.
	if !waitFor(5*time.Second, func() bool { return strings.Contains(logs.String(), "certificate reloaded") }) {
		t.Fatalf("no reload logged:\n%s", logs)
	}
	if err := echo(old, "still here"); err != nil {
		t.Fatalf("connection from before the rotation: %v", err)
	}
	fresh, err := dialVerified(srv.port, "db.pgbun.test", ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	fresh.Close()
	if peerSerial(fresh) != second {
		t.Fatalf("new handshake got %s, want %s", peerSerial(fresh), second)
	}

	// A broken certificate keeps the previous one in service, and the
	// failure is logged once.
	tmp := live.CertFile + ".tmp"
	if err := os.WriteFile(tmp, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, live.CertFile); err != nil {
		t.Fatal(err)
	}
	const failed = "certificate reload failed, keeping the previous one: load certificate " // + path
	if !waitFor(5*time.Second, func() bool { return strings.Contains(logs.String(), failed) }) {
		t.Fatalf("broken file not reported:\n%s", logs)
	}
	// Unrelated events in the directory do not repeat the report.
	if err := os.WriteFile(filepath.Join(filepath.Dir(live.CertFile), "unrelated"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * watchDebounce)
	if n := strings.Count(logs.String(), failed); n != 1 {
		t.Fatalf("failure logged %d times", n)
	}
	if got := store.Infos()[0].Serial; got != second {
		t.Fatalf("broken file replaced the certificate: %s", got)
	}
	kept, err := dialVerified(srv.port, "db.pgbun.test", ca.Pool())
	if err != nil {
		t.Fatalf("handshake with a broken file on disk: %v", err)
	}
	kept.Close()
	if peerSerial(kept) != second {
		t.Fatal("handshake did not get the kept certificate")
	}

	// A good file after the broken one is picked up.
	writeAtomically(t, ca, live, "db.pgbun.test")
	if !waitFor(5*time.Second, func() bool { return store.Infos()[0].Serial != second }) {
		t.Fatal("repair not picked up")
	}

	stop()
	old.Close()
	srv.close()
	checkLeaks(t)
}

// TestWatchSymlinkSwap replaces files the way Kubernetes updates a
// mounted secret: the visible names are links through "..data", which is
// itself a link swapped by rename to a new timestamped directory.
func TestWatchSymlinkSwap(t *testing.T) {
	ca, err := pgtest.NewCA("swap ca", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	mount := t.TempDir()
	version := func(name string) {
		t.Helper()
		dir := filepath.Join(mount, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		issue(t, ca, dir, "tls", "db.pgbun.test")
		if err := os.Symlink(name, filepath.Join(mount, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(mount, "..data_tmp"), filepath.Join(mount, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1")
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(mount, f)); err != nil {
			t.Fatal(err)
		}
	}
	store, err := NewStore(FilePair{CertFile: filepath.Join(mount, "tls.crt"), KeyFile: filepath.Join(mount, "tls.key")})
	if err != nil {
		t.Fatal(err)
	}
	stop, _ := startWatch(t, store)
	first := store.Infos()[0].Serial

	version("..v2")
	if !waitFor(5*time.Second, func() bool { return store.Infos()[0].Serial != first }) {
		t.Fatal("symlink swap not picked up")
	}
	stop()
	checkLeaks(t)
}

func TestWatchMissingDirectory(t *testing.T) {
	ca, err := pgtest.NewCA("gone ca", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := NewStore(issue(t, ca, dir, "server", "db.pgbun.test"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	logger, _ := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := store.Watch(ctx, logger); !errorContains(err, dir) {
		t.Fatalf("Watch on a missing directory: %v", err)
	}
}
