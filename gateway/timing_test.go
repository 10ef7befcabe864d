package gateway_test

import (
	"bufio"
	"fmt"
	"slices"
	"testing"
	"time"
)

// loginLatency times one stranger's StartupMessage until pgbun asks for a
// password, and hangs up.
func loginLatency(t *testing.T, port int, user string) time.Duration {
	t.Helper()
	c := dialFrom(t, "", port)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	pr := &probe{conn: c, r: bufio.NewReader(c)}
	began := time.Now()
	if _, err := c.Write(startupPacket(3, 0, "user", user, "database", appDB)); err != nil {
		t.Fatal(err)
	}
	code, state, msg, err := pr.authRequest()
	took := time.Since(began)
	if err != nil || code != 10 {
		t.Fatalf("%s: code %d %s %s %v", user, code, state, msg, err)
	}
	return took
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// compareLatency takes n samples of each kind, alternating so that drift
// in the machine's load falls on both, and fails when the medians differ
// by more than 10%.
func compareLatency(t *testing.T, what string, n int, a, b func(i int) time.Duration) {
	t.Helper()
	var as, bs []time.Duration
	for i := range n {
		// Each sample runs beside the previous one's teardown: take the
		// two kinds in either order equally often.
		if i%2 == 0 {
			as = append(as, a(i))
			bs = append(bs, b(i))
		} else {
			bs = append(bs, b(i))
			as = append(as, a(i))
		}
	}
	ma, mb := median(as), median(bs)
	diff := float64(ma-mb) / float64(min(ma, mb))
	t.Logf("%s: median %v known, %v unknown (%+.1f%%) over %d samples each", what, ma, mb, 100*diff, n)
	if diff > 0.10 || diff < -0.10 {
		t.Errorf("%s: known users answer in %v, unknown ones in %v: more than 10%% apart", what, ma, mb)
	}
}

// TestAuthQueryTimingTellsNothing: on the auth_query path, the time from
// StartupMessage to the password request does not tell known users from
// unknown ones, whatever the cache holds: both cached (probed, then
// waited on), a cached known user against never-seen names, and no cache
// at all; nor, for comparison, on the auth_file path.
func TestAuthQueryTimingTellsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("takes thousands of samples")
	}
	authqFixture(t)
	const n = 1000
	p := start(t, authqSetup("auth_cache_ttl", "600", "auth_negative_cache_ttl", "1"))
	// Both names probed once, then left longer than the old negative
	// lifetime: the attacker's "probe, wait, time" sequence.
	loginLatency(t, p.port, "carol")
	loginLatency(t, p.port, "nobody-cached")
	time.Sleep(1500 * time.Millisecond)
	compareLatency(t, "both cached", n,
		func(int) time.Duration { return loginLatency(t, p.port, "carol") },
		func(int) time.Duration { return loginLatency(t, p.port, "nobody-cached") })
	compareLatency(t, "known cached, unknown never seen", n,
		func(int) time.Duration { return loginLatency(t, p.port, "carol") },
		func(i int) time.Duration { return loginLatency(t, p.port, fmt.Sprintf("ghost-%d", i)) })

	f := getFixture(t)
	file := start(t, setup{userlist: fmt.Sprintf("%q %q\n", scramUser, f.scramSecret)})
	compareLatency(t, "auth_file", n,
		func(int) time.Duration { return loginLatency(t, file.port, scramUser) },
		func(i int) time.Duration { return loginLatency(t, file.port, fmt.Sprintf("stranger-%d", i)) })

	cold := start(t, authqSetup("auth_cache_ttl", "0"))
	compareLatency(t, "no cache", n,
		func(int) time.Duration { return loginLatency(t, cold.port, "carol") },
		func(i int) time.Duration { return loginLatency(t, cold.port, fmt.Sprintf("phantom-%d", i)) })
}
