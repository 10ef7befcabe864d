//go:build linux

package authn

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// checkWaitsIdle fails unless no wait is pending and none sleeps.
func checkWaitsIdle(t *testing.T) {
	t.Helper()
	waits.mu.Lock()
	defer waits.mu.Unlock()
	if len(waits.pending) != 0 || waits.sleeper || waits.armed != 0 {
		t.Fatalf("waits left: %d pending, sleeper %v, timer at %d", len(waits.pending), waits.sleeper, waits.armed)
	}
}

// waitForSleeper waits until a wait sleeps on the timer.
func waitForSleeper(t *testing.T) {
	t.Helper()
	for range 1000 {
		waits.mu.Lock()
		asleep := waits.armed != 0
		waits.mu.Unlock()
		if asleep {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no wait sleeps")
}

// TestPreciseSleepConcurrent: waits of all lengths, at once, some of
// them ended early by their contexts, each return at or after their
// deadline or with their context's error, and leave nothing behind.
func TestPreciseSleepConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 30 {
				d := time.Duration(rand.IntN(3000)) * time.Microsecond
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if rand.IntN(2) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
				}
				start := time.Now()
				err := preciseSleep(ctx, d)
				took := time.Since(start)
				cancel()
				switch {
				case err != nil && !errors.Is(err, context.DeadlineExceeded):
					t.Error(err)
				case err == nil && took < d:
					t.Errorf("sleep of %v took %v", d, took)
				case took > d+time.Second:
					t.Errorf("sleep of %v took %v (%v)", d, took, err)
				}
			}
		}()
	}
	wg.Wait()
	checkWaitsIdle(t)
}

// TestPreciseSleepEarlierDeadline: a wait due before the one asleep on
// the timer sets it earlier rather than waiting for it; a sleeper whose
// context ends returns at once, as does a waiting one.
func TestPreciseSleepEarlierDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	long := make(chan error, 1)
	go func() { long <- preciseSleep(ctx, time.Minute) }()
	waitForSleeper(t)

	start := time.Now()
	if err := preciseSleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < time.Millisecond || took > 500*time.Millisecond {
		t.Fatalf("1ms sleep behind a minute's took %v", took)
	}

	// A waiting (not sleeping) wait ends with its context.
	wctx, wcancel := context.WithCancel(context.Background())
	short := make(chan error, 1)
	go func() { short <- preciseSleep(wctx, 30*time.Second) }()
	time.Sleep(10 * time.Millisecond)
	start = time.Now()
	wcancel()
	if err := <-short; !errors.Is(err, context.Canceled) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("cancelled wait: %v after %v", err, time.Since(start))
	}

	start = time.Now()
	cancel()
	if err := <-long; !errors.Is(err, context.Canceled) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("cancelled sleeper: %v after %v", err, time.Since(start))
	}
	checkWaitsIdle(t)
}

// TestPreciseSleepSleeperCancelled: when the sleeper's context ends, the
// next wait takes over and still wakes on time.
func TestPreciseSleepSleeperCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- preciseSleep(ctx, 10*time.Second) }()
	waitForSleeper(t)
	second := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		if err := preciseSleep(context.Background(), 50*time.Millisecond); err != nil {
			t.Error(err)
		}
		second <- time.Since(start)
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sleeper: %v", err)
	}
	if took := <-second; took < 50*time.Millisecond || took > time.Second {
		t.Fatalf("50ms sleep after the sleeper left took %v", took)
	}
	checkWaitsIdle(t)
}

// processCPU is the processor time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestQueryCacheHoldCost times 1000 cache-hit hold-backs of 1.1 ms, one
// after another on an otherwise idle process (the costliest case, each
// waking the process up): how late they end, and the processor time
// each costs, which must be far below the wait itself.
func TestQueryCacheHoldCost(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	c := NewQueryCache(QueryCacheConfig{}, nil)
	ctx := context.Background()
	const n, wait = 1000, 1100 * time.Microsecond
	late := make([]time.Duration, 0, n)
	cpu := processCPU()
	for range n {
		deadline := time.Now().Add(wait)
		if err := c.waitUntil(ctx, deadline); err != nil {
			t.Fatal(err)
		}
		late = append(late, time.Since(deadline))
	}
	perWait := (processCPU() - cpu) / n
	slices.Sort(late)
	t.Logf("%d waits of %v: late by median %v, p90 %v, p99 %v; processor time %v per wait (lead %v)",
		n, wait, late[n/2], late[n*9/10], late[n*99/100], perWait, time.Duration(waits.lead.Load()))
	if perWait > wait/4 {
		t.Errorf("a wait costs %v of processor time", perWait)
	}
	if late[n/2] > 200*time.Microsecond {
		t.Errorf("waits end late by %v (median)", late[n/2])
	}
}
