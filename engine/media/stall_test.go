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
	last := int64(-1) // the last of the sender's frames read before the stall
	for range 40 {
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
		if i, ok := index(pcm); ok {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("none of the sender's frames in 800 ms of reading")
	}
	stalled := time.Now()
	time.Sleep(maxLag + 150*time.Millisecond) // the stall under test
	stall := time.Since(stalled)
	// The lag of a frame read is how many frames the sender has written
	// since; starvation of this goroutine can only add to it, so the
	// smallest over a second of reading is the session's own.
	best := int64(1 << 30)
	first := int64(-1)
	for range 50 {
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
		now := sent.Load()
		if i, ok := index(pcm); ok {
			best = min(best, (now-i)&0xff)
			if first < 0 {
				first = i
			}
		}
	}
	// Only what is older than maxLag is skipped: the rest of the stall is
	// caught up at once (10 frames to spare for a starved sender). Skipping
	// the whole stall would lose 30 frames more. A stall the ring cannot
	// hold at all (its 1.024 s less the delay and a packet: a machine that
	// starved the test far past the sleep) re-centres the buffer, which
	// then holds only what came since.
	most := int64((stall-maxLag)/(20*time.Millisecond)) + 10
	if stall > 1024*time.Millisecond-60*time.Millisecond-20*time.Millisecond {
		most = int64(stall/(20*time.Millisecond)) + 10
	}
	if lost := (first - last - 1) & 0xff; first < 0 || lost > most {
		t.Errorf("a stall of %v lost %d frames (%d ms) of audio, want at most %d: only what is older than %v", stall.Round(time.Millisecond), lost, lost*20, most, maxLag)
	}
	// 60 ms of jitter delay is 3 frames; a reader still behind by the stall
	// would be about 45 frames late.
	if best > 20 {
		t.Fatalf("after a stall the reader hears frames %d frames (%d ms) after they were sent, want the jitter delay", best, best*20)
	}
}
