package authn

import (
	"strconv"
	"testing"
)

// BenchmarkSCRAMServerLogin measures one whole SCRAM exchange against a
// stored SCRAM secret. The client logs in with pass-through keys, so the
// figure is the server's share plus a few HMACs, without the client's
// PBKDF2.
func BenchmarkSCRAMServerLogin(b *testing.B) {
	k := NewKeyring()
	sc := mustSCRAM(b, pgSecret)
	first := k.NewSCRAMServer("u", sc, nil)
	if _, err := exchange(mustClient(b, ServerCredentials{Password: pgPassword}), first, nil); err != nil {
		b.Fatal(err)
	}
	cred := ServerCredentials{Keys: first.PassThroughKeys()}
	b.ReportAllocs()
	for b.Loop() {
		c, err := NewSCRAMClient(cred)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := exchange(c, k.NewSCRAMServer("u", sc, nil), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSCRAMForCacheHit is the cost of SCRAMFor for a plaintext secret
// once its derived secret is cached: what every SCRAM login of a userlist
// user with a plaintext password pays after the first.
func BenchmarkSCRAMForCacheHit(b *testing.B) {
	k := NewKeyring()
	sec := ParseSecret("s3cret")
	if _, ok := k.SCRAMFor("alice", sec); !ok {
		b.Fatal("derivation failed")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := k.SCRAMFor("alice", sec); !ok {
			b.Fatal("lookup failed")
		}
	}
}

// BenchmarkSCRAMForCacheMiss is the PBKDF2 derivation (4096 iterations) a
// plaintext secret costs once per user and password.
func BenchmarkSCRAMForCacheMiss(b *testing.B) {
	k := NewKeyring()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, ok := k.SCRAMFor("alice", ParseSecret("pw"+strconv.Itoa(i))); !ok {
			b.Fatal("derivation failed")
		}
	}
}
