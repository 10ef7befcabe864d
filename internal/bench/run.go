//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pgbun/pgbun/internal/pgtest"
)

// Bounds of the runs.
const (
	restBetweenRuns = time.Second
	// pgbenchSlack covers connecting a thousand clients with SCRAM and TLS
	// and the final report, on top of -duration.
	pgbenchSlack = 2 * time.Minute
	errTextLimit = 300
)

// runResult is one pgbench run against one target.
type runResult struct {
	Round     int     `json:"round"`        // from 0
	TPS       float64 `json:"tps"`          // mean over the steady window
	Txns      int64   `json:"transactions"` // in the steady window
	LatencyMs float64 `json:"latency_ms"`
	CPUSec    float64 `json:"cpu_seconds,omitempty"`    // the pooler's, in the window
	CPUPerTxn float64 `json:"cpu_us_per_txn,omitempty"` // the pooler's, µs per transaction
	// The whole machine's busy CPU time per transaction in the window
	// (PostgreSQL, pgbench and the pooler together).
	MachinePerTxn float64 `json:"machine_cpu_us_per_txn,omitempty"`
	ConnectSec    float64 `json:"connect_seconds,omitempty"` // pgbench's initial connection time
	WindowSec     int     `json:"window_seconds,omitempty"`  // seconds measured
	Err           string  `json:"error,omitempty"`
}

// row is the runs of one target at one (mode, clients, tls).
type row struct {
	Mode    string      `json:"mode"`
	Clients int         `json:"clients"`
	TLS     bool        `json:"tls"`
	Target  target      `json:"target"`
	NA      string      `json:"not_applicable,omitempty"` // why it was not run, when that is expected
	Err     string      `json:"error,omitempty"`          // why it could not run at all
	Runs    []runResult `json:"runs"`
}

// run returns the row's successful run of round r.
func (r *row) run(round int) (runResult, bool) {
	for _, x := range r.Runs {
		if x.Round == round && x.Err == "" {
			return x, true
		}
	}
	return runResult{}, false
}

// failed reports whether anything in the row went wrong.
func (r *row) failed() bool {
	if r.Err != "" {
		return true
	}
	for _, x := range r.Runs {
		if x.Err != "" {
			return true
		}
	}
	return false
}

// runAll runs every (mode, clients) group and returns the rows, complete
// or, when ctx ends, as far as they got.
func (e *env) runAll(ctx context.Context) []*row {
	var rows []*row
	if e.opts.idleOnly {
		return rows
	}
	for _, mode := range e.opts.modes {
		for _, clients := range e.opts.clients {
			if ctx.Err() != nil {
				return rows
			}
			rows = append(rows, e.runGroup(ctx, mode, clients)...)
		}
	}
	return rows
}

// runGroup starts the poolers for one (mode, clients), runs the rounds for
// each TLS setting and stops the poolers.
func (e *env) runGroup(ctx context.Context, mode string, clients int) []*row {
	var rows []*row
	byKey := map[string]*row{}
	key := func(tls bool, t target) string { return fmt.Sprint(tls, t) }
	for _, tls := range e.opts.tls {
		for _, t := range e.opts.only {
			r := &row{Mode: mode, Clients: clients, TLS: tls, Target: t, Runs: []runResult{}}
			rows = append(rows, r)
			byKey[key(tls, t)] = r
		}
	}
	mark := func(t target, na, err string) {
		for _, tls := range e.opts.tls {
			r := byKey[key(tls, t)]
			r.NA, r.Err = na, err
		}
	}
	active := e.applicable(mode, clients, mark)

	poolers, running := e.startPoolers(ctx, mode, clients, active, mark)
	defer func() {
		for _, p := range poolers {
			if err := p.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}
	}()
	if ctx.Err() != nil {
		return rows
	}

	first := true
	for _, tls := range e.opts.tls {
		for round := range e.opts.rounds {
			for _, t := range rotate(running, round) {
				if !first && !sleepCtx(ctx, restBetweenRuns) {
					return rows
				}
				first = false
				res := e.runOne(ctx, t, tls, clients, poolers[t])
				res.Round = round
				if ctx.Err() != nil {
					return rows
				}
				r := byKey[key(tls, t)]
				r.Runs = append(r.Runs, res)
				fmt.Fprintf(os.Stderr, "%s, %d clients, tls %s, round %d/%d: %-9s %s\n",
					mode, clients, onOff(tls), round+1, e.opts.rounds, t, describeRun(res))
			}
		}
	}
	return rows
}

