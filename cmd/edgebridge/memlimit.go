package main

import (
	"bufio"
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
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

// releaseBinary drops the pages of the daemon's own executable that are
// mapped read-only (code and constants) from the process, as
// store.DB.ReleaseMapped does for the database: the kernel maps in whole
// neighbourhoods of the binary around each page used, so an idle daemon
// held some 11 MB of it, of which it runs a few hundred KB. The pages stay
// in the page cache and fault back in when used; nothing can have changed
// them (read-only mappings, and Linux refuses writes to a running
// executable). Writable mappings (data, heap) are never touched.
func releaseBinary() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	type span struct{ lo, hi uint64 }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00c8a000 r-xp 00000000 08:01 1234 /path/to/edgebridge
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[5] != exe || (fs[1] != "r-xp" && fs[1] != "r--p") {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && h > l {
			spans = append(spans, span{l, h})
		}
	}
	for _, s := range spans {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, uintptr(s.lo), uintptr(s.hi-s.lo), syscall.MADV_DONTNEED)
	}
}

// returnMemory gives the heap a flood of calls left free back to the
// kernel (the runtime's own scavenger would keep most of it for minutes),
// and has release drop the database pages the flood's writes mapped in
// (store.DB.ReleaseMapped).
func returnMemory(ctx context.Context, release func() error) {
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
			_ = release() // pages fault back in when read: nothing to report
			releaseBinary()
		}
	}
}
