//go:build linux

package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.duration != 10*time.Second || o.rounds != 3 || o.scale != 10 || o.pool != 20 || o.idle != 5000 || o.keep {
		t.Errorf("defaults: %+v", o)
	}
	if !slices.Equal(o.clients, []int{50, 1000}) || !slices.Equal(o.modes, []string{"session", "transaction"}) {
		t.Errorf("clients %v modes %v, want [50 1000] [session transaction]", o.clients, o.modes)
	}
	if !slices.Equal(o.tls, []bool{false, true}) {
		t.Errorf("tls %v, want plain then TLS", o.tls)
	}
	if !slices.Equal(o.only, allTargets) {
		t.Errorf("targets %v, want %v", o.only, allTargets)
	}
}

func TestParseFlagsLists(t *testing.T) {
	o, err := parseFlags([]string{"-clients", "1000, 50,50", "-modes", "transaction,session",
		"-tls", "on", "-only", "pgbun,direct", "-duration", "5s", "-rounds", "2", "-idle", "0", "-keep"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.clients, []int{1000, 50}) {
		t.Errorf("clients %v, want [1000 50]", o.clients)
	}
	if !slices.Equal(o.modes, []string{"transaction", "session"}) {
		t.Errorf("modes %v", o.modes)
	}
	if !slices.Equal(o.tls, []bool{true}) {
		t.Errorf("tls %v, want [true]", o.tls)
	}
	// Targets come back in canonical order whatever order they were given.
	if !slices.Equal(o.only, []target{targetDirect, targetPgbun}) {
		t.Errorf("targets %v", o.only)
	}
	if o.duration != 5*time.Second || o.rounds != 2 || o.idle != 0 || !o.keep {
		t.Errorf("got %+v", o)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "1500ms"},
		{"-duration", "0s"},
		{"-rounds", "0"},
		{"-clients", "0"},
		{"-clients", "50,x"},
		{"-clients", ","},
		{"-clients", "10001"},
		{"-idle", "-1"},
		{"-idle", "9901"},
		{"-idle", "0", "-idle-only"},
		{"-modes", "pipeline"},
		{"-tls", "maybe"},
		{"-only", "odyssey"},
		{"-scale", "0"},
		{"-pool", "0"},
		{"extra"},
		{"-nosuchflag"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
}

func TestRotate(t *testing.T) {
	ts := []target{targetDirect, targetPgBouncer, targetPgbun}
	want := [][]target{
		{targetDirect, targetPgBouncer, targetPgbun},
		{targetPgBouncer, targetPgbun, targetDirect},
		{targetPgbun, targetDirect, targetPgBouncer},
		{targetDirect, targetPgBouncer, targetPgbun},
	}
	for round, w := range want {
		if got := rotate(ts, round); !slices.Equal(got, w) {
			t.Errorf("round %d: %v, want %v", round, got, w)
		}
	}
	if !slices.Equal(ts, []target{targetDirect, targetPgBouncer, targetPgbun}) {
		t.Errorf("rotate changed its input: %v", ts)
	}
	if got := rotate([]target(nil), 2); len(got) != 0 {
		t.Errorf("rotate of nothing: %v", got)
	}
}

func TestPoolSize(t *testing.T) {
	if got := poolSize("session", 50, 20); got != 55 {
		t.Errorf("session: %d, want 55", got)
	}
	if got := poolSize("transaction", 1000, 20); got != 20 {
		t.Errorf("transaction: %d, want 20", got)
	}
}

func TestApplicable(t *testing.T) {
	e := &env{opts: options{only: allTargets, pool: 20}}
	marked := map[target]string{}
	mark := func(t target, na, err string) { marked[t] = na + err }

	if got := e.applicable("session", 50, mark); !slices.Equal(got, allTargets) || len(marked) != 0 {
		t.Errorf("session/50: ran %v, marked %v", got, marked)
	}

	// 2×(100+5) pooled servers and 100 direct clients exceed what PostgreSQL
	// allows, so only direct runs.
	clear(marked)
	if got := e.applicable("session", 100, mark); !slices.Equal(got, []target{targetDirect}) ||
		marked[targetPgBouncer] == "" || marked[targetPgbun] == "" {
		t.Errorf("session/100: ran %v, marked %v", got, marked)
	}

	clear(marked)
	if got := e.applicable("transaction", 1000, mark); !slices.Equal(got, []target{targetPgBouncer, targetPgbun}) ||
		marked[targetDirect] == "" {
		t.Errorf("transaction/1000: ran %v, marked %v", got, marked)
	}
}