// startPoolers starts the poolers among active for (mode, clients) and
// returns them with the targets that can run: direct and every pooler that
// came up. A pooler that fails is marked in its rows and its log is shown;
// it is returned too, so the caller stops it.
func (e *env) startPoolers(ctx context.Context, mode string, clients int, active []target,
	mark func(t target, na, err string)) (map[target]*pooler, []target) {
	poolers := map[target]*pooler{}
	var running []target
	for _, t := range active {
		if t == targetDirect {
			running = append(running, t)
			continue
		}
		p, err := e.startReady(ctx, t, mode, clients)
		if p != nil {
			poolers[t] = p
		}
		if ctx.Err() != nil {
			return poolers, nil
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s, %s mode, %d clients: %v\n", t, mode, clients, err)
			if p != nil {
				fmt.Fprint(os.Stderr, p.logTail())
			}
			mark(t, "", err.Error())
			continue
		}
		running = append(running, t)
	}
	return poolers, running
}

// applicable returns the targets that can run at (mode, clients) and marks
// the others not applicable, with the reason.
func (e *env) applicable(mode string, clients int, mark func(t target, na, err string)) []target {
	var active, pooled []target
	direct := false
	for _, t := range e.opts.only {
		switch {
		case t == targetDirect && clients > maxDirectClients:
			mark(t, fmt.Sprintf("direct runs only up to %d clients", maxDirectClients), "")
		case t == targetDirect:
			direct = true
			active = append(active, t)
		default:
			pooled = append(pooled, t)
		}
	}
	if mode == "session" {
		// Each pooler keeps its session pool's servers open between its
		// runs, while the other targets run.
		need := len(pooled) * poolSize(mode, clients, e.opts.pool)
		if direct {
			need += clients
		}
		if limit := maxConnections - reservedConns; need > limit {
			for _, t := range pooled {
				mark(t, fmt.Sprintf("session mode with %d clients needs %d PostgreSQL connections, at most %d are free",
					clients, need, limit), "")
			}
			return active
		}
	}
	return append(active, pooled...)
}

// startReady writes the configuration for (mode, clients), starts pooler t
// and waits until it accepts logins on every TLS setting to be run. The
// pooler is returned also on error, so the caller can show its log and stop
// it.
func (e *env) startReady(ctx context.Context, t target, mode string, clients int) (*pooler, error) {
	port, err := pgtest.FreePort()
	if err != nil {
		return nil, err
	}
	common := filepath.Join(e.dir, "common.ini")
	body := commonINI(iniParams{
		PGPort: e.pg.Port(), AuthFile: e.authFile, CertFile: e.certFile, KeyFile: e.keyFile,
		Mode: mode, PoolSize: poolSize(mode, clients, e.opts.pool),
	})
	if err := writeShared(common, body); err != nil {
		return nil, err
	}
	spec := poolerSpec{
		name:    t,
		port:    port,
		dir:     e.dir,
		ini:     filepath.Join(e.dir, string(t)+".ini"),
		logfile: filepath.Join(e.dir, string(t)+".log"),
		outfile: filepath.Join(e.dir, string(t)+".out"),
	}
	switch t {
	case targetPgBouncer:
		// SIGINT is PgBouncer's safe shutdown; SIGTERM also waits for
		// clients in newer releases.
		spec.bin, spec.stopSig = e.opts.pgbouncer, syscall.SIGINT
	case targetPgbun:
		spec.bin, spec.stopSig = e.opts.pgbun, syscall.SIGTERM
	default:
		return nil, fmt.Errorf("%s is not a pooler", t)
	}
	wrapper := wrapperINI(common, port, filepath.Join(e.dir, string(t)+".pid"), spec.logfile)
	if err := writeShared(spec.ini, wrapper); err != nil {
		return nil, err
	}
	p, err := startPooler(spec)
	if err != nil {
		return nil, err
	}
	var css []string
	for _, tls := range e.opts.tls {
		css = append(css, connString(port, tls))
	}
	return p, p.waitReady(ctx, css, e.password)
}

// writeShared writes a file the poolers read.
func writeShared(path, body string) error {
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return giveToPostgres(path)
}

// connString is a libpq keyword/value string for the bench role on a port
// of 127.0.0.1. It holds no password: that goes through PGPASSWORD or the
// config.
func connString(port int, tls bool) string {
	mode := "disable"
	if tls {
		mode = "require"
	}
	return fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=%s sslmode=%s connect_timeout=30",
		port, benchDB, benchUser, mode)
}

