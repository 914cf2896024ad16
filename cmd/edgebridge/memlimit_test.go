package main

import (
	"runtime/debug"
	"testing"
)

// serve sets the 128 MB board's limits unless GOMEMLIMIT and GOGC say
// otherwise.
func TestMemoryLimits(t *testing.T) {
	limit, gc := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	defer func() { debug.SetMemoryLimit(limit); debug.SetGCPercent(gc) }()

	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	setMemoryLimits()
	if got := debug.SetMemoryLimit(-1); got != daemonMemoryLimit {
		t.Errorf("memory limit %d, want %d", got, daemonMemoryLimit)
	}
	if got := debug.SetGCPercent(100); got != daemonGCPercent {
		t.Errorf("GOGC %d, want %d", got, daemonGCPercent)
	}

	debug.SetMemoryLimit(1 << 30)
	t.Setenv("GOMEMLIMIT", "1GiB")
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	setMemoryLimits()
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left at 1 GiB", got)
	}
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GOGC %d with GOGC set, want it left at 200", got)
	}
}
