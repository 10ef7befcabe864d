package policy

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func limitReason(t *testing.T, err error) string {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want *LimitError", err, err)
	}
	return le.Reason
}

func mustAdmit(t *testing.T, a *Admission, addr netip.Addr) *Ticket {
	t.Helper()
	tk, err := a.Admit(addr)
	if err != nil {
		t.Fatalf("Admit(%v): %v", addr, err)
	}
	return tk
}

func TestAdmissionPerAddress(t *testing.T) {
	a := NewAdmission(AdmissionConfig{MaxConnPerAddr: 2})
	t1 := mustAdmit(t, a, addrA)
	mustAdmit(t, a, netip.MustParseAddr("::ffff:192.0.2.1")) // the same source
	_, err := a.Admit(addrA)
	if limitReason(t, err) != ReasonPerAddress {
		t.Errorf("third connection: %v", err)
	}
	if err.Error() != "too many connections from this address (limit 2)" {
		t.Errorf("message %q", err)
	}
	mustAdmit(t, a, addrB)
	t1.Close()
	mustAdmit(t, a, addrA)

	// An IPv6 /64 is one source.
	mustAdmit(t, a, netip.MustParseAddr("2001:db8::1"))
	mustAdmit(t, a, netip.MustParseAddr("2001:db8::2"))
	if _, err := a.Admit(netip.MustParseAddr("2001:db8::ffff")); limitReason(t, err) != ReasonPerAddress {
		t.Errorf("same /64: %v", err)
	}
	mustAdmit(t, a, netip.MustParseAddr("2001:db8:0:1::1"))
}

func TestAdmissionRate(t *testing.T) {
	clk := newFakeClock()
	a := NewAdmission(AdmissionConfig{RatePerAddr: 1, Burst: 2, Now: clk.Now})
	for range 2 {
		mustAdmit(t, a, addrA).Close()
	}
	_, err := a.Admit(addrA)
	if limitReason(t, err) != ReasonRate {
		t.Fatalf("over the burst: %v", err)
	}
	if err.Error() != "too many new connections from this address (limit 1/s)" {
		t.Errorf("message %q", err)
	}
	// Refusals consume nothing: after one second exactly one more.
	for range 5 {
		if _, err := a.Admit(addrA); err == nil {
			t.Fatal("admitted over the rate")
		}
	}
	clk.Advance(time.Second)
	mustAdmit(t, a, addrA).Close()
	if _, err := a.Admit(addrA); err == nil {
		t.Error("admitted two in one second at rate 1")
	}
	mustAdmit(t, a, addrB) // other sources have their own bucket
	clk.Advance(2 * time.Second)
	for range 2 {
		mustAdmit(t, a, addrA)
	}
}

func TestAdmissionDefaultBurst(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{0.5, 1}, {1, 2}, {5, 10}, {2.6, 5}} {
		clk := newFakeClock()
		a := NewAdmission(AdmissionConfig{RatePerAddr: tc.rate, Now: clk.Now})
		n := 0
		for n < 100 {
			if _, err := a.Admit(addrA); err != nil {
				break
			}
			n++
		}
		if n != tc.burst {
			t.Errorf("rate %v: burst %d, want %d", tc.rate, n, tc.burst)
		}
	}
}

func TestAdmissionUnauthenticated(t *testing.T) {
	a := NewAdmission(AdmissionConfig{MaxUnauthenticated: 2})
	t1 := mustAdmit(t, a, addrA)
	t2 := mustAdmit(t, a, netip.Addr{}) // the Unix socket counts too
	_, err := a.Admit(addrB)
	if limitReason(t, err) != ReasonUnauthenticated {
		t.Fatalf("third unauthenticated: %v", err)
	}
	if err.Error() != "too many connections waiting to authenticate (limit 2)" {
		t.Errorf("message %q", err)
	}
	t1.Authenticated()
	t1.Authenticated()
	t3 := mustAdmit(t, a, addrB)
	if _, err := a.Admit(addrC); err == nil {
		t.Fatal("a repeated Authenticated freed two slots")
	}
	t1.Close() // authenticated: frees no unauthenticated slot
	if _, err := a.Admit(addrC); err == nil {
		t.Fatal("closing an authenticated connection freed a slot")
	}
	t2.Close()
	t2.Close()
	t2.Authenticated() // after Close: no effect
	t4 := mustAdmit(t, a, addrC)
	if _, err := a.Admit(addrC); err == nil {
		t.Fatal("a repeated Close freed two slots")
	}
	t3.Close()
	t4.Close()
	if a.unauth != 0 || len(a.active) != 0 {
		t.Errorf("after all closed: unauth %d, active %d", a.unauth, len(a.active))
	}
}

