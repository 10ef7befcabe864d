//go:build linux

package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// progress1000 is pgbench 15's standard error for `-P 1 -T 15` with 1000
// TLS clients that took 6.85 s to connect (the first reports after the
// connections repeat a time and cover part of a second).
const progress1000 = `progress: 7.0 s, 0.1 tps, lat 33.302 ms stddev 0.000, 0 failed
progress: 7.0 s, 54.0 tps, lat 112.080 ms stddev 1.283, 0 failed
progress: 8.0 s, 3307.0 tps, lat 312.700 ms stddev 127.094, 0 failed
progress: 9.0 s, 4542.5 tps, lat 220.860 ms stddev 18.170, 0 failed
progress: 10.0 s, 5120.3 tps, lat 194.602 ms stddev 26.536, 0 failed
progress: 11.0 s, 5460.2 tps, lat 183.313 ms stddev 22.483, 0 failed
progress: 12.0 s, 5675.6 tps, lat 176.813 ms stddev 26.005, 0 failed
progress: 13.0 s, 6393.2 tps, lat 150.925 ms stddev 16.783, 0 failed
progress: 14.0 s, 7021.8 tps, lat 147.927 ms stddev 23.174, 0 failed
progress: 15.0 s, 6587.1 tps, lat 149.633 ms stddev 28.562, 0 failed
`

