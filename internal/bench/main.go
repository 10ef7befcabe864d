//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is the whole benchmark; it returns the exit status: 0 when every run
// succeeded, 1 when something failed or was interrupted, 2 for bad flags.
func run(args []string) int {
	o, err := parseFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first ^C the runner cleans up; a second one ends it at
	// once (the poolers and the cluster die with it).
	go func() {
		<-ctx.Done()
		stop()
	}()

	started := time.Now()
	e, err := setup(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer func() {
		if err := e.close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}()
	versions := collectVersions(ctx, e)
	rows := e.runAll(ctx)
	idle := e.runIdle(ctx)
	interrupted := ctx.Err() != nil

	printReport(os.Stdout, e.opts, rows)
	printIdle(os.Stdout, e.opts, idle)
	path, err := writeRecord(o.resultDir, newRecord(e.opts, started, versions, rows, idle, interrupted))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Printf("\nresults written to %s\n", path)
	if interrupted {
		fmt.Fprintln(os.Stderr, "bench: interrupted; the results are incomplete")
		return 1
	}
	for _, r := range rows {
		if r.failed() {
			return 1
		}
	}
	for _, r := range idle {
		for _, x := range r.Runs {
			if x.Err != "" {
				return 1
			}
		}
	}
	return 0
}

// collectVersions records what was measured, for the JSON record.
func collectVersions(ctx context.Context, e *env) map[string]string {
	v := map[string]string{
		"go":   runtime.Version(),
		"cpus": fmt.Sprint(runtime.NumCPU()),
	}
	ask := func(key, bin string, args ...string) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).Output()
		if err != nil {
			v[key] = "unknown: " + err.Error()
			return
		}
		first, _, _ := strings.Cut(string(out), "\n")
		v[key] = strings.TrimSpace(first)
	}
	ask("pgbench", e.pgbench, "--version")
	for _, t := range e.opts.only {
		switch t {
		case targetPgBouncer:
			ask("pgbouncer", e.opts.pgbouncer, "--version")
		case targetPgbun:
			ask("pgbun", e.opts.pgbun, "--version")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		v["kernel"] = strings.TrimSpace(string(b))
	}
	return v
}
