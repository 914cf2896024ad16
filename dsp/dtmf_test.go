package dsp

import (
	"go/build"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDTMFFramesOfAnyLength(t *testing.T) {
	cfg := DTMFGenConfig{LowDBm0: -10, HighDBm0: -8, OnMs: 45, OffMs: 45}
	pcm, _ := AppendDTMF(silence(33), allKeys+allKeys, cfg)
	want := detectAll(pcm, len(pcm))
	if keysOf(want) != allKeys+allKeys {
		t.Fatalf("whole buffer: got %q", keysOf(want))
	}
	for _, n := range []int{1, 2, 7, 50, 51, 52, 101, 160, 1000} {
		got := detectAll(pcm, n)
		if len(got) != len(want) {
			t.Fatalf("frames of %d: %d digits, want %d", n, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("frames of %d: digit %d is %+v, whole buffer gives %+v", n, i, got[i], want[i])
			}
		}
	}
}

func TestDTMFRoundTripRandom(t *testing.T) {
	// Random keys at random levels, twist, durations and pauses inside the
	// Q.24 accept region, random frame lengths, through G.711.
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		c := codecs[trial%3]
		var keys []byte
		var pcm []int16
		type span struct{ start, end int }
		var spans []span
		pcm = append(pcm, silence(20+rng.IntN(200))...)
		for range 20 {
			k := allKeys[rng.IntN(16)]
			low := -25 + 22*rng.Float64()
			tw := -8 + 12*rng.Float64()
			on := 40 + rng.IntN(160)
			off := 40 + rng.IntN(100)
			g := DTMFGenConfig{LowDBm0: low, HighDBm0: low + tw, OnMs: on, OffMs: off,
				LowFreqErr: (rng.Float64()*2 - 1) * 0.015, HighFreqErr: (rng.Float64()*2 - 1) * 0.015}
			st := len(pcm)
			pcm, _ = AppendDTMF(pcm, string(k), g)
			spans = append(spans, span{st, st + on*8})
			keys = append(keys, k)
		}
		frame := 1 + rng.IntN(400)
		got := detectAll(c.f(pcm), frame)
		if keysOf(got) != string(keys) {
			t.Fatalf("trial %d (%s, frames of %d): got %q, want %q", trial, c.name, frame, keysOf(got), keys)
		}
		for i, e := range got {
			if d := e.Start - int64(spans[i].start); d < -48 || d > 48 {
				t.Errorf("trial %d digit %d: start %d, want %d ± 6 ms", trial, i, e.Start, spans[i].start)
			}
			if d := e.End - int64(spans[i].end); d < -48 || d > 48 {
				t.Errorf("trial %d digit %d: end %d, want %d ± 6 ms", trial, i, e.End, spans[i].end)
			}
		}
	}
}

func TestDTMFResetAndCurrent(t *testing.T) {
	pcm := tonePair(t, '9', -6, -4, 0, 0, 200)
	d := NewDTMFDetector(DTMFConfig{})
	d.Process(pcm[:800+800], nil) // 100 ms into the tone
	key, start, ok := d.Current()
	if !ok || key != '9' || start < 760 || start > 840 {
		t.Fatalf("Current() = %c %d %v, want 9 from about 800", key, start, ok)
	}
	d.Reset()
	if _, _, ok := d.Current(); ok || d.Samples() != 0 {
		t.Fatalf("after Reset: active %v, samples %d", ok, d.Samples())
	}
	if got := detectWith(d, pcm, 160); keysOf(got) != "9" || got[0].Start < 760 || got[0].Start > 840 {
		t.Fatalf("after Reset: got %+v", got)
	}
}

func TestDTMFConfigTightens(t *testing.T) {
	// A stricter level floor and twist limits are honoured.
	d := NewDTMFDetector(DTMFConfig{MinLevelDBm0: -20, MaxNormalTwistDB: 4})
	if got := detectWith(d, tonePair(t, '1', -25, -25, 0, 0, 60), 160); len(got) != 0 {
		t.Errorf("−25 dBm0 with a −20 dBm0 floor: got %q", keysOf(got))
	}
	d.Reset()
	if got := detectWith(d, tonePair(t, '1', -6, -12, 0, 0, 60), 160); len(got) != 0 {
		t.Errorf("6 dB twist with a 4 dB limit: got %q", keysOf(got))
	}
	d.Reset()
	if got := detectWith(d, tonePair(t, '1', -6, -8, 0, 0, 60), 160); keysOf(got) != "1" {
		t.Errorf("2 dB twist: got %q", keysOf(got))
	}
}

