package dsp

import (
	"math/rand/v2"
	"testing"
)

func cadence(t *testing.T, repeatMs int, segs ...ToneSegment) []int16 {
	t.Helper()
	g, err := NewToneGenerator(repeatMs > 0, segs...)
	if err != nil {
		t.Fatal(err)
	}
	if repeatMs > 0 {
		pcm := make([]int16, repeatMs*8)
		g.Generate(pcm)
		return pcm
	}
	var out []int16
	f := make([]int16, 160)
	for !g.Done() {
		n := g.Generate(f)
		out = append(out, f[:n]...)
	}
	return out
}

func toneEvents(t *testing.T, pcm []int16, specs ...ToneSpec) []ToneEvent {
	t.Helper()
	d, err := NewToneDetector(specs...)
	if err != nil {
		t.Fatal(err)
	}
	var ev []ToneEvent
	emit := func(e ToneEvent) { ev = append(ev, e) }
	for i := 0; i < len(pcm); i += 160 {
		d.Process(pcm[i:min(i+160, len(pcm))], emit)
	}
	d.Flush(emit)
	return ev
}

// offs returns the tone-end events.
func offs(ev []ToneEvent) []ToneEvent {
	var o []ToneEvent
	for _, e := range ev {
		if !e.On {
			o = append(o, e)
		}
	}
	return o
}

func near(a, b, tol int64) bool { return a-b <= tol && b-a <= tol }

func TestToneContactIDHandshake(t *testing.T) {
	// SIA DC-05: 1400 Hz 100 ms, 100 ms silence, 2300 Hz 100 ms (±3 %).
	pcm := cadence(t, 0, ToneSegment{Ms: 300}, ToneSegment{Freq1: 1400, DBm0: -10, Ms: 100}, ToneSegment{Ms: 100},
		ToneSegment{Freq1: 2300, DBm0: -10, Ms: 100}, ToneSegment{Ms: 300})
	specs := []ToneSpec{{Name: "1400", Freq1: 1400, MinMs: 80}, {Name: "2300", Freq1: 2300, MinMs: 80}}
	for _, c := range codecs {
		ev := offs(toneEvents(t, c.f(pcm), specs...))
		if len(ev) != 2 || ev[0].Name != "1400" || ev[1].Name != "2300" {
			t.Fatalf("%s: events %+v, want 1400 then 2300", c.name, ev)
		}
		for i, want := range []int64{2400, 4000} {
			if !near(ev[i].Start, want, 40) || !near(ev[i].End, want+800, 40) {
				t.Errorf("%s: %s from %d to %d, want %d to %d (±5 ms)", c.name, ev[i].Name, ev[i].Start, ev[i].End, want, want+800)
			}
		}
	}
}

func TestToneTolerance(t *testing.T) {
	spec := ToneSpec{Name: "1400", Freq1: 1400, Tolerance: 0.03}
	for _, off := range []float64{-0.05, -0.04, -0.02, -0.01, 0, 0.01, 0.02, 0.04, 0.05} {
		pcm := cadence(t, 0, ToneSegment{Ms: 100}, ToneSegment{Freq1: 1400 * (1 + off), DBm0: -12, Ms: 200}, ToneSegment{Ms: 100})
		got := offs(toneEvents(t, pcm, spec))
		switch {
		case (off >= -0.02 && off <= 0.02) && len(got) != 1:
			t.Errorf("1400 Hz %+.0f%%: %d tones, want 1 (within ±3 %%)", off*100, len(got))
		case (off <= -0.04 || off >= 0.04) && len(got) != 0:
			t.Errorf("1400 Hz %+.0f%%: %d tones, want none (beyond ±3 %%)", off*100, len(got))
		}
	}
}

func TestToneMinDurationKissoff(t *testing.T) {
	// The panel needs ≥ 400 ms of kissoff (SIA DC-05): detect it only
	// then, and report its whole length when it ends.
	spec := ToneSpec{Name: "kissoff", Freq1: 1400, MinMs: 400}
	short := cadence(t, 0, ToneSegment{Ms: 100}, ToneSegment{Freq1: 1400, DBm0: -10, Ms: 300}, ToneSegment{Ms: 200})
	if ev := toneEvents(t, short, spec); len(ev) != 0 {
		t.Errorf("300 ms tone with MinMs 400: %+v", ev)
	}
	long := cadence(t, 0, ToneSegment{Ms: 100}, ToneSegment{Freq1: 1400, DBm0: -10, Ms: 800}, ToneSegment{Ms: 200})
	ev := toneEvents(t, long, spec)
	if len(ev) != 2 || !ev[0].On || ev[1].On {
		t.Fatalf("800 ms tone: %+v, want on then off", ev)
	}
	if d := ev[0].DurationMs(); d < 400 || d > 420 {
		t.Errorf("on reported after %d ms, want 400–420", d)
	}
	if d := ev[1].DurationMs(); d < 790 || d > 810 {
		t.Errorf("tone lasted %d ms, want 800 ± 10", d)
	}
}