func TestParseProgress(t *testing.T) {
	ps, err := parseProgress("pgbench: warning: something\n" + progress1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 10 {
		t.Fatalf("got %d reports, want 10", len(ps))
	}
	if want := (progress{At: 8, TPS: 3307, LatencyMs: 312.7}); ps[2] != want {
		t.Errorf("third report: got %+v, want %+v", ps[2], want)
	}
	for _, bad := range []string{
		"progress: 7.0 s, 54.0 tps\n",
		"progress: x s, 54.0 tps, lat 1 ms stddev 0, 0 failed\n",
		"progress: 7.0 s, -1 tps, lat 1 ms stddev 0, 0 failed\n",
		"progress: 7.0 s, 1 tps, latency 1 ms, 0 failed\n",
	} {
		if _, err := parseProgress(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseConnectTime(t *testing.T) {
	if s, err := parseConnectTime(pgbench15T); err != nil || !near(s, 0.047236) {
		t.Fatalf("got %v, %v; want 0.047236 s", s, err)
	}
	if _, err := parseConnectTime("tps = 1 (without initial connection time)\n"); err == nil {
		t.Fatal("no connection time line: no error")
	}
}

func TestSteady(t *testing.T) {
	ps, _ := parseProgress(progress1000)
	// Connected at 6.85 s, warm-up 3 s: seconds that begin at 9.85 s or
	// later, i.e. the reports at 11 s to 15 s; the last 4 of them.
	w, err := steady(ps, 6.85, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 4 || w[0].At != 12 || w[3].At != 15 {
		t.Fatalf("window %+v, want the reports at 12..15 s", w)
	}
	// Asking for more than there is takes all that qualifies.
	if w, err := steady(ps, 6.85, 3, 8); err != nil || len(w) != 5 || w[0].At != 11 {
		t.Fatalf("window %+v, %v; want the 5 reports at 11..15 s", w, err)
	}
	// Too little left after connecting and warming up.
	if _, err := steady(ps, 12.5, 3, 10); err == nil {
		t.Fatal("no steady seconds: no error")
	}
}

func TestWindowRate(t *testing.T) {
	w := []progress{{At: 1, TPS: 100, LatencyMs: 10}, {At: 2, TPS: 300, LatencyMs: 2}}
	txns, tps, lat := windowRate(w)
	if txns != 400 || tps != 200 || !near(lat, (100*10+300*2)/400.0) {
		t.Fatalf("got %v txns, %v tps, %v ms", txns, tps, lat)
	}
}

func TestRunLength(t *testing.T) {
	// 10 s measured + 3 s warm-up + 1 s + 1000 × 10 ms of connecting.
	if got := runLength(10*time.Second, 1000, true); got != 24*time.Second {
		t.Errorf("1000 TLS clients: got %v, want 24s", got)
	}
	// 10 + 3 + 1 + 50 × 6 ms = 14.3 s, rounded up.
	if got := runLength(10*time.Second, 50, false); got != 15*time.Second {
		t.Errorf("50 plain clients: got %v, want 15s", got)
	}
}

func TestParseMachineStat(t *testing.T) {
	stat := "cpu  100 5 20 1000 7 1 2 3 0 0\ncpu0 50 2 10 500 3 0 1 1 0 0\n"
	if got, err := parseMachineStat(stat); err != nil || got != 100+5+20+1+2+3 {
		t.Fatalf("got %v, %v; want 131", got, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n", "cpu 18446744073709551615 1 0 0 0 0 0 0\n"} {
		if _, err := parseMachineStat(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCPUBetween(t *testing.T) {
	samples := []cpuSample{{at: 0, pooler: 0, machine: 0}, {at: 10, pooler: 5, machine: 20}, {at: 20, pooler: 5, machine: 30}}
	p, m, err := cpuBetween(samples, 5, 15)
	if err != nil || !near(p, 2.5) || !near(m, 15) {
		t.Fatalf("got %v, %v, %v; want 2.5, 15", p, m, err)
	}
	if _, _, err := cpuBetween(samples, 5, 25); err == nil {
		t.Fatal("end past the samples: no error")
	}
}

func TestMeasure(t *testing.T) {
	stdout := strings.Replace(pgbench15T, "initial connection time = 47.236 ms", "initial connection time = 6852.243 ms", 1)
	var samples []cpuSample
	for i := 0; i <= 16; i++ {
		// The pooler uses 0.5 s and the machine 2 s of CPU per second.
		samples = append(samples, cpuSample{at: float64(i), pooler: 0.5 * float64(i), machine: 2 * float64(i)})
	}
	res, err := measure(stdout, progress1000, samples, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	txns := 5675.6 + 6393.2 + 7021.8 + 6587.1
	if res.WindowSec != 4 || !near(res.TPS, txns/4) || res.Txns != int64(txns+0.5) || !near(res.ConnectSec, 6.852243) {
		t.Fatalf("got %+v", res)
	}
	if !near(res.CPUSec, 2) || !near(res.CPUPerTxn, 2e6/txns) || !near(res.MachinePerTxn, 8e6/txns) {
		t.Fatalf("CPU: got %+v", res)
	}
	// Samples that do not cover the window are an error, not a zero.
	if _, err := measure(stdout, progress1000, samples[:5], 4*time.Second); err == nil {
		t.Fatal("samples ending before the window: no error")
	}
}

func TestCeiling(t *testing.T) {
	r := &row{Target: targetPgBouncer, Runs: []runResult{
		// 2 CPUs: 2e6 µs/s over (250-50) µs/txn is 10000 tps, 1.25x 8000.
		{Round: 0, TPS: 8000, CPUPerTxn: 50, MachinePerTxn: 250},
		{Round: 1, Err: "failed"},
		{Round: 2, TPS: 5000, MachinePerTxn: 250}, // no CPU figure: skipped
	}}
	if c := ceiling(r, 2); c.Rounds != 1 || !near(c.Value, 1.25) {
		t.Fatalf("got %+v, want 1.25 over 1 round", c)
	}
	if c := ceiling(nil, 2); c.Rounds != 0 {
		t.Fatalf("no PgBouncer row: got %+v", c)
	}
}

func FuzzParseProgress(f *testing.F) {
	f.Add(progress1000)
	f.Add("progress: 1e308 s, 1e308 tps, lat 1e308 ms stddev 0, 0 failed\n")
	f.Add("progress: 1.0 s, 2 tps, lat  ms\n")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parseProgress(s)
		if err != nil {
			return
		}
		if len(ps) > strings.Count(s, "progress: ") {
			t.Fatalf("%d reports from %q", len(ps), s)
		}
		for _, p := range ps {
			for _, v := range []float64{p.At, p.TPS, p.LatencyMs} {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					t.Fatalf("accepted %q as %+v", s, p)
				}
			}
		}
		// Whatever was accepted gives a finite window.
		if w, err := steady(ps, 0, 0, 10); err == nil {
			txns, tps, lat := windowRate(w)
			if math.IsNaN(txns) || math.IsNaN(tps) || math.IsNaN(lat) {
				t.Fatalf("window of %+v: %v %v %v", w, txns, tps, lat)
			}
		}
	})
}

func FuzzParseMachineStat(f *testing.F) {
	f.Add("cpu  100 5 20 1000 7 1 2 3 0 0\ncpu0 50 2 10 500 3 0 1 1 0 0\n")
	f.Add("cpu 18446744073709551615 1 0 0 0 0 0 0\n")
	f.Add(" cpu 0 0 0 0 0 0 0 0")
	f.Add("cpu0 1 2 3 4 5 6 7 8\n")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseMachineStat(s); err == nil && !strings.HasPrefix(s, "cpu ") {
			t.Fatalf("accepted %q", s)
		}
	})
}
