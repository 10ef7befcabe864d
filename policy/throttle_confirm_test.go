package policy

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// Attempts that begin a login and never answer must not lock the user
// out: only the address they come from is held back.
func TestThrottleInFlightDoesNotLockUser(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 5}, newFakeClock().Now)
	for i := range 5 {
		if _, err := th.Begin(addrA, "alice"); err != nil { // never ended
			t.Fatalf("attempt %d from A refused: %v", i+1, err)
		}
	}
	if n := th.users.Len(); n != 0 {
		t.Errorf("%d users tracked with no failure recorded, want 0", n)
	}

	// Another address logs in as the same user at once.
	a, err := th.Begin(addrB, "alice")
	if err != nil {
		t.Fatalf("attempts in flight from A kept alice out from B: %v", err)
	}
	if err := a.Confirm(); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	a.Succeeded()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err = th.BeginWait(ctx, netip.Addr{}, "alice")
	if err != nil || ctx.Err() != nil {
		t.Fatalf("BeginWait over the Unix socket: %v (waited: %v)", err, ctx.Err())
	}
	a.Succeeded()

	// A itself is still held back by its own attempts in flight.
	_, err = th.Begin(addrA, "bob")
	if le := lockedErr(t, err); !le.Pending || le.Key != KeyAddress {
		t.Errorf("got %+v, want a Pending address refusal", le)
	}
	if l := th.Locked(); len(l) != 0 {
		t.Errorf("Locked() = %+v, want nothing", l)
	}
}

// Failures spread over several addresses lock the user out everywhere,
// even while attempts are in flight.
func TestThrottleUserLockoutAcrossAddresses(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 5}, newFakeClock().Now)
	idle, err := th.Begin(addrA, "alice") // in flight throughout
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Abandoned()
	for i := range 5 {
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		if err := fail(th, addr, "alice"); err != nil {
			t.Fatalf("failure %d refused: %v", i+1, err)
		}
	}
	for _, addr := range []netip.Addr{addrB, netip.MustParseAddr("2001:db8::1"), {}} {
		_, err := th.Begin(addr, "alice")
		if le := lockedErr(t, err); le.Key != KeyUser || le.Pending || le.RetryAfter != defaultLockout {
			t.Errorf("from %v: got %+v, want alice locked for %v", addr, le, defaultLockout)
		}
	}
	// No address failed often enough to be locked itself.
	if a, err := th.Begin(netip.AddrFrom4([4]byte{198, 51, 100, 1}), "bob"); err != nil {
		t.Errorf("an address with one failure refused: %v", err)
	} else {
		a.Abandoned()
	}
	if l := th.Locked(); len(l) != 1 || l[0].Kind != KeyUser || l[0].Key != "alice" || l[0].Failures != 5 {
		t.Errorf("Locked() = %+v", l)
	}
}

// Confirm refuses an attempt whose user was locked out after Begin
// admitted it, and ends it without counting it.
func TestThrottleConfirmUserLockedMeanwhile(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 5}, newFakeClock().Now)
	addrZ := netip.MustParseAddr("203.0.113.9")
	x, err := th.Begin(addrZ, "alice")
	if err != nil {
		t.Fatal(err)
	}
	other, err := th.Begin(addrZ, "carol")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		if err := fail(th, addr, "alice"); err != nil {
			t.Fatalf("failure %d refused: %v", i+1, err)
		}
	}

	err = x.Confirm()
	if le := lockedErr(t, err); le.Key != KeyUser || le.Pending || le.RetryAfter != defaultLockout {
		t.Errorf("Confirm: got %+v, want alice locked for %v", le, defaultLockout)
	}
	// The refusal ended the attempt: what the gateway reports afterwards
	// changes nothing.
	x.Failed()
	x.Succeeded()
	if err := x.Confirm(); err != nil {
		t.Errorf("Confirm of an ended attempt: %v", err)
	}
	ur, _ := th.users.Peek("alice")
	if ur.total != 5 {
		t.Errorf("alice has %d failures, want 5: the refused attempt was counted", ur.total)
	}
	zr, ok := th.addrs.Peek(netip.PrefixFrom(addrZ, 32))
	if !ok || zr.inFlight != 1 || len(zr.failures) != 0 {
		t.Errorf("address Z: %+v %v, want one attempt in flight and no failure", zr, ok)
	}

	// An attempt nothing happened to goes on.
	if err := other.Confirm(); err != nil {
		t.Errorf("Confirm with no lockout: %v", err)
	}
	other.Failed()
	if cr, ok := th.users.Peek("carol"); !ok || cr.total != 1 {
		t.Errorf("carol: %+v %v, want one failure after Confirm passed", cr, ok)
	}
	if zr.inFlight != 0 || len(zr.failures) != 1 {
		t.Errorf("address Z: %+v, want no attempt in flight and one failure", zr)
	}
}