func TestToneCallProgress(t *testing.T) {
	dial := ToneSpec{Name: "dial", Freq1: 350, Freq2: 440, Tolerance: 0.02, MinMs: 200}
	ring := ToneSpec{Name: "425", Freq1: 425, Tolerance: 0.02, MinMs: 200}
	busy := ToneSpec{Name: "400", Freq1: 400, Tolerance: 0.015, MinMs: 200}
	// Dual tone: 350+440 is dial tone, 350 alone is not.
	pcm := cadence(t, 0, ToneSegment{Ms: 100}, ToneSegment{Freq1: 350, Freq2: 440, DBm0: -13, Ms: 1000}, ToneSegment{Ms: 300},
		ToneSegment{Freq1: 350, DBm0: -13, Ms: 1000}, ToneSegment{Ms: 100})
	ev := offs(toneEvents(t, pcm, dial))
	if len(ev) != 1 || !near(ev[0].Start, 800, 100) || !near(ev[0].End, 8800, 100) {
		t.Errorf("dial tone: %+v, want one from 800 to 8800", ev)
	}
	// Ringback 425 Hz 1 s on, 4 s off, twice; with the 400 Hz detector
	// listening too (2 % tolerance cannot confuse 425 with 400).
	pcm = cadence(t, 10000, ToneSegment{Freq1: 425, DBm0: -15, Ms: 1000}, ToneSegment{Ms: 4000})
	ev = offs(toneEvents(t, pcm, ring, busy))
	if len(ev) != 2 || ev[0].Name != "425" || ev[1].Name != "425" {
		t.Fatalf("ringback: %+v, want two 425 Hz tones", ev)
	}
	for i, e := range ev {
		if !near(e.Start, int64(i)*40000, 160) || !near(e.End-e.Start, 8000, 200) {
			t.Errorf("ringback %d: %d to %d", i, e.Start, e.End)
		}
	}
	// Busy 400 Hz 375 ms on / 375 ms off.
	pcm = cadence(t, 3000, ToneSegment{Freq1: 400, DBm0: -15, Ms: 375}, ToneSegment{Ms: 375})
	ev = offs(toneEvents(t, pcm, ring, busy))
	if len(ev) != 4 {
		t.Fatalf("busy: %d tones, want 4: %+v", len(ev), ev)
	}
	for _, e := range ev {
		if e.Name != "400" || !near(e.End-e.Start, 3000, 160) {
			t.Errorf("busy: %+v, want 400 Hz for 375 ms", e)
		}
	}
}

func TestToneNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	pcm := cadence(t, 0, ToneSegment{Ms: 200}, ToneSegment{Freq1: 2300, DBm0: -20, Ms: 100}, ToneSegment{Ms: 200})
	for range 20 {
		noisy := addNoise(pcm, -35, rng) // 15 dB S/N
		if ev := offs(toneEvents(t, noisy, ToneSpec{Name: "2300", Freq1: 2300, MinMs: 80})); len(ev) != 1 {
			t.Fatalf("2300 Hz at 15 dB S/N: %+v", ev)
		}
	}
	// Noise alone is no tone.
	if ev := toneEvents(t, addNoise(make([]int16, 80000), -20, rng), ToneSpec{Freq1: 1400}, ToneSpec{Freq1: 350, Freq2: 440, Tolerance: 0.02}); len(ev) != 0 {
		t.Errorf("white noise: %+v", ev)
	}
}

func TestToneSpecErrors(t *testing.T) {
	for _, s := range [][]ToneSpec{
		nil,
		{{Freq1: 0}},
		{{Freq1: 5000}},
		{{Freq1: 1000, Tolerance: 0.5}},
		{{Freq1: 1000, Freq2: 1010}}, // too close for 3 %
	} {
		if _, err := NewToneDetector(s...); err == nil {
			t.Errorf("NewToneDetector(%+v) accepted", s)
		}
	}
	if _, err := NewToneGenerator(false); err == nil {
		t.Error("NewToneGenerator with no segments accepted")
	}
	if _, err := NewToneGenerator(false, ToneSegment{Freq1: 5000, Ms: 10}); err == nil {
		t.Error("NewToneGenerator at 5 kHz accepted")
	}
}

func TestCadence(t *testing.T) {
	busy := Cadence{Name: "busy", OnMs: 375, OffMs: 375, Cycles: 3}
	ring := Cadence{Name: "ringback", OnMs: 1000, OffMs: 4000}
	spec := ToneSpec{Name: "425", Freq1: 425, Tolerance: 0.02, MinMs: 100}
	heard := func(pcm []int16, c Cadence) int64 {
		d := NewCadenceDetector(0, c)
		for _, e := range toneEvents(t, pcm, spec) {
			if d.Feed(e) {
				return e.End
			}
		}
		return -1
	}
	busyPCM := cadence(t, 6000, ToneSegment{Freq1: 425, DBm0: -15, Ms: 375}, ToneSegment{Ms: 375})
	ringPCM := cadence(t, 12000, ToneSegment{Freq1: 425, DBm0: -15, Ms: 1000}, ToneSegment{Ms: 4000})
	// Busy is recognised at the end of its third tone (2 × 750 + 375 ms).
	if at := heard(busyPCM, busy); !near(at, 1875*8, 160) {
		t.Errorf("busy recognised at sample %d, want about %d", at, 1875*8)
	}
	if at := heard(ringPCM, busy); at != -1 {
		t.Errorf("ringback taken for busy at %d", at)
	}
	if at := heard(ringPCM, ring); !near(at, 6000*8, 160) {
		t.Errorf("ringback recognised at %d, want about %d", at, 6000*8)
	}
	if at := heard(busyPCM, ring); at != -1 {
		t.Errorf("busy taken for ringback at %d", at)
	}
}
