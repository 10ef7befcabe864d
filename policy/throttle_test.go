package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
	addrC = netip.MustParseAddr("192.0.2.3")
)

// fail runs one failed login and reports Begin's error.
func fail(th *Throttle, addr netip.Addr, user string) error {
	a, err := th.Begin(addr, user)
	if err != nil {
		return err
	}
	a.Failed()
	return nil
}

func lockedErr(t *testing.T, err error) *LockedError {
	t.Helper()
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want *LockedError", err, err)
	}
	return le
}

func TestThrottleLockout(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 3, Lockout: 30 * time.Second}, clk.Now)
	for i := range 3 {
		if err := fail(th, addrA, fmt.Sprintf("user%d", i)); err != nil {
			t.Fatalf("failure %d refused: %v", i+1, err)
		}
	}
	// The address is locked: any user, even one whose password is right,
	// is refused before the password is looked at.
	_, err := th.Begin(addrA, "user9")
	le := lockedErr(t, err)
	if le.Key != KeyAddress || le.Pending || le.RetryAfter != 30*time.Second {
		t.Errorf("got %+v, want address locked for 30s", le)
	}
	if err.Error() != "too many failed logins for this address, locked for 30s" {
		t.Errorf("message %q", err)
	}
	// Other addresses are not affected.
	if a, err := th.Begin(addrB, "user9"); err != nil {
		t.Errorf("other address refused: %v", err)
	} else {
		a.Succeeded()
	}

	clk.Advance(29 * time.Second)
	_, err = th.Begin(addrA, "user9")
	if le := lockedErr(t, err); le.RetryAfter != time.Second {
		t.Errorf("RetryAfter %v, want 1s", le.RetryAfter)
	}
	clk.Advance(time.Second)
	a, err := th.Begin(addrA, "user9")
	if err != nil {
		t.Fatalf("lockout did not expire: %v", err)
	}
	a.Succeeded()
	// The offence cleared the window: a full allowance again.
	for i := range 2 {
		if err := fail(th, addrA, "x"); err != nil {
			t.Fatalf("failure %d after expiry refused: %v", i+1, err)
		}
	}
}

func TestThrottleUserLockout(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 3}, clk.Now)
	// Guesses at one account from many addresses.
	for _, addr := range []netip.Addr{addrA, addrB, addrC} {
		if err := fail(th, addr, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := th.Begin(netip.MustParseAddr("198.51.100.7"), "alice")
	if le := lockedErr(t, err); le.Key != KeyUser || le.RetryAfter != defaultLockout {
		t.Errorf("got %+v, want user locked for %v", le, defaultLockout)
	}
	// Unix-socket logins are tracked by user too.
	_, err = th.Begin(netip.Addr{}, "alice")
	if le := lockedErr(t, err); le.Key != KeyUser {
		t.Errorf("local: %+v", le)
	}
}

func TestThrottleWindow(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 3, Window: time.Minute}, clk.Now)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(fail(th, addrA, "u"))
	must(fail(th, addrA, "u"))
	clk.Advance(time.Minute) // both fall out of the window
	must(fail(th, addrA, "u"))
	must(fail(th, addrA, "u"))
	clk.Advance(59 * time.Second)
	must(fail(th, addrA, "u")) // third within a minute
	if _, err := th.Begin(addrA, "u"); err == nil {
		t.Fatal("not locked after three failures within the window")
	}
}

func TestThrottleDoublingAndCap(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 2, Lockout: 30 * time.Second, LockoutMax: 100 * time.Second}, clk.Now)
	offend := func() time.Duration {
		t.Helper()
		for range 2 {
			if err := fail(th, addrA, "u"); err != nil {
				t.Fatalf("refused while not locked: %v", err)
			}
		}
		_, err := th.Begin(addrA, "u")
		le := lockedErr(t, err)
		clk.Advance(le.RetryAfter)
		return le.RetryAfter
	}
	for i, want := range []time.Duration{30 * time.Second, 60 * time.Second, 100 * time.Second, 100 * time.Second} {
		if got := offend(); got != want {
			t.Errorf("offence %d: locked %v, want %v", i+1, got, want)
		}
	}
	locked := th.Locked()
	if len(locked) != 0 {
		t.Errorf("lockouts listed after expiry: %+v", locked)
	}
	// Just under LockoutMax without an offence: still remembered.
	clk.Advance(99 * time.Second)
	if got := offend(); got != 100*time.Second {
		t.Errorf("offence within LockoutMax: locked %v, want the cap", got)
	}
	// A full LockoutMax without one: forgotten.
	clk.Advance(100 * time.Second)
	if got := offend(); got != 30*time.Second {
		t.Errorf("offence after a quiet LockoutMax: locked %v, want 30s", got)
	}
}

