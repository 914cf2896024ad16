package media

import (
	"sync/atomic"
	"testing"
	"time"
)

// A reader that stalls for longer than its session can make up (maxLag:
// the goroutine of an alarm receiver starved on a loaded board) afterwards
// hears what arrives at the usual delay again, instead of a second late for
// the rest of the call. Each frame carries its index in the signs of eight
// runs of samples, which G.711 keeps.
func TestReaderStallSkipsAhead(t *testing.T) {
	a, b, _, _ := pair(t, func(_, b *legOpts) { b.cfg.JitterDelay = 60 * time.Millisecond })
	const frames = 200 // 4 s
	var sent atomic.Int64
	sent.Store(-1)
	go func() {
		start := time.Now()
		var pcm [FrameSamples]int16
		for i := range frames {
			for bit := range 8 {
				v := int16(-8000)
				if i>>bit&1 == 1 {
					v = 8000
				}
				for k := range FrameSamples / 8 {
					pcm[bit*FrameSamples/8+k] = v
				}
			}
			if a.WriteFrame(pcm[:]) != nil {
				return
			}
			sent.Store(int64(i))
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * 20 * time.Millisecond)))
		}
	}()
	index := func(pcm []int16) (int64, bool) {
		var i int64
		for bit := range 8 {
			var sum int
			for _, v := range pcm[bit*FrameSamples/8 : (bit+1)*FrameSamples/8] {
				sum += int(v)
			}
			switch {
			case sum > 1000*FrameSamples/8:
				i |= 1 << bit
			case sum < -1000*FrameSamples/8:
			default:
				return 0, false // silence: pre-roll or lost
			}
		}
		return i, true
	}
	pcm := make([]int16, FrameSamples)
	for range 40 {
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(maxLag + 300*time.Millisecond) // the stall under test
	// The lag of a frame read is how many frames the sender has written
	// since; starvation of this goroutine can only add to it, so the
	// smallest over a second of reading is the session's own.
	best := int64(1 << 30)
	for range 50 {
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
		now := sent.Load()
		if i, ok := index(pcm); ok {
			best = min(best, (now-i)&0xff)
		}
	}
	// 60 ms of jitter delay is 3 frames; a reader still behind by the stall
	// would be about 45 frames late.
	if best > 20 {
		t.Fatalf("after a stall the reader hears frames %d frames (%d ms) after they were sent, want the jitter delay", best, best*20)
	}
}
