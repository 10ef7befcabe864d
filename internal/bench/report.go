//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// stats are a row's figures over its successful runs.
type stats struct {
	OK        int     `json:"ok_runs"`
	Runs      int     `json:"runs"`
	MedianTPS float64 `json:"median_tps"`
	MinTPS    float64 `json:"min_tps"`
	MaxTPS    float64 `json:"max_tps"`
	CPUPerTxn float64 `json:"median_cpu_us_per_txn,omitempty"`
	Machine   float64 `json:"median_machine_cpu_us_per_txn,omitempty"`
	LatencyMs float64 `json:"median_latency_ms"`
}

func rowStats(r *row) stats {
	st := stats{Runs: len(r.Runs)}
	var tps, cpu, machine, lat []float64
	for _, x := range r.Runs {
		if x.Err != "" {
			continue
		}
		tps = append(tps, x.TPS)
		lat = append(lat, x.LatencyMs)
		if x.CPUPerTxn > 0 {
			cpu = append(cpu, x.CPUPerTxn)
		}
		if x.MachinePerTxn > 0 {
			machine = append(machine, x.MachinePerTxn)
		}
	}
	st.OK = len(tps)
	if st.OK == 0 {
		return st
	}
	st.MedianTPS, _ = median(tps)
	st.MinTPS, st.MaxTPS = slices.Min(tps), slices.Max(tps)
	st.CPUPerTxn, _ = median(cpu)
	st.Machine, _ = median(machine)
	st.LatencyMs, _ = median(lat)
	return st
}

// ratio is the median over rounds of num's tps divided by den's, using the
// rounds where both succeeded.
type ratio struct {
	Value  float64 `json:"value,omitempty"`
	Rounds int     `json:"rounds"`
}

func roundRatio(num, den *row, value func(runResult) float64) ratio {
	if num == nil || den == nil {
		return ratio{}
	}
	var qs []float64
	for _, a := range num.Runs {
		if a.Err != "" {
			continue
		}
		b, ok := den.run(a.Round)
		if !ok || value(b) <= 0 {
			continue
		}
		qs = append(qs, value(a)/value(b))
	}
	m, _ := median(qs)
	return ratio{Value: m, Rounds: len(qs)}
}

func tpsOf(r runResult) float64 { return r.TPS }
func cpuOf(r runResult) float64 { return r.CPUPerTxn }

// summary compares the targets at one (mode, clients, tls).
type summary struct {
	Mode            string `json:"mode"`
	Clients         int    `json:"clients"`
	TLS             bool   `json:"tls"`
	PgbunPgBouncer  ratio  `json:"pgbun_over_pgbouncer_tps"`
	PgbunDirect     ratio  `json:"pgbun_over_direct_tps"`
	PgBouncerDirect ratio  `json:"pgbouncer_over_direct_tps"`
	CPUPgbunBouncer ratio  `json:"pgbun_over_pgbouncer_cpu_per_txn"`
	// Ceiling is the most any pooler could reach over PgBouncer here: the
	// rate if the pooler's CPU time were free and the rest of the
	// machine's cost per transaction stayed as in PgBouncer's runs.
	Ceiling ratio `json:"zero_cost_pooler_over_pgbouncer_tps"`
}

// ceiling is the median over PgBouncer's runs of the rate a pooler using
// no CPU would reach, relative to PgBouncer's: the machine's capacity
// divided by what PostgreSQL, pgbench and the kernel spent per
// transaction, over PgBouncer's rate.
func ceiling(bouncer *row, cpus int) ratio {
	if bouncer == nil {
		return ratio{}
	}
	var qs []float64
	for _, x := range bouncer.Runs {
		rest := x.MachinePerTxn - x.CPUPerTxn
		if x.Err != "" || x.TPS <= 0 || x.CPUPerTxn <= 0 || rest <= 0 {
			continue
		}
		qs = append(qs, float64(cpus)*1e6/rest/x.TPS)
	}
	m, _ := median(qs)
	return ratio{Value: m, Rounds: len(qs)}
}

// summarize groups rows by (mode, clients, tls), in the order they ran.
func summarize(rows []*row) []summary {
	type group struct {
		mode    string
		clients int
		tls     bool
	}
	var order []group
	byTarget := map[group]map[target]*row{}
	for _, r := range rows {
		g := group{r.Mode, r.Clients, r.TLS}
		if byTarget[g] == nil {
			byTarget[g] = map[target]*row{}
			order = append(order, g)
		}
		byTarget[g][r.Target] = r
	}
	var out []summary
	for _, g := range order {
		m := byTarget[g]
		out = append(out, summary{
			Mode: g.mode, Clients: g.clients, TLS: g.tls,
			PgbunPgBouncer:  roundRatio(m[targetPgbun], m[targetPgBouncer], tpsOf),
			PgbunDirect:     roundRatio(m[targetPgbun], m[targetDirect], tpsOf),
			PgBouncerDirect: roundRatio(m[targetPgBouncer], m[targetDirect], tpsOf),
			CPUPgbunBouncer: roundRatio(m[targetPgbun], m[targetPgBouncer], cpuOf),
			Ceiling:         ceiling(m[targetPgBouncer], runtime.NumCPU()),
		})
	}
	return out
}

