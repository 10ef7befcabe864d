//go:build linux

package authn

import (
	"container/heap"
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Precise waits on Linux.
//
// A Go timer fires when the scheduler next looks at its timers, and with
// nothing else to do the scheduler sleeps in whole milliseconds
// (epoll_wait), so on an idle process a timer is up to about a
// millisecond late: as late as the fetch a cache hit stands in for. A
// timerfd, a kernel timer read as a file, is exact to the nanosecond
// (no timer slack applies to it), and becomes readable through the
// runtime's poller like a network connection does: a reader parked on it
// runs again as soon as a reply from the server would.
//
// One timerfd, opened on first use and kept for the life of the process,
// serves all waits. The waits in progress are kept in a heap by deadline
// and take turns: one of them, the sleeper, sets the timer for the
// earliest deadline and reads it, parked in the poller (holding neither
// a thread nor a processor), wakes the waits whose deadlines have come
// and sleeps on until its own; then it hands the role to the wait with
// the earliest deadline left. The others wait on a channel. A wait
// arriving with an earlier deadline than the timer's sets it earlier; a
// sleeper whose context ends sets it off at once, to pass the role on.
//
// So a wait costs a wakeup or two and some microseconds of processor
// time, and no goroutine is kept running.

// waitMaxLead bounds how early a wait is woken to make up for the time
// it takes to run again once woken (waits.lead).
const waitMaxLead = 100 * time.Microsecond

// waitLeadStep is how much each woken wait moves waits.lead: up when it
// ran after its deadline, down when before. lead thus settles on the
// median delay from a deadline to the wait running, so that a wait runs
// as often before its deadline as after it; those that run early yield
// the processor for the rest, at most waitMaxLead.
const waitLeadStep = 250 * time.Nanosecond

// A wakeup is one pending wait.
type wakeup struct {
	at    int64         // deadline on the monotonic clock, in nanoseconds
	ready chan struct{} // closed when the wait is woken
	index int           // in waits.pending; -1 once out of it
	// sleeper says the wait was woken to sleep for all (waits.sleeper);
	// set before ready is closed.
	sleeper bool
}

// wakeHeap orders pending waits by deadline (container/heap).
type wakeHeap []*wakeup

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h wakeHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *wakeHeap) Push(x any) {
	w := x.(*wakeup)
	w.index = len(*h)
	*h = append(*h, w)
}

func (h *wakeHeap) Pop() any {
	old := *h
	n := len(old) - 1
	w := old[n]
	old[n] = nil
	w.index = -1
	*h = old[:n]
	return w
}

var waits struct {
	once sync.Once
	ok   bool     // the timer and the clock are there; else timers are used
	fd   int      // the timerfd, on CLOCK_MONOTONIC
	file *os.File // fd, for reading through the poller

	mu      sync.Mutex
	pending wakeHeap
	// sleeper says a wait sleeps for all, or has been woken to.
	sleeper bool
	// armed is when the timer goes off, 0 when it is not set (the
	// sleeper will set it).
	armed int64
	// lead is how many nanoseconds before its deadline a wait is woken,
	// the learned median delay from a wakeup to the wait running.
	lead atomic.Int64
}

// The monotonic clock the timer runs on, read through time.Now (the
// runtime reads the same clock, without a system call): monoBase is its
// reading at monoStart.
var (
	monoStart time.Time
	monoBase  int64
)

// initWaits opens the timer, the first time a wait needs it.
func initWaits() {
	var ts unix.Timespec
	start := time.Now()
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return
	}
	// The reading was taken somewhere in the call: assume its middle.
	monoStart, monoBase = start, ts.Nano()-int64(time.Since(start)/2)
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return
	}
	waits.fd, waits.file, waits.ok = fd, os.NewFile(uintptr(fd), "authn wait timer"), true
}

// monotime reads the monotonic clock, in nanoseconds.
func monotime() int64 {
	return monoBase + int64(time.Since(monoStart))
}

