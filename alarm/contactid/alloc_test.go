package contactid

import (
	"context"
	"math"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/dsp"
)

// listeningSession is a receiver session past its handshake, fed the 15
// first digits of a message: digits are detected and collected, but no
// message completes, so any allocation would be per frame.
func listeningSession(tb testing.TB) (*session, [][]int16) {
	tb.Helper()
	r, err := NewReceiver(Config{Log: alarmtest.Discard})
	if err != nil {
		tb.Fatal(err)
	}
	ch, _ := alarmtest.NewPipe(alarmtest.Options{}) // only asked for Digits(): in-band
	s, err := r.newSession(context.Background(), ch, alarm.Call{ID: "bench"}, &alarmtest.Queue{})
	if err != nil {
		tb.Fatal(err)
	}
	s.toneEnd = 0 // as if the handshake were over
	s.listen(0)
	s.deadline = math.MaxInt64
	m := mustBuild(tb, "1234", "1", "130", "01", "015")
	cfg := dsp.DefaultDTMFGen()
	cfg.OnMs, cfg.OffMs = 55, 55
	pcm, err := dsp.AppendDTMF(nil, m.Keys()[:15], cfg)
	if err != nil {
		tb.Fatal(err)
	}
	pcm = append(pcm, make([]int16, 800)...) // each pass ends in silence
	var frames [][]int16
	for i := 0; i+alarm.FrameSamples <= len(pcm); i += alarm.FrameSamples {
		frames = append(frames, pcm[i:i+alarm.FrameSamples])
	}
	return s, frames
}

func TestReceiverStepAllocatesNothing(t *testing.T) {
	s, frames := listeningSession(t)
	out := make([]int16, alarm.FrameSamples)
	heard := 0
	allocs := testing.AllocsPerRun(20, func() {
		s.col.Reset()
		for _, f := range frames {
			s.step(f, out)
		}
		n, _ := s.col.Partial()
		heard += n
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per %d frames, want 0", allocs, len(frames))
	}
	if heard != 21*15 {
		t.Errorf("collected %d digits over 21 runs, want 15 each: the benchmark must exercise detection", heard)
	}
}

// BenchmarkReceiverFrame is the receiver's cost per 20 ms frame while a
// message is arriving (detector, collector, timers, output).
func BenchmarkReceiverFrame(b *testing.B) {
	s, frames := listeningSession(b)
	out := make([]int16, alarm.FrameSamples)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(frames) == 0 {
			s.col.Reset()
		}
		s.step(frames[i%len(frames)], out)
	}
}
