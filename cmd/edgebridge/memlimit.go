package main

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The daemon's memory on a 128 MB board, the smallest it ships on: the Go
// runtime keeps its heap, stacks and metadata under a soft limit of 80 MiB
// (it collects harder as it nears it, rather than asking the kernel for
// more); with the executable's mapped pages (about 14 MB) that is under
// 100 MB of RSS, leaving the kernel and the board's other processes a
// quarter of it. Below the limit it collects when the heap has doubled
// since the last collection (GOGC 100, Go's default). What a call leaves
// behind once it ends is small (engine/retrans.go), so at the capacity goal
// (2000 calls/s, about 22 MB live) the heap stays well under the limit and
// collection is paced by GOGC; GOGC 50, as before, collected twice as often
// for no memory a board needs: 1.0 against 0.86 ms of daemon CPU per call
// at 500 calls/s, 0.66 against 0.60 at 2000/s, peak RSS 39 against 45 MB
// and about 90 MB either way. GOMEMLIMIT and GOGC in the environment
// override the two. Freed memory goes back to the kernel within seconds of
// a flood instead of being kept for the next one.
const (
	daemonMemoryLimit = 80 << 20
	daemonGCPercent   = 100
	// returnEvery is how often freed heap above returnAbove goes back.
	returnEvery = 10 * time.Second
	returnAbove = 1 << 20
)

// setMemoryLimits also turns the heap profile off unless profiling says
// --pprof serves it: the runtime samples an allocation every 512 KiB into
// a hash table of call stacks (1.4 MB, never freed) with a record per stack
// it has seen, which a flood's variety of stacks fills, and which nothing
// reads without the endpoint.
func setMemoryLimits(profiling bool) {
	if !profiling {
		runtime.MemProfileRate = 0
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(daemonMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
}

// returnMemory gives the heap a flood of calls left free back to the
// kernel (the runtime's own scavenger would keep most of it for minutes).
// What it can give back is the free heap not yet returned and the flood's
// garbage: a quiet daemon allocates too little to reach its next
// collection, whose goal the flood set, so without one the garbage kept
// its pages (10 MB 60 s after the userbench floods). File-backed pages (the
// executable, the database's mapping) are left to the kernel: they are page
// cache, which it reclaims under pressure, and unmapping them from the
// process would only lower the RSS figure. compact (may be nil) runs first:
// it copies what the daemon keeps long (the log ring's lines) out of the
// flood's memory spans, which it would otherwise hold in use.
func returnMemory(ctx context.Context, compact func()) {
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	read := func() (free, objects, live uint64) {
		metrics.Read(sample)
		for i, v := range []*uint64{&free, &objects, &live} {
			if sample[i].Value.Kind() == metrics.KindUint64 {
				*v = sample[i].Value.Uint64()
			}
		}
		return
	}
	var r memoryReturn
	t := time.NewTicker(returnEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			free, objects, live := read()
			if r.due(free, objects, live) {
				if compact != nil {
					compact()
				}
				debug.FreeOSMemory()
				_, _, after := read()
				r.collected(objects, after)
			}
		}
	}
}

// memoryReturn is returnMemory's policy: collect when the heap holds more
// than returnAbove free or dead since the last collection, and again at the
// next tick after a collection that freed more than that. What a collection
// finds live may be dead by the next: a flood's last transactions wait out
// their timers (up to 8 s) and pooled RTP sockets close after 10 s, but
// nothing counts them dead until a collection, which a quiet daemon never
// reaches by allocating (6 MB kept 60 s after the userbench floods in one
// run of two).
type memoryReturn struct{ again bool }

// due says whether to collect now, from the free heap not yet returned, the
// heap's objects (live, or dead and not yet swept) and the live heap at the
// last collection.
func (r *memoryReturn) due(free, objects, live uint64) bool {
	return r.again || free+objects-min(live, objects) > returnAbove
}

// collected notes a collection: the objects before it and the live heap after.
func (r *memoryReturn) collected(objects, live uint64) {
	r.again = objects > live+returnAbove
}