// preciseSleep is QueryCache's real sleep: it returns d after it was
// called, to within microseconds, or with ctx's error once ctx is done.
// d <= 0 only yields the processor.
func preciseSleep(ctx context.Context, d time.Duration) error {
	waits.once.Do(initWaits)
	if d <= 0 || !waits.ok {
		return timerSleep(ctx, d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &wakeup{at: monotime() + int64(d), ready: make(chan struct{})}
	waits.mu.Lock()
	heap.Push(&waits.pending, w)
	if !waits.sleeper {
		waits.sleeper = true
		waits.mu.Unlock()
		return sleepForAll(ctx, w)
	}
	if at := w.at - waits.lead.Load(); waits.armed != 0 && at < waits.armed {
		armTimer(at)
	}
	waits.mu.Unlock()
	select {
	case <-w.ready:
	case <-ctx.Done():
		waits.mu.Lock()
		if w.index >= 0 {
			heap.Remove(&waits.pending, w.index)
		}
		if w.sleeper {
			passSleep()
		}
		waits.mu.Unlock()
		return ctx.Err()
	}
	if w.sleeper {
		return sleepForAll(ctx, w)
	}
	return finishWait(w)
}

// sleepForAll is a wait as the sleeper: w is pending, and waits.sleeper
// is its to clear or pass on.
func sleepForAll(ctx context.Context, w *wakeup) error {
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			waits.mu.Lock()
			if waits.armed != 0 {
				armTimer(1) // long past: off at once
			}
			waits.mu.Unlock()
		})
		defer stop()
	}
	var buf [8]byte // the count of expiries the timer reads
	for {
		waits.mu.Lock()
		now := monotime()
		lead := waits.lead.Load()
		for len(waits.pending) > 0 && waits.pending[0].at-lead <= now {
			if x := heap.Pop(&waits.pending).(*wakeup); x != w {
				close(x.ready)
			}
		}
		if w.index < 0 {
			passSleep()
			waits.mu.Unlock()
			return finishWait(w)
		}
		if err := ctx.Err(); err != nil {
			heap.Remove(&waits.pending, w.index)
			passSleep()
			waits.mu.Unlock()
			return err
		}
		until := waits.pending[0].at - lead
		armed := waits.armed == until || armTimer(until)
		waits.mu.Unlock()
		if armed {
			_, err := waits.file.Read(buf[:])
			waits.mu.Lock()
			waits.armed = 0
			waits.mu.Unlock()
			if err == nil {
				continue
			}
		}
		// Not expected of a timer once opened: a Go timer is coarser,
		// but sleeps.
		time.Sleep(time.Duration(until - monotime()))
	}
}

// armTimer sets the timer to go off at, on the monotonic clock, and
// reports whether it could; waits.mu is held.
func armTimer(at int64) bool {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	if unix.TimerfdSettime(waits.fd, unix.TFD_TIMER_ABSTIME, &spec, nil) != nil {
		return false
	}
	waits.armed = at
	return true
}

// passSleep hands the sleeper's role to the earliest pending wait, if
// any; waits.mu is held.
func passSleep() {
	if len(waits.pending) == 0 {
		waits.sleeper = false
		return
	}
	next := waits.pending[0]
	next.sleeper = true
	close(next.ready)
}

// finishWait ends a woken wait: it learns from how late it runs, and
// yields the processor until its deadline if woken early on purpose.
func finishWait(w *wakeup) error {
	now := monotime()
	learnLead(now - w.at)
	for ; now < w.at && w.at-now <= int64(waitMaxLead); now = monotime() {
		runtime.Gosched()
	}
	return nil
}

// learnLead moves waits.lead by a step towards making late, how long
// after its deadline a woken wait ran, zero.
func learnLead(late int64) {
	for {
		old := waits.lead.Load()
		lead := old
		switch {
		case late > 0:
			lead = min(old+int64(waitLeadStep), int64(waitMaxLead))
		case late < 0:
			lead = max(old-int64(waitLeadStep), 0)
		}
		if lead == old || waits.lead.CompareAndSwap(old, lead) {
			return
		}
	}
}