func TestDTMFGenerator(t *testing.T) {
	g := NewDTMFGenerator(DTMFGenConfig{LowDBm0: -7, HighDBm0: -5, OnMs: 70, OffMs: 30})
	if err := g.Queue("1x"); err == nil {
		t.Fatal("Queue accepted x")
	}
	if g.Busy() {
		t.Fatal("a refused Queue left keys queued")
	}
	if err := g.Queue("5"); err != nil {
		t.Fatal(err)
	}
	if err := g.QueueKey('B', 600, 0); err != nil {
		t.Fatal(err)
	}
	if err := g.QueueKey('B', 0, 0); err == nil {
		t.Fatal("QueueKey accepted 0 ms")
	}
	var out []int16
	frame := make([]int16, 160)
	for g.Busy() {
		n := g.Generate(frame)
		out = append(out, frame[:n]...)
	}
	if want := (70 + 30 + 600) * 8; len(out) != want {
		t.Fatalf("generated %d samples, want %d", len(out), want)
	}
	// Level of the first key: two tones at −7 and −5 dBm0.
	want := PowerToDBm0(refPower*math.Pow(10, -0.7) + refPower*math.Pow(10, -0.5))
	if got := LevelDBm0(out[:560]); math.Abs(got-want) > 0.1 {
		t.Errorf("level %.2f dBm0, want %.2f", got, want)
	}
	if LevelDBm0(out[560:800]) != math.Inf(-1) {
		t.Errorf("pause is not silent")
	}
	if got := detectAll(out, 160); keysOf(got) != "5B" || got[1].DurationMs() < 590 || got[1].DurationMs() > 610 {
		t.Errorf("detected %+v, want 5 then B of 600 ms", got)
	}
	for range 64 {
		_ = g.QueueKey('1', 10, 10)
	}
	if err := g.QueueKey('1', 10, 10); err != ErrQueueFull {
		t.Errorf("65th key: %v, want ErrQueueFull", err)
	}
}

func TestLevelDBm0(t *testing.T) {
	for _, l := range []float64{3, 0, -10, -40} {
		pcm := make([]int16, 8000)
		a := Amplitude(l)
		for i := range pcm {
			pcm[i] = clip16(a * math.Sin(2*math.Pi*1004*float64(i)/SampleRate))
		}
		if got := LevelDBm0(pcm); math.Abs(got-l) > 0.05 {
			t.Errorf("sine at %.0f dBm0 measures %.3f", l, got)
		}
	}
	if math.Abs(Amplitude(0)-22700) > 1e-9 {
		t.Errorf("Amplitude(0) = %v", Amplitude(0))
	}
}

func TestG711Batches(t *testing.T) {
	pcm := make([]int16, 65536)
	for i := range pcm {
		pcm[i] = int16(i - 32768)
	}
	for _, c := range []struct {
		name string
		enc  func([]byte, []int16) int
		dec  func([]int16, []byte) int
	}{{"alaw", AlawEncode, AlawDecode}, {"ulaw", UlawEncode, UlawDecode}} {
		b := make([]byte, len(pcm))
		if n := c.enc(b, pcm); n != len(pcm) {
			t.Fatalf("%s encode wrote %d", c.name, n)
		}
		out := make([]int16, len(pcm))
		c.dec(out, b)
		for i, s := range pcm {
			// G.711 keeps at least 7 bits of precision: the error is at
			// most 1/64 of the value (plus the smallest step).
			if d := math.Abs(float64(out[i]) - float64(s)); d > math.Abs(float64(s))/32+40 {
				t.Fatalf("%s: %d → %d", c.name, s, out[i])
			}
		}
		if n := c.dec(out[:10], b); n != 10 {
			t.Errorf("%s decode into 10 samples wrote %d", c.name, n)
		}
	}
}

