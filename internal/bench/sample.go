//go:build linux

package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sampleEvery is how often a run records CPU times. The kernel counts them
// in 10 ms ticks; a finer period would only cost the machine.
const sampleEvery = 200 * time.Millisecond

// cpuSample is the CPU time used so far, at a moment of a run.
type cpuSample struct {
	at      float64 // seconds since pgbench started
	pooler  float64 // the pooler's user+system seconds (0 without one)
	machine float64 // busy seconds of all CPUs together
}

// sampler records CPU times through a run, so that they can be read for
// the window pgbench's progress reports pick out afterwards.
type sampler struct {
	pid   int // the pooler's, 0 for none
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	samples []cpuSample
	err     error
}

func startSampler(pid int) *sampler {
	s := &sampler{pid: pid, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	s.take()
	go func() {
		defer close(s.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.take()
				return
			case <-t.C:
				s.take()
			}
		}
	}()
	return s
}

func (s *sampler) take() {
	var x cpuSample
	x.at = time.Since(s.start).Seconds()
	var err error
	if s.pid != 0 {
		var ticks uint64
		if ticks, err = cpuTicks(s.pid); err == nil {
			x.pooler = float64(ticks) / userHZ
		}
	}
	if err == nil {
		var b []byte
		if b, err = os.ReadFile("/proc/stat"); err == nil {
			var busy uint64
			busy, err = parseMachineStat(string(b))
			x.machine = float64(busy) / userHZ
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.samples = append(s.samples, x)
}

// finish stops the sampler and returns what it recorded.
func (s *sampler) finish() ([]cpuSample, error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.err
}

// cpuAt interpolates the CPU times at second t of the run.
func cpuAt(samples []cpuSample, t float64) (pooler, machine float64, ok bool) {
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		if t < a.at || t > b.at {
			continue
		}
		f := 0.0
		if b.at > a.at {
			f = (t - a.at) / (b.at - a.at)
		}
		return a.pooler + f*(b.pooler-a.pooler), a.machine + f*(b.machine-a.machine), true
	}
	return 0, 0, false
}

// cpuBetween is the CPU time the pooler and the machine used from second
// t0 to second t1 of the run.
func cpuBetween(samples []cpuSample, t0, t1 float64) (pooler, machine float64, err error) {
	p0, m0, ok0 := cpuAt(samples, t0)
	p1, m1, ok1 := cpuAt(samples, t1)
	if !ok0 || !ok1 {
		return 0, 0, fmt.Errorf("no CPU samples around %.1f s and %.1f s of the run", t0, t1)
	}
	return p1 - p0, m1 - m0, nil
}

// parseMachineStat returns the busy time of all CPUs, in clock ticks, from
// the content of /proc/stat: user, nice, system, irq, softirq and steal of
// its first ("cpu ") line, leaving out idle and iowait.
func parseMachineStat(s string) (uint64, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	// The kernel writes the aggregate line first and flush left; anything
	// else is not /proc/stat and is refused rather than guessed at.
	if !strings.HasPrefix(line, "cpu ") || len(f) < 9 {
		return 0, errors.New("/proc/stat: no aggregate cpu line")
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: field %d %q: not a count", i, f[i])
		}
		if busy > math.MaxUint64-v {
			return 0, errors.New("/proc/stat: busy time overflows")
		}
		busy += v
	}
	return busy, nil
}
