package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgbun/pgbun/internal/pgtest"
)

// proc is a pgbun process under test; its log is kept for assertions.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan error
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), done: make(chan error, 1)}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	go func() { err := p.cmd.Wait(); w.Close(); p.done <- err }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
		}
	})
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *proc) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.logs(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", want, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// setupProcess writes a configuration for a pgbun process in front of pg:
// TLS with a fresh CA, SCRAM, a Unix socket and the takeover socket in dir.
func setupProcess(t *testing.T) (ini, caFile string, port int) {
	t.Helper()
	ctx := context.Background()
	if err := pg.CreateRole(ctx, "upgr", "upgr-pass", pgtest.SCRAM); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	ca, err := pgtest.NewCA("process test CA", pgtest.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.crt")
	ca.WriteCert(caFile)
	kp, _ := ca.IssueServer([]string{"localhost", "127.0.0.1"}, pgtest.ECDSAP256, time.Hour)
	cert, key, _ := kp.WriteFiles(dir, "srv")
	os.WriteFile(filepath.Join(dir, "users.txt"), []byte(`"upgr" "upgr-pass"`+"\n"), 0o600)
	port, _ = pgtest.FreePort()
	ini = filepath.Join(dir, "pgbouncer.ini")
	body := fmt.Sprintf(`[databases]
postgres = host=127.0.0.1 port=%d
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir = %s
pidfile = %s
auth_type = scram-sha-256
auth_file = %s
client_tls_sslmode = require
client_tls_cert_file = %s
client_tls_key_file = %s
server_tls_sslmode = require
log_connections = 0
`, pg.Port(), port, dir, filepath.Join(dir, "pgbun.pid"), filepath.Join(dir, "users.txt"), cert, key)
	if err := os.WriteFile(ini, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return ini, caFile, port
}

func connURL(port int, caFile string) string {
	return fmt.Sprintf("postgres://upgr:upgr-pass@localhost:%d/postgres?sslmode=verify-full&sslrootcert=%s&connect_timeout=5",
		port, url.QueryEscape(caFile))
}

func waitUp(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, u)
		cancel()
		if err == nil {
			c.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbun never answered: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBinaryUpgrade: a second pgbun takes the listening sockets over with
// -R; a TLS client of the first keeps its transaction, new clients are
// never refused, and the first exits once its client leaves.
func TestBinaryUpgrade(t *testing.T) {
	ini, caFile, port := setupProcess(t)
	u := connURL(port, caFile)
	old := startProc(t, ini)
	waitUp(t, u)
	ctx := context.Background()
	c1, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Exec(ctx, "begin"); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Exec(ctx, "select 1"); err != nil {
		t.Fatal(err)
	}

	// Clients keep connecting during the hand-over; none may be refused.
	stop := make(chan struct{})
	var tries, failures atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tries.Add(1)
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			c, err := pgx.Connect(cctx, u)
			cancel()
			if err != nil {
				failures.Add(1)
				lastErr.Store(err.Error())
				continue
			}
			c.Close(ctx)
		}
	}()

	next := startProc(t, "-R", ini)
	next.waitLog(t, "took the listening sockets over")
	old.waitLog(t, "a new pgbun took the listening sockets over")
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d connections failed during the hand-over: %v", failures.Load(), tries.Load(), lastErr.Load())
	}

	// The old process still serves its TLS client, transaction and all.
	if _, err := c1.Exec(ctx, "select 2"); err != nil {
		t.Fatalf("old client after the hand-over: %v", err)
	}
	if _, err := c1.Exec(ctx, "commit"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.done:
		t.Fatal("old process exited while its client was connected")
	default:
	}
	c1.Close(ctx)
	select {
	case <-old.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("old process did not exit after its last client:\n%s", old.logs())
	}
	// The new process serves, over TCP and the Unix socket it inherited.
	waitUp(t, u)
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(ini), "pgbun.pid"))
	if strings.TrimSpace(string(b)) != strconv.Itoa(next.cmd.Process.Pid) {
		t.Fatalf("pidfile says %q, new process is %d", b, next.cmd.Process.Pid)
	}
	sock := filepath.Join(filepath.Dir(ini), fmt.Sprintf(".s.PGSQL.%d", port))
	if c, err := net.Dial("unix", sock); err != nil {
		t.Fatalf("Unix socket after the old process left: %v", err)
	} else {
		c.Close()
	}
	next.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-next.done:
	case <-time.After(15 * time.Second):
		t.Fatal("SIGTERM did not stop the new process")
	}
}

// TestSignals: SIGHUP reloads (a broken file keeps the running
// configuration), SIGINT lets a transaction finish before exiting.
func TestSignals(t *testing.T) {
	ini, caFile, port := setupProcess(t)
	u := connURL(port, caFile)
	p := startProc(t, ini)
	waitUp(t, u)
	b, _ := os.ReadFile(ini)
	os.WriteFile(ini, []byte(string(b)+"default_pool_size = bad\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "reload failed, keeping the running configuration")
	os.WriteFile(ini, b, 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog(t, "configuration reloaded")
	waitUp(t, u)

	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	c.Exec(ctx, "begin")
	p.cmd.Process.Signal(syscall.SIGINT)
	p.waitLog(t, "shutting down")
	if _, err := c.Exec(ctx, "select 1"); err != nil {
		t.Fatalf("transaction cut short by SIGINT: %v", err)
	}
	if _, err := c.Exec(ctx, "commit"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("SIGINT did not stop pgbun:\n%s", p.logs())
	}
}