// Each run gives pgbench time to connect its clients and warm up before
// the window that is measured: connecting a thousand clients with TLS and
// SCRAM takes several seconds (pgbench's side of SCRAM is most of it), and
// rates climb for a few seconds after that.
const (
	warmup       = 3 * time.Second
	connectBase  = time.Second
	connectTLS   = 10 * time.Millisecond // per client
	connectPlain = 6 * time.Millisecond  // per client
)

// runLength is pgbench's -T for a run: the connection allowance, the
// warm-up and the measured duration.
func runLength(d time.Duration, clients int, tls bool) time.Duration {
	per := connectPlain
	if tls {
		per = connectTLS
	}
	conn := connectBase + time.Duration(clients)*per
	return (d + warmup + conn + time.Second - 1).Truncate(time.Second)
}

// runOne runs pgbench once against t. p is t's pooler, nil for direct.
//
// The figures are those of the steady window: the last -duration seconds
// of the run, which begin at least warmup after the last client
// connected. pgbench reports its rate every second (-P 1); the pooler's
// and the machine's CPU times are sampled through the run and read at the
// window's ends.
func (e *env) runOne(ctx context.Context, t target, tls bool, clients int, p *pooler) runResult {
	port, pid := e.pg.Port(), 0
	if p != nil {
		if done, err := p.exited(); done {
			return runResult{Err: fmt.Sprintf("%s has exited (%v)", t, err)}
		}
		port, pid = p.port, p.pid()
	}
	length := runLength(e.opts.duration, clients, tls)
	ctx, cancel := context.WithTimeout(ctx, length+pgbenchSlack)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.pgbench, "-n", "-S", "-M", "simple", "-P", "1",
		"-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(2, clients)),
		"-T", strconv.Itoa(int(length/time.Second)), connString(port, tls))
	cmd.Env = append(os.Environ(), "PGPASSWORD="+e.password)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Interrupted, pgbench gets SIGINT first so its connections end
	// cleanly; WaitDelay bounds the wait before the kill.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = killWait
	smp := startSampler(pid)
	runErr := cmd.Run()
	samples, smpErr := smp.finish()
	if runErr != nil {
		return runResult{Err: fmt.Sprintf("pgbench: %v: %s", runErr, firstError(stderr.String()))}
	}
	res, err := measure(stdout.String(), stderr.String(), samples, e.opts.duration)
	if err == nil && smpErr != nil {
		err = fmt.Errorf("CPU samples: %w", smpErr)
	}
	if err != nil {
		res.Err = err.Error()
		if msg := firstError(stderr.String()); msg != "" && !strings.HasPrefix(msg, "progress:") {
			res.Err += ": " + msg
		}
	}
	return res
}

// measure makes a run's result from pgbench's output and the CPU samples:
// the rate, latency and CPU costs of the steady window.
func measure(stdout, stderr string, samples []cpuSample, d time.Duration) (runResult, error) {
	var res runResult
	if _, err := parsePgbench(stdout); err != nil {
		return res, err
	}
	connected, err := parseConnectTime(stdout)
	if err != nil {
		return res, err
	}
	ps, err := parseProgress(stderr)
	if err != nil {
		return res, err
	}
	w, err := steady(ps, connected, warmup.Seconds(), int(d/time.Second))
	if err != nil {
		return res, err
	}
	txns, tps, lat := windowRate(w)
	res.TPS, res.Txns, res.LatencyMs = tps, int64(txns+0.5), lat
	res.ConnectSec, res.WindowSec = connected, len(w)
	pooler, machine, err := cpuBetween(samples, w[0].At-1, w[len(w)-1].At)
	if err != nil {
		return res, err
	}
	if txns > 0 {
		res.CPUSec = pooler
		if pooler > 0 {
			res.CPUPerTxn = pooler * 1e6 / txns
		}
		res.MachinePerTxn = machine * 1e6 / txns
	}
	return res, nil
}

// firstError picks the most telling line of pgbench's standard error: the
// first that reports an error, else the last one.
func firstError(stderr string) string {
	var last string
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.Contains(line, "error") || strings.Contains(line, "FATAL") {
			return clip(line)
		}
		last = line
	}
	return clip(last)
}

func clip(s string) string {
	if len(s) > errTextLimit {
		return s[:errTextLimit] + "..."
	}
	return s
}

func describeRun(r runResult) string {
	if r.Err != "" {
		return "error: " + r.Err
	}
	s := fmt.Sprintf("%9.0f tps", r.TPS)
	if r.CPUSec > 0 {
		s += fmt.Sprintf(", %.1f µs CPU/txn", r.CPUPerTxn)
	}
	return s + fmt.Sprintf(" (machine %.0f µs/txn; %d s measured after %.1f s connecting)", r.MachinePerTxn, r.WindowSec, r.ConnectSec)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
