package pgtest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds the start of Main's cluster: initdb, then the server
// until it accepts connections.
const startTimeout = 150 * time.Second

// Main starts one cluster for a test package, stores it in *out, runs the
// tests and stops the cluster. Use it as
//
//	var pg *pgtest.Cluster
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, pgtest.Options{}, &pg)) }
//
// Fuzzing runs (-fuzz, and the worker processes it starts) get no
// cluster: they run fuzz targets only.
//
// When the binaries are missing or the cluster does not start, it prints why
// to stderr and returns 1: the tests fail, they are never skipped. A failure
// to stop the cluster also turns a passing run into exit code 1.
//
// While the tests run, SIGINT and SIGTERM (^C, or the fuzzing engine ending
// a worker) stop the cluster and exit with status 1, so an interrupted run
// leaves no directory behind; a second signal exits at once.
func Main(m *testing.M, opts Options, out **Cluster) int {
	// A fuzzing run executes only its fuzz target, in many worker
	// processes: none of them needs a database.
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	c, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot run the tests: %v\n", err)
		return 1
	}
	*out = c

	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go stopOnSignal(c, sigc, done)
	code := m.Run()
	signal.Stop(sigc)
	close(done)

	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// stopOnSignal stops c and exits when a signal arrives on sigc before done
// is closed.
func stopOnSignal(c *Cluster, sigc <-chan os.Signal, done <-chan struct{}) {
	select {
	case <-done:
		return
	case sig := <-sigc:
		fmt.Fprintf(os.Stderr, "pgtest: %v: stopping PostgreSQL\n", sig)
	}
	stopped := make(chan struct{})
	go func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-sigc:
		// Asked twice: the server still gets SIGQUIT from the kernel when
		// this process is gone.
	}
	os.Exit(1)
}
