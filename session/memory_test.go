package session

import "testing"

func TestMemReleaserReleasesOncePerQuietSpell(t *testing.T) {
	const MiB = 1 << 20
	m := newMemReleaser()
	steps := []struct {
		allocs, free uint64
		want         bool
	}{
		{100 * MiB, 50 * MiB, false}, // first reading: a burst since start
		{200 * MiB, 60 * MiB, false}, // busy
		{200 * MiB, 60 * MiB, false}, // quiet, one tick
		{200*MiB + 1000, 60 * MiB, true},
		{200*MiB + 2000, 60 * MiB, false}, // released already in this spell
		{200*MiB + 3000, 60 * MiB, false},
		{300 * MiB, 70 * MiB, false}, // busy again
		{300 * MiB, 70 * MiB, false},
		{300 * MiB, 4 * MiB, false}, // quiet, but too little to give back
		{300 * MiB, 20 * MiB, true}, // the free heap grew while quiet
	}
	for i, s := range steps {
		if got := m.observe(s.allocs, s.free); got != s.want {
			t.Fatalf("step %d (%+v): got %v", i, s, got)
		}
	}
}

func TestMemReleaserReadsRuntimeMetrics(t *testing.T) {
	m := newMemReleaser()
	m.tick()
	if m.last == 0 {
		t.Fatal("no allocation figure read from runtime/metrics")
	}
}
