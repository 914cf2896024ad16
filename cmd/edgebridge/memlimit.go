package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The daemon's memory on a 128 MB board, the smallest it ships on: the Go
// runtime keeps its heap, stacks and buffers under a soft limit of 96 MB
// (it collects harder as it nears it, rather than asking the kernel for
// more), collects when the heap has grown by half since the last
// collection instead of doubled, and hands freed memory back to the kernel
// within seconds of a flood instead of keeping it for the next one.
// GOMEMLIMIT and GOGC in the environment override the first two.
const (
	daemonMemoryLimit = 96 << 20
	daemonGCPercent   = 50
	// returnEvery is how often freed heap above returnAbove goes back.
	returnEvery = 10 * time.Second
	returnAbove = 4 << 20
)

func setMemoryLimits() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(daemonMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(daemonGCPercent)
	}
}

// returnMemory gives the heap a flood of calls left free back to the
// kernel (the runtime's own scavenger would keep most of it for minutes).
// File-backed pages (the executable, the database's mapping) are left to
// the kernel: they are page cache, which it reclaims under pressure, and
// unmapping them from the process would only lower the RSS figure.
func returnMemory(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	t := time.NewTicker(returnEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > returnAbove {
				debug.FreeOSMemory()
			}
		}
	}
}