func TestAllocations(t *testing.T) {
	pcm, _ := AppendDTMF(silence(50), "123", DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 60, OffMs: 60})
	alaw := make([]byte, len(pcm))
	AlawEncode(alaw, pcm)
	frame := make([]int16, 160)
	n := 0
	emit := func(DigitEvent) { n++ }
	d := NewDTMFDetector(DTMFConfig{})
	td, _ := NewToneDetector(ToneSpec{Freq1: 1400}, ToneSpec{Freq1: 350, Freq2: 440, Tolerance: 0.02})
	temit := func(ToneEvent) {}
	fd := NewFSKDemodulator(FSKConfig{})
	femit := func(FSKMessage) {}
	gen := NewDTMFGenerator(DefaultDTMFGen())
	tg, _ := NewToneGenerator(true, ToneSegment{Freq1: 425, DBm0: -10, Ms: 1000}, ToneSegment{Ms: 4000})
	fm := NewFSKModulator(V23, -10)
	payload := []byte("0101123405551234")
	cases := map[string]func(){
		"G.711 decode + DTMF detect": func() {
			d.Reset()
			for i := 0; i+160 <= len(alaw); i += 160 {
				AlawDecode(frame, alaw[i:i+160])
				d.Process(frame, emit)
			}
			d.Flush(emit)
		},
		"tone detect":   func() { td.Process(pcm[:1600], temit) },
		"FSK demod":     func() { fd.Process(pcm[:1600], femit) },
		"DTMF generate": func() { _ = gen.Queue("12"); gen.Generate(frame); gen.Generate(frame) },
		"tone generate": func() { tg.Generate(frame) },
		"FSK modulate":  func() { _ = fm.Queue(FSKTypeSDMF, payload, 30, 150); fm.Generate(frame) },
		"G.711 encode":  func() { AlawEncode(alaw[:160], frame); UlawEncode(alaw[:160], frame) },
	}
	for name, f := range cases {
		if a := testing.AllocsPerRun(50, f); a != 0 {
			t.Errorf("%s: %.1f allocations per run, want 0", name, a)
		}
	}
	if n == 0 {
		t.Error("the detector under test found no digits")
	}
}

// dsp is pure: it imports the standard library and zaf/g711 only.
func TestDSPImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(imp, ".") && imp != "github.com/zaf/g711" {
			t.Errorf("dsp imports %s: only the standard library and github.com/zaf/g711 are allowed", imp)
		}
	}
	for _, imp := range pkg.Imports {
		switch imp {
		case "os", "net", "io", "sync", "time", "log", "log/slog":
			t.Errorf("dsp imports %s: dsp does no I/O and keeps no clock", imp)
		}
	}
}

func FuzzDTMFDetector(f *testing.F) {
	seed, _ := AppendDTMF(nil, "1A#", DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 45, OffMs: 45})
	b := make([]byte, 2*len(seed))
	for i, s := range seed {
		b[2*i], b[2*i+1] = byte(s), byte(s>>8)
	}
	f.Add(uint16(160), b)
	f.Add(uint16(1), []byte{0x00, 0x80, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, frame uint16, data []byte) {
		pcm := make([]int16, len(data)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
		}
		n := int(frame%512) + 1
		got := detectAll(pcm, n)
		whole := detectAll(pcm, len(pcm)+1)
		if len(got) != len(whole) {
			t.Fatalf("frames of %d: %d digits, whole buffer %d", n, len(got), len(whole))
		}
		var last int64 = -1
		for i, e := range got {
			if e != whole[i] {
				t.Fatalf("frames of %d: %+v, whole buffer %+v", n, e, whole[i])
			}
			if !IsDTMFKey(e.Key) || e.Start < 0 || e.End <= e.Start || e.Start < last || e.End > int64(len(pcm))+dtmfM {
				t.Fatalf("bad event %+v after %d in %d samples", e, last, len(pcm))
			}
			last = e.End
		}
	})
}

func TestDTMFWithDCOffset(t *testing.T) {
	// A DC offset as an FXS line's converter may add does not hide weak
	// digits.
	for _, dc := range []int16{-3000, 1500, 3000} {
		pcm := tonePair(t, '8', -25, -25, 0, 0, 60)
		for i := range pcm {
			pcm[i] += dc
		}
		if got := detectAll(pcm, 160); keysOf(got) != "8" {
			t.Errorf("DC %d with tones at −25 dBm0: got %q", dc, keysOf(got))
		}
	}
}
