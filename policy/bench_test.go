package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// BenchmarkHBAMatch matches against 100 rules where only the last applies,
// the worst case for a first-match scan.
func BenchmarkHBAMatch(b *testing.B) {
	var sb strings.Builder
	for i := range 99 {
		fmt.Fprintf(&sb, "hostssl db%d,app%d user%d,svc%d 10.%d.0.0/16 scram-sha-256\n", i, i, i, i, i)
	}
	sb.WriteString("hostssl all all 0.0.0.0/0 scram-sha-256\n")
	h, err := ParseHBA("hba.conf", []byte(sb.String()), nil)
	if err != nil {
		b.Fatal(err)
	}
	req := Request{TLS: true, Addr: netip.MustParseAddr("10.200.1.1"), Database: "app", User: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if r, ok := h.Match(req); !ok || r.Line != 100 {
			b.Fatal("wrong rule")
		}
	}
}

// BenchmarkThrottleBegin measures a successful login's bookkeeping, for one
// busy source and for a stream of new sources (each tracked while in flight).
func BenchmarkThrottleBegin(b *testing.B) {
	b.Run("same-source", func(b *testing.B) {
		th := NewThrottle(ThrottleConfig{Failures: 5}, nil)
		b.ReportAllocs()
		for b.Loop() {
			a, err := th.Begin(addrA, "alice")
			if err != nil {
				b.Fatal(err)
			}
			a.Succeeded()
		}
	})
	b.Run("new-sources", func(b *testing.B) {
		th := NewThrottle(ThrottleConfig{Failures: 5, MaxEntries: 1000}, nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			a, err := th.Begin(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "alice")
			if err != nil {
				b.Fatal(err)
			}
			a.Succeeded()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		th := NewThrottle(ThrottleConfig{Failures: 5}, nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a, err := th.Begin(addrA, "alice")
				if err != nil {
					b.Error(err)
					return
				}
				a.Succeeded()
			}
		})
	})
}
