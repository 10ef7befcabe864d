//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// target is one thing pgbench runs against.
type target string

const (
	targetDirect    target = "direct"
	targetPgBouncer target = "pgbouncer"
	targetPgbun     target = "pgbun"
)

// allTargets is the canonical order: the first round runs them like this.
var allTargets = []target{targetDirect, targetPgBouncer, targetPgbun}

// Limits of the benchmark setup. PostgreSQL's max_connections is fixed so
// runs stay comparable between machines; direct runs and session pools
// must fit in it.
const (
	maxConnections   = 250
	reservedConns    = 10 // superuser_reserved_connections (3) and the runner's own sessions
	maxDirectClients = 200
	maxClientConn    = 10000               // max_client_conn of both poolers
	maxIdleClients   = maxClientConn - 100 // room for the readiness checks' logins
	sessionPoolExtra = 5                   // session pools get clients+5 servers, so no client waits
)

// options are the runner's settings, validated by parseFlags.
type options struct {
	duration  time.Duration // per pgbench run, whole seconds
	rounds    int
	clients   []int
	modes     []string // pool_mode values
	scale     int
	tls       []bool // TLS settings to run, plain first
	pool      int    // default_pool_size outside session mode
	idle      int    // idle TLS clients per pooler in the memory measurement; 0 skips it
	idleOnly  bool   // run the memory measurement alone
	keep      bool   // keep the working directory
	only      []target
	pgbun     string // pgbun binary
	pgbouncer string // PgBouncer binary
	resultDir string // where the JSON record goes
}

// parseFlags reads the command line. Usage and errors go to out; -h returns
// flag.ErrHelp.
func parseFlags(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	var o options
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each pgbench run (whole seconds)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds per (mode, clients, tls); each runs every target once")
	clients := fs.String("clients", "50,1000", "comma-separated client counts")
	modes := fs.String("modes", "session,transaction", "comma-separated pool modes: session, transaction, statement")
	fs.IntVar(&o.scale, "scale", 10, "pgbench scale factor")
	tlsFlag := fs.String("tls", "both", "client TLS: both, on or off")
	fs.IntVar(&o.pool, "pool", 20, "default_pool_size outside session mode (session mode uses clients+5)")
	fs.IntVar(&o.idle, "idle", 5000, "idle TLS clients per pooler for the memory measurement (0 skips it)")
	fs.BoolVar(&o.idleOnly, "idle-only", false, "run only the idle-clients memory measurement")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (configuration, logs) for inspection")
	only := fs.String("only", "direct,pgbouncer,pgbun", "comma-separated targets: direct, pgbouncer, pgbun")
	fs.StringVar(&o.pgbun, "pgbun", "./pgbun", "pgbun binary (built by `make build`)")
	fs.StringVar(&o.pgbouncer, "pgbouncer", "/usr/sbin/pgbouncer", "PgBouncer binary")
	fs.StringVar(&o.resultDir, "results", ".bench", "directory for the JSON record")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.clients, err = parseClients(*clients); err != nil {
		return o, err
	}
	if o.modes, err = parseModes(*modes); err != nil {
		return o, err
	}
	if o.tls, err = parseTLS(*tlsFlag); err != nil {
		return o, err
	}
	if o.only, err = parseTargets(*only); err != nil {
		return o, err
	}
	switch {
	case o.duration < time.Second || o.duration%time.Second != 0:
		return o, fmt.Errorf("-duration %s: must be a whole number of seconds, at least 1s", o.duration)
	case o.rounds < 1 || o.rounds > 100:
		return o, fmt.Errorf("-rounds %d: must be between 1 and 100", o.rounds)
	case o.scale < 1 || o.scale > 10000:
		return o, fmt.Errorf("-scale %d: must be between 1 and 10000", o.scale)
	case o.pool < 1 || o.pool > maxConnections-reservedConns:
		return o, fmt.Errorf("-pool %d: must be between 1 and %d", o.pool, maxConnections-reservedConns)
	case o.idle < 0 || o.idle > maxIdleClients:
		return o, fmt.Errorf("-idle %d: must be between 0 and %d", o.idle, maxIdleClients)
	case o.idleOnly && o.idle == 0:
		return o, errors.New("-idle-only needs -idle above 0")
	case o.pgbun == "" || o.pgbouncer == "":
		return o, errors.New("-pgbun and -pgbouncer must name binaries")
	}
	return o, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseClients(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > maxClientConn {
			return nil, fmt.Errorf("-clients: %q is not a number between 1 and %d", f, maxClientConn)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-clients: no client count given")
	}
	return out, nil
}

func parseModes(s string) ([]string, error) {
	var out []string
	for _, f := range splitList(s) {
		switch f {
		case "session", "transaction", "statement":
		default:
			return nil, fmt.Errorf("-modes: unknown pool mode %q (session, transaction, statement)", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-modes: no pool mode given")
	}
	return out, nil
}

func parseTLS(s string) ([]bool, error) {
	switch s {
	case "both":
		return []bool{false, true}, nil
	case "on":
		return []bool{true}, nil
	case "off":
		return []bool{false}, nil
	}
	return nil, fmt.Errorf("-tls: %q is not both, on or off", s)
}

// parseTargets returns the chosen targets in canonical order.
func parseTargets(s string) ([]target, error) {
	var picked []target
	for _, f := range splitList(s) {
		t := target(f)
		if !slices.Contains(allTargets, t) {
			return nil, fmt.Errorf("-only: unknown target %q (direct, pgbouncer, pgbun)", f)
		}
		picked = append(picked, t)
	}
	if len(picked) == 0 {
		return nil, errors.New("-only: no target given")
	}
	var out []target
	for _, t := range allTargets {
		if slices.Contains(picked, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// poolSize is default_pool_size for a mode: session pooling holds a server
// per client for the client's whole life, so it gets one per client and a
// few spare; the other modes share -pool servers.
func poolSize(mode string, clients, pool int) int {
	if mode == "session" {
		return clients + sessionPoolExtra
	}
	return pool
}

// rotate returns ts shifted left by n places: round r runs rotate(ts, r).
func rotate[T any](ts []T, n int) []T {
	if len(ts) == 0 {
		return nil
	}
	n %= len(ts)
	return append(slices.Clone(ts[n:]), ts[:n]...)
}
