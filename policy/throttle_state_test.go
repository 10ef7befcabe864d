package policy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestThrottleConcurrentBegin(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 5}, clk.Now)
	var fromA, fromOthers atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	attempts := make(chan *Attempt, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Half share the address and user, half only the user: the
			// address limit must hold, and attempts in flight must not
			// count against the user.
			addr := addrA
			if i%2 == 1 {
				addr = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			}
			a, err := th.Begin(addr, "alice")
			if err != nil {
				if le := lockedErr(t, err); !le.Pending || le.Key != KeyAddress {
					t.Errorf("refusal %+v is not a Pending address refusal", le)
				}
				return
			}
			if addr == addrA {
				fromA.Add(1)
			} else {
				fromOthers.Add(1)
			}
			attempts <- a
		}()
	}
	close(start)
	wg.Wait()
	close(attempts)
	// No attempt ends before all have begun, so exactly the limit gets in
	// from the shared address, and every attempt from the others.
	if n := fromA.Load(); n != 5 {
		t.Fatalf("%d attempts admitted from one address, want 5", n)
	}
	if n := fromOthers.Load(); n != 50 {
		t.Fatalf("%d attempts admitted from distinct addresses, want 50", n)
	}
	for a := range attempts {
		a.Failed()
	}
	if _, err := th.Begin(addrB, "alice"); err == nil || lockedErr(t, err).Pending {
		t.Errorf("five failures did not lock the user: %v", err)
	}
}

func TestThrottleBoundedMemory(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 5, MaxEntries: 100}, newFakeClock().Now)
	for i := range 10000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		a, err := th.Begin(addr, fmt.Sprintf("user%d", i))
		if err != nil {
			t.Fatal(err)
		}
		a.Failed()
	}
	if n := th.addrs.Len(); n > 100 {
		t.Errorf("%d addresses tracked, want <= 100", n)
	}
	if n := th.users.Len(); n > 100 {
		t.Errorf("%d users tracked, want <= 100", n)
	}
}

func TestThrottleBeginWait(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 1}, newFakeClock().Now)
	a1, err := th.Begin(addrA, "u")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		a, err := th.BeginWait(context.Background(), addrA, "u")
		if err == nil {
			a.Succeeded()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("BeginWait returned while an attempt was in flight: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	a1.Abandoned()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("BeginWait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BeginWait did not wake up")
	}

	// A context that ends returns the refusal.
	a3, err := th.Begin(addrA, "u")
	if err != nil {
		t.Fatal(err)
	}
	defer a3.Abandoned()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := th.BeginWait(ctx, addrA, "u"); err == nil || !lockedErr(t, err).Pending {
		t.Errorf("BeginWait after ctx end: %v", err)
	}
	// A lockout is returned at once, not waited for.
	a3.Failed()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := th.BeginWait(ctx2, addrA, "u"); err == nil || lockedErr(t, err).Pending || ctx2.Err() != nil {
		t.Errorf("BeginWait on a lockout: %v", err)
	}
}

func TestThrottleEvictedRecordReturns(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 3, MaxEntries: 2}, newFakeClock().Now)
	a, err := th.Begin(addrA, "u")
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []netip.Addr{addrB, addrC} { // evicts addrA
		b, err := th.Begin(addr, "v")
		if err != nil {
			t.Fatal(err)
		}
		// Kept in flight: an ended attempt leaves an empty record,
		// which is dropped rather than kept until evicted.
		defer b.Abandoned()
	}
	keyA := netip.PrefixFrom(addrA, 32)
	if _, ok := th.addrs.Peek(keyA); ok {
		t.Fatal("addrA was not evicted")
	}
	a.Failed()
	r, ok := th.addrs.Peek(keyA)
	if !ok || len(r.failures) != 1 || r.inFlight != 0 {
		t.Errorf("the failure of an evicted address was lost: %+v %v", r, ok)
	}
}

func TestThrottleSetConfig(t *testing.T) {
	clk := newFakeClock()
	th := NewThrottle(ThrottleConfig{Failures: 2}, clk.Now)
	for range 2 {
		if err := fail(th, addrA, "u"); err != nil {
			t.Fatal(err)
		}
	}
	th.SetConfig(ThrottleConfig{Failures: 10, MaxEntries: 1})
	if _, err := th.Begin(addrA, "u"); err == nil {
		t.Error("SetConfig lifted a lockout")
	}
	if th.addrs.Len() > 1 || th.users.Len() > 1 {
		t.Errorf("resize: %d addresses, %d users", th.addrs.Len(), th.users.Len())
	}
}

func TestThrottleNil(t *testing.T) {
	var th *Throttle
	a, err := th.Begin(addrA, "u")
	if err != nil || a == nil {
		t.Fatalf("nil Throttle: %v, %v", a, err)
	}
	a.Failed()
	a.Succeeded()
	var none *Attempt
	none.Failed()
	if th.Locked() != nil {
		t.Error("nil Throttle lists lockouts")
	}
}

func TestThrottleConfigDefaults(t *testing.T) {
	got := ThrottleConfig{Lockout: 2 * time.Hour, Failures: -1}.withDefaults()
	want := ThrottleConfig{Failures: 0, Window: time.Minute, Lockout: 2 * time.Hour, LockoutMax: 2 * time.Hour, MaxEntries: 100000}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestUserKey(t *testing.T) {
	if userKey("alice") != "alice" {
		t.Error("short names must be their own key")
	}
	long1 := strings.Repeat("é", 40) + "1"
	long2 := strings.Repeat("é", 40) + "2"
	k1, k2 := userKey(long1), userKey(long2)
	if k1 == k2 || len(k1) > 2*maxUserKey || !strings.HasPrefix(k1, strings.Repeat("é", 16)+"…") {
		t.Errorf("keys %q and %q", k1, k2)
	}
}
