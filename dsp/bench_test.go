package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// benchAlaw is the benchmark signal: random keys, 50 ms on, 50 ms off,
// −6/−4 dBm0, A-law, as a Contact ID panel sends them.
func benchAlaw(tb testing.TB, seconds int) []byte {
	rng := rand.New(rand.NewPCG(7, 7))
	keys := make([]byte, seconds*10)
	for i := range keys {
		keys[i] = allKeys[rng.IntN(16)]
	}
	pcm, err := AppendDTMF(nil, string(keys), DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 50, OffMs: 50})
	if err != nil {
		tb.Fatal(err)
	}
	b := make([]byte, len(pcm))
	AlawEncode(b, pcm)
	return b
}

// benchDecodeDetect runs A-law decode and DTMF detection in 20 ms frames
// and reports the speed as a multiple of real time on one core.
func benchDecodeDetect(b *testing.B, alaw []byte) {
	d := NewDTMFDetector(DTMFConfig{})
	var frame [160]int16
	n := 0
	emit := func(DigitEvent) { n++ }
	b.SetBytes(int64(len(alaw)))
	b.ResetTimer()
	for range b.N {
		d.Reset()
		for i := 0; i+160 <= len(alaw); i += 160 {
			AlawDecode(frame[:], alaw[i:i+160])
			d.Process(frame[:], emit)
		}
		d.Flush(emit)
	}
	b.StopTimer()
	reportRealtime(b, len(alaw))
	if n == 0 {
		b.Fatal("no digits detected")
	}
}

// reportRealtime reports the speed of a benchmark whose every run handles
// samples of audio as a multiple of real time on one core.
func reportRealtime(b *testing.B, samples int) {
	b.ReportMetric(float64(samples)/SampleRate/(b.Elapsed().Seconds()/float64(b.N)), "x_realtime")
}

// benchFrames runs reset, then process over pcm in 20 ms frames, b.N times,
// and reports the speed.
func benchFrames(b *testing.B, pcm []int16, reset func(), process func([]int16)) {
	b.ResetTimer()
	for range b.N {
		reset()
		for i := 0; i+160 <= len(pcm); i += 160 {
			process(pcm[i : i+160])
		}
	}
	reportRealtime(b, len(pcm))
}

func BenchmarkDTMFAlawDigits(b *testing.B) { benchDecodeDetect(b, benchAlaw(b, 10)) }

// Continuous tone: no silence for the energy gate to skip, the worst case.
func BenchmarkDTMFAlawContinuous(b *testing.B) {
	pcm, _ := AppendDTMF(nil, "5", DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 10000})
	a := make([]byte, len(pcm))
	AlawEncode(a, pcm)
	benchDecodeDetect(b, a)
}

func BenchmarkAlawDecode(b *testing.B) {
	a := benchAlaw(b, 1)
	out := make([]int16, len(a))
	b.SetBytes(int64(len(a)))
	for range b.N {
		AlawDecode(out, a)
	}
	reportRealtime(b, len(a))
}

func BenchmarkToneDetector(b *testing.B) {
	g, _ := NewToneGenerator(true, ToneSegment{Freq1: 1400, DBm0: -10, Ms: 100}, ToneSegment{Ms: 100}, ToneSegment{Freq1: 2300, DBm0: -10, Ms: 100}, ToneSegment{Ms: 200})
	pcm := make([]int16, 10*SampleRate)
	g.Generate(pcm)
	d, err := NewToneDetector(ToneSpec{Name: "1400", Freq1: 1400}, ToneSpec{Name: "2300", Freq1: 2300})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	emit := func(ToneEvent) { n++ }
	benchFrames(b, pcm, d.Reset, func(f []int16) { d.Process(f, emit) })
	if n == 0 {
		b.Fatal("no tones")
	}
}

func BenchmarkFSKDemodulator(b *testing.B) {
	m := NewFSKModulator(Bell202, -10)
	var pcm []int16
	var f [160]int16
	for range 5 {
		if err := m.Queue(FSKTypeMDMF, []byte("\x01\x0811221230\x02\x0a0123456789\x07\x04NAME"), 30, 150); err != nil {
			b.Fatal(err)
		}
		for m.Busy() {
			k := m.Generate(f[:])
			pcm = append(pcm, f[:k]...)
		}
	}
	d := NewFSKDemodulator(FSKConfig{})
	n := 0
	emit := func(FSKMessage) { n++ }
	benchFrames(b, pcm, d.Reset, func(f []int16) { d.Process(f, emit) })
	if n == 0 {
		b.Fatal("no messages")
	}
}

// mixedAlarmAlaw is a Contact ID call as a gateway hears it: ringback-like
// silence with line noise, the handshake, 16 digits, the kissoff, then
// speech-like harmonic sound (voice path), A-law.
func mixedAlarmAlaw(tb testing.TB) []byte {
	rng := rand.New(rand.NewPCG(9, 9))
	pcm := make([]int16, 0, 10*SampleRate)
	hs, _ := NewToneGenerator(false, ToneSegment{Ms: 500}, ToneSegment{Freq1: 1400, DBm0: -10, Ms: 100}, ToneSegment{Ms: 100}, ToneSegment{Freq1: 2300, DBm0: -10, Ms: 100}, ToneSegment{Ms: 250})
	frame := make([]int16, 160)
	for !hs.Done() {
		n := hs.Generate(frame)
		pcm = append(pcm, frame[:n]...)
	}
	pcm, _ = AppendDTMF(pcm, "123418113001015E"[:15]+"*", DTMFGenConfig{LowDBm0: -8, HighDBm0: -6, OnMs: 55, OffMs: 55})
	ko, _ := NewToneGenerator(false, ToneSegment{Ms: 200}, ToneSegment{Freq1: 1400, DBm0: -10, Ms: 800})
	for !ko.Done() {
		n := ko.Generate(frame)
		pcm = append(pcm, frame[:n]...)
	}
	// Voice path: harmonic vowels with a wandering pitch.
	f0 := 120.0
	ph := 0.0
	for i := 0; i < 5*SampleRate; i++ {
		if i%800 == 0 {
			f0 = 90 + 150*rng.Float64()
		}
		ph += f0 / SampleRate
		var v float64
		for h := 1; h <= 12; h++ {
			v += math.Sin(2*math.Pi*ph*float64(h)) / float64(h)
		}
		pcm = append(pcm, clip16(3000*v))
	}
	pcm = addNoise(pcm, -60, rng)
	b := make([]byte, len(pcm))
	AlawEncode(b, pcm)
	return b
}

func BenchmarkDTMFAlawMixed(b *testing.B) { benchDecodeDetect(b, mixedAlarmAlaw(b)) }
