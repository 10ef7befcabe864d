//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Bounds of the idle-clients measurement.
const (
	idleMode = "transaction"
	// idleDialers is how many clients log in at once: enough to keep a
	// pooler busy, few enough that no login waits long in a backlog.
	idleDialers = 16
	// idleSettle lets the pooler finish what the last logins left (TLS
	// session tickets, a collection cycle; pgbun parks idle sessions after
	// a second and returns free memory after a further quiet second)
	// before its RSS is read.
	idleSettle = 5 * time.Second
	// idleRunTimeout bounds one run: every login, the settle time and the
	// reading.
	idleRunTimeout = 5 * time.Minute
)

// idleResult is one run of the idle-clients measurement against one pooler:
// its resident memory before and after -idle authenticated TLS clients
// connected and went idle.
type idleResult struct {
	Round        int     `json:"round"` // from 0
	Clients      int     `json:"clients"`
	BeforeKiB    int64   `json:"rss_before_kib"`
	AfterKiB     int64   `json:"rss_after_kib"`
	PerClientKiB float64 `json:"kib_per_client"`
	Err          string  `json:"error,omitempty"`
}

// idleRow is every run against one pooler.
type idleRow struct {
	Target target       `json:"target"`
	Runs   []idleResult `json:"runs"`
}

// run returns the row's successful run of round r.
func (r *idleRow) run(round int) (idleResult, bool) {
	for _, x := range r.Runs {
		if x.Round == round && x.Err == "" {
			return x, true
		}
	}
	return idleResult{}, false
}

// runIdle measures, for each pooler among the targets, how much resident
// memory -idle authenticated TLS clients cost it while they sit idle in
// transaction pooling. Every run starts a fresh pooler, so no run inherits
// another's heap; the order of the poolers rotates every round.
func (e *env) runIdle(ctx context.Context) []*idleRow {
	var rows []*idleRow
	for _, t := range e.opts.only {
		if t != targetDirect {
			rows = append(rows, &idleRow{Target: t, Runs: []idleResult{}})
		}
	}
	if e.opts.idle == 0 || len(rows) == 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "idle clients: %d TLS clients per pooler, %s mode\n", e.opts.idle, idleMode)
	for round := range e.opts.rounds {
		for _, r := range rotate(rows, round) {
			if ctx.Err() != nil || !sleepCtx(ctx, restBetweenRuns) {
				return rows
			}
			res := e.idleOne(ctx, r.Target)
			res.Round = round
			if ctx.Err() != nil {
				return rows
			}
			r.Runs = append(r.Runs, res)
			fmt.Fprintf(os.Stderr, "idle clients, round %d/%d: %-9s %s\n",
				round+1, e.opts.rounds, r.Target, describeIdle(res))
		}
	}
	return rows
}

// idleOne starts pooler t, reads its RSS, connects the clients, lets them
// idle, reads its RSS again, then disconnects them and stops the pooler.
func (e *env) idleOne(ctx context.Context, t target) idleResult {
	ctx, cancel := context.WithTimeout(ctx, idleRunTimeout)
	defer cancel()
	p, err := e.startReady(ctx, t, idleMode, e.opts.idle)
	if p != nil {
		defer func() {
			if err := p.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
			}
		}()
	}
	if err != nil {
		if p != nil {
			fmt.Fprint(os.Stderr, p.logTail())
		}
		return idleResult{Err: err.Error()}
	}
	var res idleResult
	if res.BeforeKiB, err = rssKiB(p.pid()); err != nil {
		return idleResult{Err: err.Error()}
	}
	conns, err := connectIdle(ctx, connString(p.port, true), e.password, e.opts.idle)
	defer closeAll(conns)
	res.Clients = len(conns)
	if err != nil {
		res.Err = fmt.Sprintf("%d of %d clients connected: %v", len(conns), e.opts.idle, err)
		return res
	}
	if !sleepCtx(ctx, idleSettle) {
		res.Err = "interrupted"
		return res
	}
	if done, werr := p.exited(); done {
		res.Err = fmt.Sprintf("%s has exited (%v)", t, werr)
		return res
	}
	if res.AfterKiB, err = rssKiB(p.pid()); err != nil {
		res.Err = err.Error()
		return res
	}
	res.PerClientKiB = float64(res.AfterKiB-res.BeforeKiB) / float64(res.Clients)
	return res
}

// connectIdle logs n clients in over TLS with SCRAM, has each run one
// query (so every client has been served by a server connection once) and
// returns them connected. On the first failure it stops dialling and
// returns the clients connected so far with the error.
func connectIdle(ctx context.Context, connString, password string, n int) ([]*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("connection string: %w", err)
	}
	cfg.Password = password
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var (
		mu    sync.Mutex
		conns = make([]*pgconn.PgConn, 0, n)
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range min(idleDialers, n) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				c, err := connectOne(ctx, cfg)
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return conns, err
	}
	return conns, nil
}