// printReport writes one table per mode, then the summary lines.
func printReport(w io.Writer, o options, rows []*row) {
	for _, mode := range o.modes {
		var mrows []*row
		for _, r := range rows {
			if r.Mode == mode {
				mrows = append(mrows, r)
			}
		}
		if len(mrows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\npool_mode = %s  (pgbench -S, %s measured per run, %d rounds; pool %s)\n",
			mode, o.duration, o.rounds, poolDescription(mode, o.pool))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "clients\ttls\ttarget\ttps median\tmin\tmax\tlatency ms\tcpu µs/txn\tmachine µs/txn\truns\t")
		for _, r := range sortedRows(mrows) {
			st := rowStats(r)
			switch {
			case r.NA != "":
				fmt.Fprintf(tw, "%d\t%s\t%s\tn/a\t\t\t\t\t\t\t  %s\n", r.Clients, onOff(r.TLS), r.Target, r.NA)
				continue
			case r.Err == "" && len(r.Runs) == 0:
				fmt.Fprintf(tw, "%d\t%s\t%s\tnot run\t\t\t\t\t\t\t  interrupted\n", r.Clients, onOff(r.TLS), r.Target)
				continue
			case st.OK == 0:
				fmt.Fprintf(tw, "%d\t%s\t%s\terror\t\t\t\t\t\t%d/%d\t  %s\n", r.Clients, onOff(r.TLS), r.Target,
					st.OK, st.Runs, rowError(r))
				continue
			}
			cpu := "-"
			if st.CPUPerTxn > 0 {
				cpu = fmt.Sprintf("%.1f", st.CPUPerTxn)
			}
			machine := "-"
			if st.Machine > 0 {
				machine = fmt.Sprintf("%.0f", st.Machine)
			}
			note := ""
			if r.failed() {
				note = "  " + rowError(r)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.2f\t%s\t%s\t%d/%d\t%s\n", r.Clients, onOff(r.TLS), r.Target,
				st.MedianTPS, st.MinTPS, st.MaxTPS, st.LatencyMs, cpu, machine, st.OK, st.Runs, note)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, s := range summarize(rows) {
		fmt.Fprintf(w, "%s, %d clients, tls %s: pgbun/pgbouncer = %s, pgbun/direct = %s; cpu per txn pgbun/pgbouncer = %s; a pooler using no CPU: at most %s\n",
			s.Mode, s.Clients, onOff(s.TLS), fmtRatio(s.PgbunPgBouncer), fmtRatio(s.PgbunDirect), fmtRatio(s.CPUPgbunBouncer), fmtCeiling(s.Ceiling))
	}
}

func poolDescription(mode string, pool int) string {
	if mode == "session" {
		return fmt.Sprintf("clients+%d", sessionPoolExtra)
	}
	return fmt.Sprint(pool)
}

func fmtRatio(r ratio) string {
	if r.Rounds == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx (median of %d rounds)", r.Value, r.Rounds)
}

func fmtCeiling(r ratio) string {
	if r.Rounds == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", r.Value)
}

// rowError is the row's first error.
func rowError(r *row) string {
	if r.Err != "" {
		return oneLine(r.Err)
	}
	for _, x := range r.Runs {
		if x.Err != "" {
			return fmt.Sprintf("round %d: %s", x.Round+1, oneLine(x.Err))
		}
	}
	return ""
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return clip(s)
}

// sortedRows orders rows by clients, then plain before TLS, then target in
// canonical order.
func sortedRows(rows []*row) []*row {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b *row) int {
		if a.Clients != b.Clients {
			return a.Clients - b.Clients
		}
		if a.TLS != b.TLS {
			if !a.TLS {
				return -1
			}
			return 1
		}
		return slices.Index(allTargets, a.Target) - slices.Index(allTargets, b.Target)
	})
	return out
}

// record is the JSON written to the results directory.
type record struct {
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	Interrupted bool              `json:"interrupted,omitempty"`
	Settings    map[string]any    `json:"settings"`
	Versions    map[string]string `json:"versions"`
	Rows        []recordRow       `json:"rows"`
	Summaries   []summary         `json:"summaries"`
	Idle        []recordIdleRow   `json:"idle_clients,omitempty"`
	IdleRatio   *ratio            `json:"idle_pgbun_over_pgbouncer_kib_per_client,omitempty"`
}

type recordIdleRow struct {
	*idleRow
	Stats idleStats `json:"stats"`
}

type recordRow struct {
	*row
	Stats stats `json:"stats"`
}

func newRecord(o options, started time.Time, versions map[string]string, rows []*row, idle []*idleRow,
	interrupted bool) record {
	rec := record{
		Started: started.UTC(), Finished: time.Now().UTC(), Interrupted: interrupted,
		Settings: map[string]any{
			"duration_s": o.duration.Seconds(), "rounds": o.rounds, "clients": o.clients, "modes": o.modes,
			"scale": o.scale, "tls": o.tls, "pool": o.pool, "targets": o.only,
			"max_connections": maxConnections, "session_pool": "clients+" + fmt.Sprint(sessionPoolExtra),
			"idle_clients": o.idle,
		},
		Versions:  versions,
		Summaries: summarize(rows),
	}
	for _, r := range rows {
		rec.Rows = append(rec.Rows, recordRow{row: r, Stats: rowStats(r)})
	}
	for _, r := range idle {
		rec.Idle = append(rec.Idle, recordIdleRow{idleRow: r, Stats: idleRowStats(r)})
	}
	if len(idle) > 0 {
		r := idleRatio(idle)
		rec.IdleRatio = &r
	}
	return rec
}

// writeRecord writes rec to dir/results-<timestamp>.json and returns the
// path.
func writeRecord(dir string, rec record) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results directory: %w", err)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode results: %w", err)
	}
	path := filepath.Join(dir, "results-"+rec.Started.Format("20060102-150405")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write results: %w", err)
	}
	return path, nil
}
