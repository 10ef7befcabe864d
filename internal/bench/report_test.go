//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// testRows are one (session, 50, plain) group: three rounds, pgbun's
// second run failed and direct's third.
func testRows() []*row {
	mk := func(t target, runs ...runResult) *row {
		return &row{Mode: "session", Clients: 50, TLS: false, Target: t, Runs: runs}
	}
	return []*row{
		mk(targetDirect,
			runResult{Round: 0, TPS: 1000, LatencyMs: 5},
			runResult{Round: 1, TPS: 1100, LatencyMs: 4},
			runResult{Round: 2, Err: "pgbench: exit status 2"}),
		mk(targetPgBouncer,
			runResult{Round: 0, TPS: 800, CPUPerTxn: 20, LatencyMs: 6},
			runResult{Round: 1, TPS: 1000, CPUPerTxn: 22, LatencyMs: 5},
			runResult{Round: 2, TPS: 900, CPUPerTxn: 21, LatencyMs: 5.5}),
		mk(targetPgbun,
			runResult{Round: 0, TPS: 880, CPUPerTxn: 30, LatencyMs: 5.8},
			runResult{Round: 1, Err: "pgbench: exit status 1"},
			runResult{Round: 2, TPS: 1080, CPUPerTxn: 21, LatencyMs: 4.6}),
	}
}

func TestRowStats(t *testing.T) {
	rows := testRows()
	st := rowStats(rows[1])
	if st.OK != 3 || st.Runs != 3 || st.MedianTPS != 900 || st.MinTPS != 800 || st.MaxTPS != 1000 ||
		st.CPUPerTxn != 21 || st.LatencyMs != 5.5 {
		t.Errorf("pgbouncer stats %+v", st)
	}
	// Failed runs count in Runs, not in the figures.
	st = rowStats(rows[2])
	if st.OK != 2 || st.Runs != 3 || st.MedianTPS != 980 || st.MinTPS != 880 || st.MaxTPS != 1080 {
		t.Errorf("pgbun stats %+v", st)
	}
	if st := rowStats(&row{}); st.OK != 0 || st.MedianTPS != 0 {
		t.Errorf("empty row stats %+v", st)
	}
}

func TestRoundRatioPairsRounds(t *testing.T) {
	rows := testRows()
	direct, bouncer, bun := rows[0], rows[1], rows[2]
	// Rounds 0 and 2 have both: 880/800 = 1.1 and 1080/900 = 1.2.
	r := roundRatio(bun, bouncer, tpsOf)
	if r.Rounds != 2 || !near(r.Value, 1.15) {
		t.Errorf("pgbun/pgbouncer = %+v, want 1.15 over 2 rounds", r)
	}
	// Only round 0 has both pgbun and direct.
	r = roundRatio(bun, direct, tpsOf)
	if r.Rounds != 1 || !near(r.Value, 0.88) {
		t.Errorf("pgbun/direct = %+v, want 0.88 over 1 round", r)
	}
	r = roundRatio(bun, bouncer, cpuOf)
	if r.Rounds != 2 || !near(r.Value, (30.0/20+1)/2) {
		t.Errorf("cpu pgbun/pgbouncer = %+v", r)
	}
	if r := roundRatio(bun, nil, tpsOf); r.Rounds != 0 {
		t.Errorf("ratio against a missing row: %+v", r)
	}
}

func TestPrintReport(t *testing.T) {
	rows := testRows()
	rows = append(rows,
		&row{Mode: "session", Clients: 300, Target: targetDirect, NA: "direct runs only up to 200 clients"},
		&row{Mode: "session", Clients: 300, Target: targetPgbun, Err: "pgbun refused a login"},
		&row{Mode: "session", Clients: 300, Target: targetPgBouncer})
	o := options{modes: []string{"session"}, duration: 5 * time.Second, rounds: 3}
	var b bytes.Buffer
	printReport(&b, o, rows)
	out := b.String()
	for _, want := range []string{
		"pool_mode = session",
		"pgbun/pgbouncer = 1.15x (median of 2 rounds)",
		"pgbun/direct = 0.88x (median of 1 rounds)",
		"direct runs only up to 200 clients",
		"pgbun refused a login",
		"round 2: pgbench: exit status 1",
		"not run",
		"session, 300 clients, tls off: pgbun/pgbouncer = n/a",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".bench")
	started := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	o := options{modes: []string{"session"}, clients: []int{50}, duration: 5 * time.Second, rounds: 3}
	path, err := writeRecord(dir, newRecord(o, started, map[string]string{"pgbench": "15"}, testRows(), testIdleRows(), false))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "results-20300102-030405.json" {
		t.Errorf("file name %s", filepath.Base(path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rows []struct {
			Target string `json:"target"`
			Stats  stats  `json:"stats"`
			Runs   []runResult
		} `json:"rows"`
		Summaries []summary `json:"summaries"`
		Idle      []struct {
			Target string    `json:"target"`
			Stats  idleStats `json:"stats"`
		} `json:"idle_clients"`
		IdleRatio ratio `json:"idle_pgbun_over_pgbouncer_kib_per_client"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rows) != 3 || got.Rows[1].Target != "pgbouncer" || got.Rows[1].Stats.MedianTPS != 900 ||
		len(got.Rows[2].Runs) != 3 {
		t.Errorf("rows: %+v", got.Rows)
	}
	if len(got.Summaries) != 1 || !near(got.Summaries[0].PgbunPgBouncer.Value, 1.15) {
		t.Errorf("summaries: %+v", got.Summaries)
	}
	if len(got.Idle) != 2 || got.Idle[0].Target != "pgbouncer" || !near(got.Idle[0].Stats.MedianKiB, 16) ||
		got.IdleRatio.Rounds != 2 {
		t.Errorf("idle: %+v, ratio %+v", got.Idle, got.IdleRatio)
	}
}

func TestFirstError(t *testing.T) {
	stderr := "pgbench: starting\npgbench: error: connection to server at \"127.0.0.1\", port 1 failed: FATAL: no\nlater\n"
	if got := firstError(stderr); !strings.HasPrefix(got, "pgbench: error: connection") {
		t.Errorf("got %q", got)
	}
	if got := firstError("a\nb\n\n"); got != "b" {
		t.Errorf("got %q, want the last line", got)
	}
	if got := firstError(strings.Repeat("x", 1000)); len(got) != errTextLimit+3 {
		t.Errorf("not clipped: %d bytes", len(got))
	}
}