// Confirm also refuses an attempt whose address was locked out meanwhile,
// which takes a lower limit than the one it was admitted under.
func TestThrottleConfirmAddressLockedMeanwhile(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 3}, newFakeClock().Now)
	x, err := th.Begin(addrA, "alice")
	if err != nil {
		t.Fatal(err)
	}
	y, err := th.Begin(addrA, "bob")
	if err != nil {
		t.Fatal(err)
	}
	th.SetConfig(ThrottleConfig{Failures: 1})
	y.Failed()
	if le := lockedErr(t, x.Confirm()); le.Key != KeyAddress || le.Pending {
		t.Errorf("Confirm: got %+v, want the address locked", le)
	}
	if ar, _ := th.addrs.Peek(netip.PrefixFrom(addrA, 32)); ar.inFlight != 0 || ar.total != 1 {
		t.Errorf("address A: %+v", ar)
	}
}

func TestThrottleConfirmNil(t *testing.T) {
	var none *Attempt
	if err := none.Confirm(); err != nil {
		t.Errorf("nil Attempt: %v", err)
	}
	var nilThrottle *Throttle
	a, _ := nilThrottle.Begin(addrA, "u")
	if err := a.Confirm(); err != nil {
		t.Errorf("nil Throttle: %v", err)
	}
	off := NewThrottle(ThrottleConfig{}, newFakeClock().Now)
	a, _ = off.Begin(addrA, "u")
	if err := a.Confirm(); err != nil {
		t.Errorf("Throttle that is off: %v", err)
	}
}

// Failures = 0 switches the throttle off: nothing is refused or recorded.
func TestThrottleOff(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 0, MaxEntries: 10}, clk.Now)
	var inFlight []*Attempt
	for i := range 100 {
		a, err := th.BeginWait(context.Background(), addrA, "alice")
		if err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		if err := a.Confirm(); err != nil {
			t.Fatalf("attempt %d not confirmed: %v", i+1, err)
		}
		if i%2 == 0 {
			a.Failed()
		} else {
			inFlight = append(inFlight, a)
		}
	}
	if l := th.Locked(); len(l) != 0 {
		t.Errorf("Locked() = %+v with the throttle off", l)
	}
	if th.addrs.Len() != 0 || th.users.Len() != 0 {
		t.Errorf("%d addresses, %d users tracked with the throttle off", th.addrs.Len(), th.users.Len())
	}

	// Switched on at run time, it counts from then on; attempts admitted
	// while it was off end without effect.
	th.SetConfig(ThrottleConfig{Failures: 3})
	for _, a := range inFlight {
		a.Failed()
	}
	for i := range 3 {
		if err := fail(th, addrA, "alice"); err != nil {
			t.Fatalf("failure %d refused: %v", i+1, err)
		}
	}
	if _, err := th.Begin(addrB, "alice"); err == nil || lockedErr(t, err).Key != KeyUser {
		t.Errorf("three failures with Failures=3 did not lock alice: %v", err)
	}

	// Switched off again, it lets everybody in, and switched back on it
	// starts afresh.
	th.SetConfig(ThrottleConfig{Failures: -1})
	for i := range 10 {
		if err := fail(th, addrA, "alice"); err != nil {
			t.Fatalf("attempt %d refused with the throttle off: %v", i+1, err)
		}
	}
	if l := th.Locked(); len(l) != 0 {
		t.Errorf("Locked() = %+v with the throttle off", l)
	}
	th.SetConfig(ThrottleConfig{Failures: 3})
	a, err := th.Begin(addrA, "alice")
	if err != nil {
		t.Fatalf("old lockout enforced after switching off and on: %v", err)
	}
	a.Abandoned()
}

