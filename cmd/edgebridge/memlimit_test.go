package main

import (
	"runtime"
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
	setMemoryLimits(false)
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
	setMemoryLimits(false)
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want it left at 1 GiB", got)
	}
	if got := debug.SetGCPercent(100); got != 200 {
		t.Errorf("GOGC %d with GOGC set, want it left at 200", got)
	}
}

// The heap profile is sampled only when --pprof can serve it.
func TestHeapProfileOnlyWithPprof(t *testing.T) {
	rate := runtime.MemProfileRate
	defer func() { runtime.MemProfileRate = rate }()

	runtime.MemProfileRate = 512 << 10
	setMemoryLimits(true)
	if runtime.MemProfileRate != 512<<10 {
		t.Errorf("heap profile rate %d with --pprof, want Go's 512 KiB left", runtime.MemProfileRate)
	}
	setMemoryLimits(false)
	if runtime.MemProfileRate != 0 {
		t.Errorf("heap profile rate %d without --pprof, want 0 (off)", runtime.MemProfileRate)
	}
}

// After a flood a quiet daemon is collected tick after tick while each
// collection frees memory (what one found live, the next may find dead),
// then left alone; a busy one is collected when it holds garbage or free
// heap.
func TestMemoryReturnCollectsUntilNothingFrees(t *testing.T) {
	const MB = 1 << 20
	var r memoryReturn
	if r.due(0, 7*MB, 7*MB) {
		t.Fatal("collected a quiet heap with nothing free or dead")
	}
	// The flood's end: 30 MB free, 35 MB of objects live at the last
	// collection. The collection leaves 12 MB live.
	if !r.due(30*MB, 35*MB, 35*MB) {
		t.Fatal("30 MB free not returned")
	}
	r.collected(35*MB, 12*MB)
	// Nothing free nor dead to be seen, but what was live may be dead now.
	if !r.due(0, 12*MB+100<<10, 12*MB) {
		t.Fatal("no second collection after one that freed 23 MB")
	}
	r.collected(12*MB+100<<10, 7*MB)
	if !r.due(0, 7*MB+100<<10, 7*MB) {
		t.Fatal("no third collection after one that freed 5 MB")
	}
	r.collected(7*MB+100<<10, 7*MB)
	if r.due(0, 7*MB+200<<10, 7*MB) {
		t.Fatal("collected again after a collection that freed nothing")
	}
	// Busy again: garbage above returnAbove since the last collection.
	if !r.due(0, 9*MB, 7*MB) {
		t.Fatal("2 MB of garbage not collected")
	}
}
