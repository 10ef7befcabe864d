package session

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Most of a busy pooler's memory is garbage between collections: the Go
// collector lets the heap grow to twice what is live before it collects,
// and keeps freed pages to grow into again. A pooler with thousands of
// idle clients would carry the garbage of their logins indefinitely, at
// about the size of what they really use. So when the process goes quiet
// (it allocates next to nothing for a whole second) while holding plenty
// of free heap, pgbun collects once and gives the free pages back to the
// operating system. Activity afterwards grows the heap again as usual;
// the next quiet spell gives it back again.
const (
	// quietAlloc is the allocation rate, in bytes per parkTick, below
	// which the process counts as quiet.
	quietAlloc = 256 << 10
	// quietTicks is how many quiet ticks in a row make a quiet spell.
	quietTicks = 2
	// releaseAtLeast is the free heap worth a collection to give back.
	releaseAtLeast = 8 << 20
)

// memReleaser watches allocation from the parker's tick.
type memReleaser struct {
	samples []metrics.Sample
	last    uint64 // cumulative bytes allocated at the previous tick
	quiet   int    // quiet ticks in a row
	done    bool   // released in this quiet spell already
}

func newMemReleaser() *memReleaser {
	return &memReleaser{samples: []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}}
}

// tick reports whether now is the time to give memory back.
func (m *memReleaser) tick() bool {
	metrics.Read(m.samples)
	if m.samples[0].Value.Kind() != metrics.KindUint64 || m.samples[1].Value.Kind() != metrics.KindUint64 {
		return false // the runtime no longer offers these: never release
	}
	return m.observe(m.samples[0].Value.Uint64(), m.samples[1].Value.Uint64())
}

// observe takes one tick's readings: bytes allocated since the process
// started, and free heap bytes not yet returned to the operating system.
func (m *memReleaser) observe(allocs, free uint64) bool {
	busy := allocs-m.last >= quietAlloc
	m.last = allocs
	if busy {
		m.quiet, m.done = 0, false
		return false
	}
	m.quiet++
	if m.quiet < quietTicks || m.done || free < releaseAtLeast {
		return false
	}
	m.done = true
	return true
}

// releaseMemory collects and returns free memory to the operating system
// off the parker's goroutine, so that parked clients are not kept waiting.
func (e *Engine) releaseMemory() {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		debug.FreeOSMemory()
	}()
}

// runMemoryRelease gives free heap back to the operating system when the
// process goes quiet, on its own tick, where there is no parker whose tick
// does it.
func (e *Engine) runMemoryRelease() {
	defer e.wg.Done()
	t := time.NewTicker(parkTick)
	defer t.Stop()
	mem := newMemReleaser()
	for {
		select {
		case <-e.bg.Done():
			return
		case <-t.C:
			if mem.tick() {
				e.releaseMemory()
			}
		}
	}
}