// Switching the throttle off wakes BeginWait callers held back by attempts
// in flight, and an attempt begun before that brings no old record back.
func TestThrottleOffReleasesWaiters(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 2}, newFakeClock().Now)
	if err := fail(th, addrA, "alice"); err != nil {
		t.Fatal(err)
	}
	held, err := th.Begin(addrA, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		a, err := th.BeginWait(context.Background(), addrA, "alice")
		if err == nil {
			a.Succeeded()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("BeginWait returned while held back: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	th.SetConfig(ThrottleConfig{})
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("BeginWait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("switching the throttle off did not release BeginWait")
	}
	th.SetConfig(ThrottleConfig{Failures: 2})
	held.Failed() // one fresh failure, not a second one on the old record
	if a, err := th.Begin(addrA, "alice"); err != nil {
		t.Errorf("the failure before switching off was kept: %v", err)
	} else {
		a.Abandoned()
	}
}

// Addresses and users that end up with nothing worth remembering are not
// kept; those with failures or offences are.
func TestThrottleDropsIdleRecords(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 3, Window: time.Minute, Lockout: time.Minute, LockoutMax: 10 * time.Minute}, clk.Now)
	for i := range 1000 {
		addr := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		a, err := th.Begin(addr, fmt.Sprintf("stranger%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			a.Succeeded()
		} else {
			a.Abandoned()
		}
	}
	if th.addrs.Len() != 0 || th.users.Len() != 0 {
		t.Errorf("%d addresses, %d users kept after attempts that never failed", th.addrs.Len(), th.users.Len())
	}

	// A user's own typos are forgiven by its success, and then nothing is
	// left of it; the address keeps its failure.
	if err := fail(th, addrA, "alice"); err != nil {
		t.Fatal(err)
	}
	a, err := th.Begin(addrA, "alice")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded()
	if _, ok := th.users.Peek("alice"); ok {
		t.Error("alice kept with nothing left to remember")
	}
	if _, ok := th.addrs.Peek(netip.PrefixFrom(addrA, 32)); !ok {
		t.Error("address A forgotten with a failure in the window")
	}

	// A failure out of the window and no offence: dropped at the next end.
	clk.Advance(time.Minute)
	a, err = th.Begin(addrA, "alice")
	if err != nil {
		t.Fatal(err)
	}
	a.Abandoned()
	if _, ok := th.addrs.Peek(netip.PrefixFrom(addrA, 32)); ok {
		t.Error("address A kept after its failure left the window")
	}

	// Offences are remembered for LockoutMax after the lockout ended.
	for range 3 {
		if err := fail(th, addrB, "bob"); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute) // the lockout ends
	a, err = th.Begin(addrB, "bob")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded()
	if _, ok := th.addrs.Peek(netip.PrefixFrom(addrB, 32)); !ok {
		t.Error("address B forgotten with its offence still remembered")
	}
	if _, ok := th.users.Peek("bob"); !ok {
		t.Error("bob forgotten with his offence still remembered")
	}
	clk.Advance(10 * time.Minute)
	a, err = th.Begin(addrB, "bob")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded()
	if th.addrs.Len() != 0 || th.users.Len() != 0 {
		t.Errorf("%d addresses, %d users kept after the offences were forgotten", th.addrs.Len(), th.users.Len())
	}
}

// Many addresses guessing at one user at once, each confirming before its
// check: the books balance, and the user ends up locked out.
func TestThrottleConcurrentConfirm(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 5}, newFakeClock().Now)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := netip.AddrFrom4([4]byte{10, 2, byte(i % 20), 1})
			a, err := th.BeginWait(context.Background(), addr, "alice")
			if err != nil {
				if le := lockedErr(t, err); le.Pending {
					t.Errorf("BeginWait returned a Pending refusal: %+v", le)
				}
				return
			}
			if err := a.Confirm(); err != nil {
				if le := lockedErr(t, err); le.Pending {
					t.Errorf("Confirm returned a Pending refusal: %+v", le)
				}
			}
			a.Failed()
		}()
	}
	wg.Wait()
	if _, err := th.Begin(addrB, "alice"); err == nil || lockedErr(t, err).Key != KeyUser {
		t.Errorf("alice not locked out: %v", err)
	}
	for _, k := range th.addrs.Keys() {
		if r, _ := th.addrs.Peek(k); r.inFlight != 0 {
			t.Errorf("%v: %d attempts in flight after all ended", k, r.inFlight)
		}
	}
}
