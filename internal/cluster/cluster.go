package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/internal/localca"
)

// Options configures Start. The zero value is a TLS-enabled cluster with the
// default settings and pg_hba.conf.
type Options struct {
	// NoTLS turns TLS off (ssl = off); TLS is on by default.
	NoTLS bool
	// Settings are extra postgresql.conf parameters, applied after the
	// harness's own so they override them. port, unix_socket_directories,
	// data_directory, config_file, hba_file and ident_file are chosen by the
	// harness and rejected here.
	Settings map[string]string
	// HBA, when non-nil, replaces the default pg_hba.conf lines: trust on the
	// Unix socket and md5 (which also accepts SCRAM secrets) over hostssl and
	// host for 127.0.0.1/32 and ::1/128.
	HBA []string
}

// Timeouts and bounds of the cluster's lifecycle.
const (
	initdbTimeout    = 2 * time.Minute
	readyTimeout     = 30 * time.Second
	maxBindRetries   = 3
	fastShutdownWait = 15 * time.Second
	quitWait         = 5 * time.Second
	killWait         = 5 * time.Second
	logTailLines     = 30
	serverCertValid  = 30 * 24 * time.Hour
)

// stopWaits are how long shutdown waits after each signal.
type stopWaits struct{ fast, quit, kill time.Duration }

// Cluster is a running throwaway PostgreSQL cluster. Its methods are safe for
// concurrent use; Stop must be called to end the server and remove its files.
type Cluster struct {
	bin        string
	dir        string
	caFile     string
	tls        bool
	ca         *localca.CA
	serverCert *x509.Certificate
	// port is chosen while Start runs and never changes afterwards (Restart
	// reuses it), so reading it needs no lock.
	port int

	// waits are the shutdown escalation delays; tests shorten them.
	waits stopWaits

	mu      sync.Mutex // guards srv and stopped
	srv     *server    // the running postmaster; nil while stopped
	stopped bool
}

// Start creates a cluster in a new temporary directory and starts its server
// on a free port, as described in the package comment. ctx bounds the whole
// start-up; on any failure everything started so far is stopped and removed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	return start(ctx, opts, FreePort)
}

// start is Start with the port picker injected, so a test can hand out a port
// that is already taken.
func start(ctx context.Context, opts Options, pickPort func() (int, error)) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	sweepStale(os.TempDir())
	if err := validateOptions(opts); err != nil {
		return nil, fmt.Errorf("start postgresql: %w", err)
	}
	dir, err := os.MkdirTemp("", tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("start postgresql: %w", err)
	}
	c := &Cluster{
		bin:    bin,
		dir:    dir,
		caFile: filepath.Join(dir, "ca.crt"),
		tls:    !opts.NoTLS,
		waits:  stopWaits{fast: fastShutdownWait, quit: quitWait, kill: killWait},
	}
	if err := c.setup(ctx, opts, pickPort); err != nil {
		if serr := c.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, fmt.Errorf("start postgresql: %w", err)
	}
	return c, nil
}

func (c *Cluster) setup(ctx context.Context, opts Options, pickPort func() (int, error)) error {
	// MkdirTemp made the directory 0700 for the current user. The server's
	// user needs it for the data directory, socket and lock files, and
	// clients running as other users need to reach the socket and the CA
	// file; only the key and the data directory stay private.
	if err := writeOwner(c.dir); err != nil {
		return fmt.Errorf("prepare cluster directory: %w", err)
	}
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return fmt.Errorf("prepare cluster directory: %w", err)
	}
	if err := chownPostgres(c.dir); err != nil {
		return err
	}
	if err := c.initdb(ctx); err != nil {
		return err
	}
	if err := c.writeCerts(); err != nil {
		return err
	}
	if err := c.writeConfig(opts); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		port, err := pickPort()
		if err != nil {
			return err
		}
		srv, err := c.launchReady(ctx, port)
		if err == nil {
			c.port = port
			c.mu.Lock()
			c.srv = srv
			c.mu.Unlock()
			return nil
		}
		if !errors.Is(err, errPortInUse) {
			return err
		}
		if attempt == maxBindRetries {
			return fmt.Errorf("gave up after %d ports were taken: %w", attempt+1, err)
		}
	}
}