func TestThrottleIPv6Slash64(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 3}, newFakeClock().Now)
	for i, s := range []string{"2001:db8:1:2::1", "2001:db8:1:2:aaaa::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"} {
		if err := fail(th, netip.MustParseAddr(s), fmt.Sprintf("u%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := th.Begin(netip.MustParseAddr("2001:db8:1:2::9%eth0"), "other")
	if le := lockedErr(t, err); le.Key != KeyAddress {
		t.Errorf("same /64: %+v", le)
	}
	if a, err := th.Begin(netip.MustParseAddr("2001:db8:1:3::1"), "other"); err != nil {
		t.Errorf("neighbouring /64 refused: %v", err)
	} else {
		a.Abandoned()
	}
	locked := th.Locked()
	if len(locked) != 1 || locked[0].Kind != KeyAddress || locked[0].Key != "2001:db8:1:2::/64" || locked[0].Failures != 3 || locked[0].Offences != 1 {
		t.Errorf("Locked() = %+v", locked)
	}
}

func TestThrottleMappedIPv4(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 2}, newFakeClock().Now)
	if err := fail(th, netip.MustParseAddr("::ffff:192.0.2.1"), "a"); err != nil {
		t.Fatal(err)
	}
	if err := fail(th, addrA, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Begin(addrA, "c"); err == nil {
		t.Error("mapped and plain IPv4 forms were counted apart")
	}
	if l := th.Locked(); len(l) != 1 || l[0].Key != "192.0.2.1" {
		t.Errorf("Locked() = %+v", l)
	}
}

func TestThrottleSuccess(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 3}, clk.Now)
	succeed := func(addr netip.Addr, user string) {
		t.Helper()
		a, err := th.Begin(addr, user)
		if err != nil {
			t.Fatal(err)
		}
		a.Succeeded()
	}
	// The owner's typos are forgiven by their own success...
	for range 2 {
		if err := fail(th, addrA, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	succeed(addrA, "alice")
	if err := fail(th, addrB, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := fail(th, addrB, "alice"); err != nil {
		t.Fatal(err)
	}
	if a, err := th.Begin(addrC, "alice"); err != nil {
		t.Fatalf("alice's own failures were not forgiven: %v", err)
	} else {
		a.Abandoned()
	}
	// ...but not failures from elsewhere: two from B remain.
	succeed(addrA, "alice")
	if err := fail(th, addrC, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Begin(addrC, "alice"); err == nil || lockedErr(t, err).Key != KeyUser {
		t.Errorf("a success from A forgave B's failures: %v", err)
	}
	// The address keeps its failures: a success with one account does
	// not reset its record of guesses at others.
	th = NewThrottle(ThrottleConfig{Failures: 3}, clk.Now)
	if err := fail(th, addrA, "mallory"); err != nil {
		t.Fatal(err)
	}
	succeed(addrA, "bob")
	if err := fail(th, addrA, "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := fail(th, addrA, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := th.Begin(addrA, "dave"); err == nil || lockedErr(t, err).Key != KeyAddress {
		t.Errorf("a success reset the address's failures: %v", err)
	}
}

func TestThrottlePendingAndAbandoned(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 2}, newFakeClock().Now)
	a1, err := th.Begin(addrA, "u")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := th.Begin(addrA, "v")
	if err != nil {
		t.Fatal(err)
	}
	_, err = th.Begin(addrA, "w")
	le := lockedErr(t, err)
	if !le.Pending || le.Key != KeyAddress || le.RetryAfter != 0 {
		t.Errorf("got %+v, want a Pending address refusal", le)
	}
	if err.Error() != "too many login attempts in progress for this address" {
		t.Errorf("message %q", err)
	}
	a1.Abandoned()
	a2.Abandoned()
	// Abandoned attempts are no failures.
	for range 10 {
		a, err := th.Begin(addrA, "u")
		if err != nil {
			t.Fatalf("abandoned attempts counted as failures: %v", err)
		}
		a.Abandoned()
	}
}

func TestThrottleEndOnce(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 2}, newFakeClock().Now)
	a, err := th.Begin(addrA, "u")
	if err != nil {
		t.Fatal(err)
	}
	a.Failed()
	a.Failed()
	a.Succeeded()
	a.Abandoned()
	b, err := th.Begin(addrA, "u")
	if err != nil {
		t.Fatalf("a repeated Failed counted twice: %v", err)
	}
	b.Failed()
	if _, err := th.Begin(addrA, "u"); err == nil {
		t.Error("not locked after two failures")
	}
	r, _ := th.addrs.Peek(netip.PrefixFrom(addrA, 32))
	if r.inFlight != 0 {
		t.Errorf("inFlight %d after all attempts ended", r.inFlight)
	}
}
