//go:build linux

package main

import (
	"math"
	"strings"
	"testing"
)

// pgbench15T is pgbench 15's output for a -T run.
const pgbench15T = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 75806
number of failed transactions: 0 (0.000%)
latency average = 0.104 ms
initial connection time = 47.236 ms
tps = 38627.300512 (without initial connection time)
`

func TestParsePgbench(t *testing.T) {
	r, err := parsePgbench(pgbench15T)
	if err != nil {
		t.Fatal(err)
	}
	want := pgbenchResult{TPS: 38627.300512, Txns: 75806, LatencyMs: 0.104}
	if r != want {
		t.Fatalf("got %+v, want %+v", r, want)
	}

	// With -t the count reads "done/planned".
	withT := strings.Replace(pgbench15T, "processed: 75806", "processed: 20/20", 1)
	if r, err := parsePgbench(withT); err != nil || r.Txns != 20 {
		t.Fatalf("-t output: got %+v, %v; want 20 transactions", r, err)
	}
}

func TestParsePgbenchNoTransactions(t *testing.T) {
	// pgbench 15 when connecting took the whole -T: no latency, no tps.
	out := `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
duration: 1 s
number of transactions actually processed: 0
number of failed transactions: 0 (NaN%)
`
	_, err := parsePgbench(out)
	if err == nil || !strings.Contains(err.Error(), "no transaction") {
		t.Fatalf("got %v, want an error saying no transaction completed", err)
	}
}

func TestParsePgbenchErrors(t *testing.T) {
	for name, out := range map[string]string{
		"empty":      "",
		"aborted":    "pgbench: error: connection to server failed\n",
		"older tps":  "tps = 100.0 (including connections establishing)\n",
		"bad tps":    "tps = fast (without initial connection time)\n",
		"nan tps":    "tps = NaN (without initial connection time)\n",
		"negative":   "tps = -3 (without initial connection time)\n",
		"bad count":  strings.Replace(pgbench15T, "75806", "many", 1),
		"bad latncy": strings.Replace(pgbench15T, "0.104 ms", "x ms", 1),
	} {
		if r, err := parsePgbench(out); err == nil {
			t.Errorf("%s: parsed %+v, want an error", name, r)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 1234 and 56. The command name
	// holds a space and a parenthesis, as a process may name itself.
	stat := "4242 (pg bun) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 56 0 0 20 0 9 0 100 1000000 500 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseProcStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1234+56 {
		t.Fatalf("got %d ticks, want %d", got, 1234+56)
	}
	for name, bad := range map[string]string{
		"no name":     "4242 pgbun S 1 2 3",
		"short":       "4242 (pgbun) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234",
		"bad utime":   "4242 (pgbun) S 1 4242 4242 0 -1 4194560 1000 0 0 0 x 56 0 0",
		"bad stime":   "4242 (pgbun) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1 -5 0 0",
		"overflowing": "4242 (pgbun) S 1 4242 4242 0 -1 4194560 1000 0 0 0 18446744073709551615 1 0 0",
	} {
		if n, err := parseProcStat(bad); err == nil {
			t.Errorf("%s: got %d, want an error", name, n)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{math.MaxFloat64, math.MaxFloat64}, math.MaxFloat64},
	} {
		in := append([]float64(nil), c.in...)
		got, ok := median(in)
		if !ok || got != c.want {
			t.Errorf("median(%v) = %v, %v; want %v", c.in, got, ok, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median reordered its input: %v", in)
			}
		}
	}
	if _, ok := median(nil); ok {
		t.Error("median of nothing reported a value")
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb", 5, "a\nb\n"},
	} {
		if got := lastLines(c.in, c.n); got != c.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func FuzzParsePgbench(f *testing.F) {
	f.Add(pgbench15T)
	f.Add("tps = 1e308 (without initial connection time)\n")
	f.Add("number of transactions actually processed: 1/2/3\ntps = 0 (without initial connection time)")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parsePgbench(out)
		if err != nil {
			return
		}
		if math.IsNaN(r.TPS) || math.IsInf(r.TPS, 0) || r.TPS < 0 || r.Txns < 0 ||
			math.IsNaN(r.LatencyMs) || math.IsInf(r.LatencyMs, 0) || r.LatencyMs < 0 {
			t.Fatalf("accepted %q as %+v", out, r)
		}
		if !strings.Contains(out, "(without initial connection time)") {
			t.Fatalf("accepted %q without a tps line", out)
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Add("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 1 2 3")
	f.Add("7 (a) b)) R 1 1 1 0 -1 0 0 0 0 0 18446744073709551615 0")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseProcStat(s)
		if err != nil {
			return
		}
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			t.Fatalf("accepted %q (%d) without a command name", s, n)
		}
		if len(strings.Fields(s[i+1:])) < 13 {
			t.Fatalf("accepted %q (%d) with too few fields", s, n)
		}
	})
}
