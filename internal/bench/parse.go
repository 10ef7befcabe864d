//go:build linux

package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// pgbenchResult is what one pgbench run reports.
type pgbenchResult struct {
	TPS       float64 // without initial connection time
	Txns      int64   // transactions actually processed (0 when not printed)
	LatencyMs float64 // average latency (0 when not printed)
}

// parsePgbench reads pgbench's (PostgreSQL 15) summary from its standard
// output. The tps line is required; the transaction count and the latency
// are taken when present.
func parsePgbench(out string) (pgbenchResult, error) {
	var r pgbenchResult
	haveTPS, haveCount := false, false
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "tps = ") && strings.HasSuffix(line, "(without initial connection time)"):
			f, err := parseNumber(strings.TrimSuffix(strings.TrimPrefix(line, "tps = "), "(without initial connection time)"))
			if err != nil {
				return r, fmt.Errorf("pgbench tps line %q: %w", line, err)
			}
			r.TPS, haveTPS = f, true
		case strings.HasPrefix(line, "number of transactions actually processed: "):
			// With -T the count stands alone; with -t it is "done/planned".
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "number of transactions actually processed: "), "/")
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 {
				return r, fmt.Errorf("pgbench transaction count %q: not a count", line)
			}
			r.Txns, haveCount = n, true
		case strings.HasPrefix(line, "latency average = ") && strings.HasSuffix(line, " ms"):
			f, err := parseNumber(strings.TrimSuffix(strings.TrimPrefix(line, "latency average = "), " ms"))
			if err != nil {
				return r, fmt.Errorf("pgbench latency line %q: %w", line, err)
			}
			r.LatencyMs = f
		}
	}
	if !haveTPS && haveCount && r.Txns == 0 {
		// pgbench prints no rate then; it happens when connecting the
		// clients takes the whole -duration.
		return r, errors.New("pgbench completed no transaction (did connecting take the whole run?)")
	}
	if !haveTPS {
		return r, errors.New("pgbench printed no \"tps = ... (without initial connection time)\" line")
	}
	return r, nil
}

// parseNumber reads a finite, non-negative decimal.
func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("%v is not a finite non-negative number", f)
	}
	return f, nil
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat. The kernel
// reports them in USER_HZ, which is 100 on every architecture Go runs
// Linux on, whatever the kernel's internal tick rate.
const userHZ = 100

// parseProcStat returns utime+stime, in clock ticks, from the content of
// /proc/<pid>/stat. For a process (not a single thread) these sum all its
// threads. The command name in parentheses may itself hold spaces and
// parentheses, so the fields are counted from the last ')'.
func parseProcStat(s string) (uint64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	// After the name: state (field 3), ..., utime (14), stime (15).
	f := strings.Fields(s[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want at least %d", len(f), stime+1)
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: utime %q: not a count", f[utime])
	}
	st, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("proc stat: stime %q: not a count", f[stime])
	}
	if u > math.MaxUint64-st {
		return 0, errors.New("proc stat: utime+stime overflows")
	}
	return u + st, nil
}

// median returns the median of xs (the mean of the middle two for an even
// count) and false for an empty slice. xs is not modified.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m], true
	}
	return s[m-1]/2 + s[m]/2, true
}

// progress is one `pgbench -P 1` report: the second it ends at (counted
// from pgbench's start, connections included), the rate and the mean
// latency over that second.
type progress struct {
	At, TPS, LatencyMs float64
}

// parseProgress reads pgbench's progress lines from its standard error
// ("progress: 9.0 s, 2017.6 tps, lat 260.220 ms stddev 93.459, 0 failed");
// other lines are skipped.
func parseProgress(stderr string) ([]progress, error) {
	var out []progress
	for line := range strings.Lines(stderr) {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "progress: ")
		if !ok {
			continue
		}
		f := strings.Split(rest, ", ")
		if len(f) < 3 {
			return nil, fmt.Errorf("pgbench progress line %q: too few fields", line)
		}
		var p progress
		var err error
		if p.At, err = parseNumber(strings.TrimSuffix(f[0], " s")); err != nil {
			return nil, fmt.Errorf("pgbench progress line %q: time: %w", line, err)
		}
		if p.TPS, err = parseNumber(strings.TrimSuffix(f[1], " tps")); err != nil {
			return nil, fmt.Errorf("pgbench progress line %q: rate: %w", line, err)
		}
		lat, ok := strings.CutPrefix(f[2], "lat ")
		lat, _, ok2 := strings.Cut(lat, " ms")
		if !ok || !ok2 {
			return nil, fmt.Errorf("pgbench progress line %q: no latency", line)
		}
		if p.LatencyMs, err = parseNumber(lat); err != nil {
			return nil, fmt.Errorf("pgbench progress line %q: latency: %w", line, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseConnectTime reads "initial connection time = 5753.846 ms" from
// pgbench's summary, in seconds.
func parseConnectTime(out string) (float64, error) {
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "initial connection time = "); ok {
			ms, err := parseNumber(strings.TrimSuffix(v, " ms"))
			if err != nil {
				return 0, fmt.Errorf("pgbench connection time %q: %w", line, err)
			}
			return ms / 1000, nil
		}
	}
	return 0, errors.New("pgbench printed no initial connection time")
}

// steady picks the measured window from a run's progress reports: the
// whole seconds that begin at least warm after the last client connected,
// the last want of them. It fails when fewer than half of want are there
// (connecting took longer than the run allowed for).
func steady(ps []progress, connected, warm float64, want int) ([]progress, error) {
	var after []progress
	for _, p := range ps {
		// A report covers the second before p.At; the first after the
		// connections may cover less.
		if p.At-1 >= connected+warm-1e-9 {
			after = append(after, p)
		}
	}
	if len(after) > want {
		after = after[len(after)-want:]
	}
	if min := max(2, (want+1)/2); len(after) < min {
		return nil, fmt.Errorf("only %d s of steady load after %.1f s of connecting and %.0f s of warm-up; want at least %d",
			len(after), connected, warm, min)
	}
	return after, nil
}

// windowRate sums a window: its transactions, mean rate and latency
// (weighted by transactions).
func windowRate(w []progress) (txns, tps, latencyMs float64) {
	var latSum float64
	for _, p := range w {
		txns += p.TPS // one second each
		latSum += p.TPS * p.LatencyMs
	}
	if len(w) > 0 {
		tps = txns / float64(len(w))
	}
	if txns > 0 {
		latencyMs = latSum / txns
	}
	return txns, tps, latencyMs
}