func (c *Cluster) initdb(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, initdbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "initdb"),
		"-D", c.dataDir(), "-U", "postgres", "-A", "trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--no-locale", "--no-sync")
	cmd.Dir = c.dir
	// initdb runs the server in single-user mode as its child: on
	// cancellation kill the whole group, and have the kernel kill it if this
	// process dies first.
	cmd.SysProcAttr = groupAttr(syscall.SIGKILL)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killWait
	if err := AsPostgres(cmd); err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return fmt.Errorf("initdb: %w\n%s", err, tail(string(out), logTailLines))
	}
	return nil
}

// writeCerts creates the cluster's CA and the server certificate. They are
// made even when TLS is off, so CA and CAFile are always usable (for
// instance by a proxy in front of the cluster).
func (c *Cluster) writeCerts() error {
	ca, err := localca.NewCA("pgbun cluster CA", localca.ECDSAP256)
	if err != nil {
		return err
	}
	kp, err := ca.IssueServer([]string{"localhost", "127.0.0.1", "::1"}, localca.ECDSAP256, serverCertValid)
	if err != nil {
		return err
	}
	if err := ca.WriteCert(c.caFile); err != nil {
		return err
	}
	certFile, keyFile, err := kp.WriteFiles(c.dir, "server")
	if err != nil {
		return err
	}
	// PostgreSQL refuses a key that is not owned by its user (or root) with
	// mode 0600 or 0640.
	for _, f := range []string{certFile, keyFile} {
		if err := chownPostgres(f); err != nil {
			return err
		}
	}
	c.ca, c.serverCert = ca, kp.Cert
	return nil
}

// Restart stops the server with a fast shutdown and starts it again on the
// same port and directory. ctx bounds the start.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("restart postgresql: cluster is stopped")
	}
	if c.srv != nil {
		err := c.srv.shutdown(c.waits)
		c.srv = nil
		if err != nil {
			return fmt.Errorf("restart postgresql: %w", err)
		}
	}
	srv, err := c.launchReady(ctx, c.port)
	if err != nil {
		return fmt.Errorf("restart postgresql: %w", err)
	}
	c.srv = srv
	return nil
}

// Stop shuts the server down (SIGINT, then SIGQUIT after 15 s, then SIGKILL
// to its process group) and removes the cluster's directory. It is
// idempotent: later calls return nil.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.srv != nil {
		if err := c.srv.shutdown(c.waits); err != nil {
			errs = append(errs, err)
		}
		c.srv = nil
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove cluster directory: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop postgresql: %w", err)
	}
	return nil
}

// Host returns the TCP address the server listens on.
func (c *Cluster) Host() string { return "127.0.0.1" }

// Port returns the server's TCP port, which is also part of the Unix
// socket's name.
func (c *Cluster) Port() int { return c.port }

// SocketDir returns the directory of the server's Unix socket; it is also a
// valid libpq host.
func (c *Cluster) SocketDir() string { return c.dir }

// Dir returns the cluster's temporary directory, removed by Stop.
func (c *Cluster) Dir() string { return c.dir }

// BinDir returns the directory of the PostgreSQL binaries the cluster runs.
func (c *Cluster) BinDir() string { return c.bin }

// CA returns the CA that signed the server certificate (valid for localhost,
// 127.0.0.1 and ::1). The server also trusts it for client certificates.
func (c *Cluster) CA() *localca.CA { return c.ca }

// CAFile returns the path of the CA certificate in PEM, readable by everyone.
func (c *Cluster) CAFile() string { return c.caFile }

// ServerCert returns the server's certificate.
func (c *Cluster) ServerCert() *x509.Certificate { return c.serverCert }

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) logFile() string { return filepath.Join(c.dir, "server.log") }