func TestAdmissionUnixSocketExempt(t *testing.T) {
	a := NewAdmission(AdmissionConfig{MaxConnPerAddr: 1, RatePerAddr: 0.001, Burst: 1})
	for range 10 {
		mustAdmit(t, a, netip.Addr{})
	}
	if a.unauth != 10 {
		t.Errorf("unauth %d, want 10", a.unauth)
	}
}

func TestAdmissionCloseIdempotent(t *testing.T) {
	a := NewAdmission(AdmissionConfig{MaxConnPerAddr: 2})
	t1 := mustAdmit(t, a, addrA)
	t2 := mustAdmit(t, a, addrA)
	t1.Close()
	t1.Close()
	t3 := mustAdmit(t, a, addrA)
	if _, err := a.Admit(addrA); err == nil {
		t.Fatal("a repeated Close freed two per-address slots")
	}
	t2.Close()
	t3.Close()
	if len(a.active) != 0 {
		t.Errorf("%d active sources after all closed", len(a.active))
	}
}

func TestAdmissionBoundedMemory(t *testing.T) {
	clk := newFakeClock()
	a := NewAdmission(AdmissionConfig{RatePerAddr: 1, MaxEntries: 100, Now: clk.Now})
	for i := range 10000 {
		mustAdmit(t, a, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})).Close()
	}
	if n := a.idle.Len(); n > 100 {
		t.Errorf("%d idle sources, want <= 100", n)
	}
	if len(a.active) != 0 {
		t.Errorf("%d active sources after all closed", len(a.active))
	}
	// A source whose bucket has refilled by the time it closes is dropped;
	// one whose bucket is still refilling is kept.
	tA := mustAdmit(t, a, addrA)
	clk.Advance(time.Hour)
	tA.Close()
	if _, ok := a.idle.Peek(netip.PrefixFrom(addrA, 32)); ok {
		t.Error("a source with a full bucket was kept")
	}
	mustAdmit(t, a, addrB).Close()
	if _, ok := a.idle.Peek(netip.PrefixFrom(addrB, 32)); !ok {
		t.Error("a source with a refilling bucket was dropped")
	}
	// Without a rate there is no idle state at all.
	b := NewAdmission(AdmissionConfig{MaxConnPerAddr: 5})
	mustAdmit(t, b, addrA).Close()
	if b.idle.Len() != 0 {
		t.Error("idle state kept without a rate limit")
	}
}

func TestAdmissionOpenSourcesNotEvicted(t *testing.T) {
	a := NewAdmission(AdmissionConfig{MaxConnPerAddr: 1, RatePerAddr: 1000, MaxEntries: 1})
	held := mustAdmit(t, a, addrA)
	for i := range 50 {
		mustAdmit(t, a, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})).Close()
	}
	if _, err := a.Admit(addrA); err == nil || limitReason(t, err) != ReasonPerAddress {
		t.Errorf("a flood of other sources reset addrA's count: %v", err)
	}
	held.Close()
}

func TestAdmissionSetConfig(t *testing.T) {
	clk := newFakeClock()
	a := NewAdmission(AdmissionConfig{MaxConnPerAddr: 1, RatePerAddr: 1, Burst: 1, Now: clk.Now})
	mustAdmit(t, a, addrA)
	a.SetConfig(AdmissionConfig{MaxConnPerAddr: 3, RatePerAddr: 100, Burst: 1, Now: clk.Now})
	if _, err := a.Admit(addrA); err == nil {
		t.Fatal("the bucket refilled by itself")
	}
	clk.Advance(10 * time.Millisecond) // one token at the new rate
	mustAdmit(t, a, addrA)
	a.SetConfig(AdmissionConfig{MaxConnPerAddr: 3, Now: clk.Now}) // no rate limit
	mustAdmit(t, a, addrA)
	if _, err := a.Admit(addrA); err == nil || limitReason(t, err) != ReasonPerAddress {
		t.Errorf("fourth connection: %v", err)
	}
}

func TestAdmissionNil(t *testing.T) {
	var a *Admission
	tk, err := a.Admit(addrA)
	if err != nil || tk == nil {
		t.Fatalf("nil Admission: %v, %v", tk, err)
	}
	tk.Authenticated()
	tk.Close()
	var none *Ticket
	none.Close()
}

func TestAdmissionConfigDefaults(t *testing.T) {
	c := AdmissionConfig{MaxConnPerAddr: -1, RatePerAddr: -3, MaxUnauthenticated: -2}.withDefaults()
	if c.MaxConnPerAddr != 0 || c.RatePerAddr != 0 || c.MaxUnauthenticated != 0 || c.Burst != 1 || c.MaxEntries != 100000 || c.Now == nil {
		t.Errorf("got %+v", c)
	}
}