func connectOne(ctx context.Context, cfg *pgconn.Config) (*pgconn.PgConn, error) {
	lctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	c, err := pgconn.ConnectConfig(lctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(lctx, "SELECT 1").ReadAll(); err != nil {
		c.Close(context.Background())
		return nil, fmt.Errorf("select 1: %w", err)
	}
	return c, nil
}

// closeAll disconnects the clients, a few at a time, each with a bounded
// wait for its Terminate to go out.
func closeAll(conns []*pgconn.PgConn) {
	var wg sync.WaitGroup
	ch := make(chan *pgconn.PgConn)
	for range idleDialers {
		wg.Go(func() {
			for c := range ch {
				ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
				_ = c.Close(ctx)
				cancel()
			}
		})
	}
	for _, c := range conns {
		ch <- c
	}
	close(ch)
	wg.Wait()
}

// rssKiB reads a process's resident set size from /proc/<pid>/status.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read resident memory: %w", err)
	}
	return parseVmRSS(string(b))
}

// parseVmRSS finds the "VmRSS:  1234 kB" line of a /proc/<pid>/status.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want a number of kB", strings.TrimSpace(line))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("VmRSS line %q: not a size", strings.TrimSpace(line))
		}
		return n, nil
	}
	return 0, errors.New("no VmRSS line in the process status")
}

func describeIdle(r idleResult) string {
	if r.Err != "" {
		return "error: " + r.Err
	}
	return fmt.Sprintf("RSS %d -> %d KiB, %.1f KiB per idle client", r.BeforeKiB, r.AfterKiB, r.PerClientKiB)
}

// idleStats are a row's figures over its successful runs.
type idleStats struct {
	OK              int     `json:"ok_runs"`
	Runs            int     `json:"runs"`
	MedianKiB       float64 `json:"median_kib_per_client"`
	MinKiB          float64 `json:"min_kib_per_client"`
	MaxKiB          float64 `json:"max_kib_per_client"`
	MedianAfterKiB  float64 `json:"median_rss_after_kib"`
	MedianBeforeKiB float64 `json:"median_rss_before_kib"`
}

func idleRowStats(r *idleRow) idleStats {
	st := idleStats{Runs: len(r.Runs)}
	var per, before, after []float64
	for _, x := range r.Runs {
		if x.Err != "" {
			continue
		}
		per = append(per, x.PerClientKiB)
		before = append(before, float64(x.BeforeKiB))
		after = append(after, float64(x.AfterKiB))
	}
	st.OK = len(per)
	if st.OK == 0 {
		return st
	}
	st.MedianKiB, _ = median(per)
	st.MinKiB, st.MaxKiB = minMax(per)
	st.MedianBeforeKiB, _ = median(before)
	st.MedianAfterKiB, _ = median(after)
	return st
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// idleRatio is the median over rounds of pgbun's memory per idle client
// divided by PgBouncer's, pairing the runs of the same round.
func idleRatio(rows []*idleRow) ratio {
	var num, den *idleRow
	for _, r := range rows {
		switch r.Target {
		case targetPgbun:
			num = r
		case targetPgBouncer:
			den = r
		}
	}
	if num == nil || den == nil {
		return ratio{}
	}
	var qs []float64
	for _, a := range num.Runs {
		b, ok := den.run(a.Round)
		if a.Err != "" || !ok || b.PerClientKiB <= 0 {
			continue
		}
		qs = append(qs, a.PerClientKiB/b.PerClientKiB)
	}
	m, _ := median(qs)
	return ratio{Value: m, Rounds: len(qs)}
}

// printIdle writes the idle-clients table and its summary line.
func printIdle(w io.Writer, o options, rows []*idleRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nidle clients  (%d authenticated TLS clients, pool_mode = %s, %d rounds; RSS after %s idle)\n",
		o.idle, idleMode, o.rounds, idleSettle)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tKiB/client median\tmin\tmax\tRSS before MiB\tRSS after MiB\truns\t")
	for _, r := range rows {
		st := idleRowStats(r)
		if st.OK == 0 {
			msg := "interrupted"
			for _, x := range r.Runs {
				if x.Err != "" {
					msg = oneLine(x.Err)
					break
				}
			}
			fmt.Fprintf(tw, "%s\terror\t\t\t\t\t%d/%d\t  %s\n", r.Target, st.OK, st.Runs, msg)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d/%d\t\n", r.Target, st.MedianKiB, st.MinKiB, st.MaxKiB,
			st.MedianBeforeKiB/1024, st.MedianAfterKiB/1024, st.OK, st.Runs)
	}
	tw.Flush()
	fmt.Fprintf(w, "idle clients: memory per client pgbun/pgbouncer = %s\n", fmtRatio(idleRatio(rows)))
}
