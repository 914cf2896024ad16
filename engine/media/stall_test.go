package media

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// A reader that stalls for longer than its session can make up (maxLag:
// the goroutine of an alarm receiver starved on a loaded board) afterwards
// hears what arrives at the usual delay again, instead of a second late for
// the rest of the call. Each frame carries its index in the signs of eight
// runs of samples, which G.711 keeps.
func TestReaderStallSkipsAhead(t *testing.T) {
	a, b, _, _ := pair(t, func(_, b *legOpts) { b.cfg.JitterDelay = 60 * time.Millisecond })
	const frames = 200 // 4 s
	sent := sendIndexed(a, frames, 0, 1)
	pcm := make([]int16, FrameSamples)
	last := int64(-1) // the last of the sender's frames read before the stall
	for range 40 {
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
		if i, ok := frameIndex(pcm); ok {
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
		if i, ok := frameIndex(pcm); ok {
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

// sendIndexed writes frames 20 ms apart from a goroutine, frame i carrying
// its index in the signs of eight runs of samples (which G.711 keeps),
// or, when every > 1, only every every-th frame and silence between; before
// them, burst frames of silence at once (a far end catching up). The
// result is the index of the last frame written (-1 before the first).
func sendIndexed(a *Session, frames, burst, every int) *atomic.Int64 {
	var sent atomic.Int64
	sent.Store(-1)
	go func() {
		var pcm [FrameSamples]int16
		for range burst {
			if a.WriteFrame(pcm[:]) != nil {
				return
			}
		}
		start := time.Now()
		for i := range frames {
			clear(pcm[:])
			for bit := range 8 {
				if i%every != 0 {
					break
				}
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
	return &sent
}

// frameIndex is the index sendIndexed put in pcm; false for silence
// (pre-roll or a lost frame).
func frameIndex(pcm []int16) (int64, bool) {
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
			return 0, false
		}
	}
	return i, true
}

// A reader that starts after the far end's audio (the first alarm call of
// a daemon, whose receiver a slow first setup started late) hears it at the
// usual delay from its first frame on: neither late by its start for the
// whole call nor catching up in a burst (its answers would then reach the
// far end's jitter buffer in a burst, and be heard that late all call).
// Either way the unit's acknowledgement would be late by as much after
// every message it sends.
func TestLateFirstReaderHearsAtTheDelay(t *testing.T) {
	a, b, _, _ := pair(t, func(_, b *legOpts) { b.cfg.JitterDelay = 60 * time.Millisecond })
	sent := sendIndexed(a, 150, 0, 1) // 3 s
	testkit.WaitFor(t, "the sender's first frame", 5*time.Second, func() bool { return sent.Load() >= 0 })
	time.Sleep(500 * time.Millisecond) // the late start under test
	pcm := make([]int16, FrameSamples)
	heard := 0
	firstLag := int64(-1)
	best := int64(1 << 30)
	for range 100 { // 2 s
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
		now := sent.Load()
		if i, ok := frameIndex(pcm); ok {
			heard++
			lag := (now - i) & 0xff
			best = min(best, lag)
			if firstLag < 0 {
				firstLag = lag
			}
		}
	}
	// 60 ms of jitter delay is 3 frames; a reader still behind by its
	// late start would be about 28 frames late, and so would the first
	// frames of one that caught up in a burst.
	if heard == 0 || best > 12 {
		t.Fatalf("a reader that started 500 ms after the audio hears frames %d frames (%d ms) after they were sent (%d heard), want about the jitter delay", best, best*20, heard)
	}
	if firstLag > 12 {
		t.Fatalf("a reader that started 500 ms after the audio first heard a frame %d frames (%d ms) old, want about the jitter delay (it read the backlog in a burst)", firstLag, firstLag*20)
	}
}

// A far end that sends faster than real time for a while (its own reader
// catching up after a stall answers in a burst) leaves the jitter buffer
// holding more than its delay; the reader sheds silence until it holds the
// delay again, instead of hearing everything after it that much later for
// the rest of the call (the daemon's alarm units heard every
// acknowledgement of a call 300-600 ms late). The tones themselves are
// not shortened.
func TestBurstFromTheFarEndIsNotKeptAsLatency(t *testing.T) {
	a, b, _, _ := pair(t, func(_, b *legOpts) { b.cfg.JitterDelay = 60 * time.Millisecond })
	pcm := make([]int16, FrameSamples)
	for range 5 { // the reader is on time before anything arrives
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
	}
	sent := sendIndexed(a, 150, 25, 4) // 500 ms at once, then 3 s with a tone every 4th frame
	best, heard, tones := int64(1<<30), 0, 0
	for k := range 150 {
		if err := b.ReadFrame(pcm); err != nil {
			t.Fatal(err)
		}
		now := sent.Load()
		i, ok := frameIndex(pcm)
		if !ok {
			continue
		}
		tones++
		if k >= 100 { // the last second
			heard++
			best = min(best, (now-i)&0xff)
		}
	}
	// 60 ms of delay and shedSlack are 6 frames; keeping the burst would
	// be 25 frames more.
	if heard == 0 || best > 12 {
		t.Fatalf("after a 500 ms burst the reader hears frames %d frames (%d ms) after they were sent (%d heard), want about the jitter delay", best, best*20, heard)
	}
	b.in.mu.Lock()
	shed := b.in.shed
	b.in.mu.Unlock()
	if shed == 0 || shed%FrameSamples != 0 {
		t.Errorf("shed %d samples, want whole frames of silence", shed)
	}
	if tones < 30 {
		t.Errorf("heard %d tone frames of about 37 sent in 3 s: tones were dropped", tones)
	}
}
