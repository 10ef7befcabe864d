//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"
)

// testIdleRows are two rounds of both poolers; pgbun's second round failed
// and PgBouncer has a third round pgbun lacks.
func testIdleRows() []*idleRow {
	return []*idleRow{
		{Target: targetPgBouncer, Runs: []idleResult{
			{Round: 0, Clients: 1000, BeforeKiB: 2000, AfterKiB: 18000, PerClientKiB: 16},
			{Round: 1, Clients: 1000, BeforeKiB: 2000, AfterKiB: 17000, PerClientKiB: 15},
			{Round: 2, Clients: 1000, BeforeKiB: 2000, AfterKiB: 19000, PerClientKiB: 17},
		}},
		{Target: targetPgbun, Runs: []idleResult{
			{Round: 0, Clients: 1000, BeforeKiB: 9000, AfterKiB: 17000, PerClientKiB: 8},
			{Round: 1, Clients: 412, Err: "412 of 1000 clients connected: refused"},
			{Round: 2, Clients: 1000, BeforeKiB: 9000, AfterKiB: 21000, PerClientKiB: 12},
		}},
	}
}

func TestIdleRatioPairsRounds(t *testing.T) {
	// Round 0: 8/16 = 0.5; round 1 failed; round 2: 12/17.
	r := idleRatio(testIdleRows())
	if r.Rounds != 2 || !near(r.Value, (0.5+12.0/17)/2) {
		t.Errorf("got %+v", r)
	}
	if r := idleRatio(testIdleRows()[:1]); r.Rounds != 0 {
		t.Errorf("one pooler: got %+v, want no ratio", r)
	}
}

func TestIdleRowStats(t *testing.T) {
	st := idleRowStats(testIdleRows()[1])
	if st.OK != 2 || st.Runs != 3 || !near(st.MedianKiB, 10) || st.MinKiB != 8 || st.MaxKiB != 12 {
		t.Errorf("got %+v", st)
	}
}

func TestPrintIdle(t *testing.T) {
	var b bytes.Buffer
	printIdle(&b, options{idle: 1000, rounds: 3}, testIdleRows())
	out := b.String()
	for _, want := range []string{
		"1000 authenticated TLS clients",
		"pgbouncer",
		"16.0",
		"2/3",
		"memory per client pgbun/pgbouncer = 0.60x (median of 2 rounds)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printIdle(&b, options{}, nil)
	if b.Len() != 0 {
		t.Errorf("nothing measured, printed %q", b.String())
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tpgbun\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 100 kB\n"
	if got, err := parseVmRSS(status); err != nil || got != 12345 {
		t.Errorf("got %d, %v", got, err)
	}
	for _, bad := range []string{"", "Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\t-4 kB\n", "VmRSS:\n"} {
		if _, err := parseVmRSS(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add("VmRSS:\t   12345 kB\n")
	f.Add("Name:\tx\nVmRSS: 1 kB")
	f.Add("VmRSS:\t99999999999999999999 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseVmRSS(s)
		if err == nil && n < 0 {
			t.Fatalf("%q: negative size %d", s, n)
		}
	})
}
