package alarmtest

import (
	"errors"
	"io"
	"math"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

var _ alarm.Channel = (*End)(nil)

// sendTone pushes n frames of a single tone from a to b and returns what b
// heard after the first skip frames (the pipe's latency and filter settling).
func sendTone(t *testing.T, o Options, freq float64, n, skip int) []int16 {
	t.Helper()
	a, b := NewPipe(o)
	g, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: freq, DBm0: -10, Ms: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var f, r [FrameSamples]int16
	var heard []int16
	for i := range n {
		if err := a.ReadFrame(r[:]); err != nil {
			t.Fatal(err)
		}
		g.Generate(f[:])
		if err := a.WriteFrame(f[:]); err != nil {
			t.Fatal(err)
		}
		if err := b.ReadFrame(r[:]); err != nil {
			t.Fatal(err)
		}
		if i >= skip {
			heard = append(heard, r[:]...)
		}
		if err := b.WriteFrame(make([]int16, FrameSamples)); err != nil {
			t.Fatal(err)
		}
	}
	return heard
}

// zeroCrossFreq estimates a single tone's frequency from its zero crossings.
func zeroCrossFreq(pcm []int16) float64 {
	first, last, n := -1, -1, 0
	for i := 1; i < len(pcm); i++ {
		if pcm[i-1] < 0 && pcm[i] >= 0 {
			if first < 0 {
				first = i
			}
			last = i
			n++
		}
	}
	return float64(n-1) * dsp.SampleRate / float64(last-first)
}

func TestTwistShapesGroups(t *testing.T) {
	for _, tw := range []float64{-8, 4} {
		o := Options{AtoB: Impairments{TwistDB: tw}}
		for _, pair := range [][2]float64{{941, 1209}, {697, 1633}, {852, 1336}} {
			lo := dsp.LevelDBm0(sendTone(t, o, pair[0], 40, 20))
			hi := dsp.LevelDBm0(sendTone(t, o, pair[1], 40, 20))
			if got := hi - lo; math.Abs(got-tw) > 0.2 {
				t.Errorf("TwistDB %v: %v Hz at %.2f dBm0, %v Hz at %.2f: twist %.2f dB", tw, pair[0], lo, pair[1], hi, got)
			}
		}
	}
}

func TestFreqOffsetScalesFrequency(t *testing.T) {
	for _, off := range []float64{-0.015, 0.015, 0.03} {
		heard := sendTone(t, Options{AtoB: Impairments{FreqOffset: off}}, 1000, 100, 5)
		got := zeroCrossFreq(heard)
		want := 1000 * (1 + off)
		if math.Abs(got-want) > 2 {
			t.Errorf("FreqOffset %v: heard %.1f Hz, want %.1f", off, got, want)
		}
		if lvl := dsp.LevelDBm0(heard); math.Abs(lvl+10) > 0.5 {
			t.Errorf("FreqOffset %v: level %.2f dBm0, want −10 (the resampler must not drop or attenuate)", off, lvl)
		}
	}
}

func TestLossAndJitterCounted(t *testing.T) {
	// 3 % loss, and jitter of σ 30 ms into a 2-frame buffer: a frame is
	// late when its delay passes 40 ms = 1.33σ, 18.2 % of the time.
	o := Options{AtoB: Impairments{Seed: 7, LossRate: 0.03, JitterMs: 30, JitterDepth: 2, Conceal: ConcealSilence}}
	a, b := NewPipe(o)
	const n = 5000
	var f, r [FrameSamples]int16
	for i := range f {
		f[i] = 1000
	}
	silent := 0
	for i := range n {
		a.ReadFrame(r[:])
		a.WriteFrame(f[:])
		b.ReadFrame(r[:])
		b.WriteFrame(r[:])
		if i >= 4 && r[0] == 0 {
			silent++
		}
	}
	st := b.Stats()
	if st.Frames != n {
		t.Fatalf("frames %d, want %d", st.Frames, n)
	}
	if lr := float64(st.Lost) / n; lr < 0.02 || lr > 0.04 {
		t.Errorf("lost %.3f of frames, want about 0.03", lr)
	}
	if lr := float64(st.Late) / n; lr < 0.16 || lr > 0.20 {
		t.Errorf("late %.3f of frames, want about 0.182", lr)
	}
	if silent < st.Lost+st.Late-5 || silent > st.Lost+st.Late {
		t.Errorf("%d silent frames heard, want the %d lost and late ones concealed with silence", silent, st.Lost+st.Late)
	}
}

func TestG711RoundTripAndNoise(t *testing.T) {
	clean := dsp.LevelDBm0(sendTone(t, Options{AtoB: Impairments{G711: "alaw"}}, 1000, 20, 2))
	if math.Abs(clean+10) > 0.3 {
		t.Errorf("A-law round trip level %.2f dBm0, want −10", clean)
	}
	// −10 dBm0 tone plus −25 dBm0 noise: power adds up to −9.87 dBm0.
	noisy := dsp.LevelDBm0(sendTone(t, Options{AtoB: Impairments{Seed: 1, NoiseDBm0: -25}}, 1000, 200, 2))
	if math.Abs(noisy-(-9.87)) > 0.1 {
		t.Errorf("tone with noise %.2f dBm0, want −9.87", noisy)
	}
}

func TestHangupEndsBothSides(t *testing.T) {
	a, b := NewPipe(Options{})
	var f [FrameSamples]int16
	if err := a.WriteFrame(f[:]); err != nil {
		t.Fatal(err)
	}
	a.Hangup()
	// b first gets the priming frame and the frame written before hangup.
	for i := range 2 {
		if err := b.ReadFrame(f[:]); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if err := b.ReadFrame(f[:]); err != io.EOF {
		t.Fatalf("after hangup: %v, want io.EOF", err)
	}
	if err := b.WriteFrame(f[:]); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after hangup: %v", err)
	}
}

func TestOutOfBandDigitsInPeerTime(t *testing.T) {
	a, b := NewPipe(Options{OutOfBand: true})
	var f [FrameSamples]int16
	if err := a.SendDigit('5', 60); err != nil {
		t.Fatal(err)
	}
	var got []dsp.DigitEvent
	for range 6 {
		a.ReadFrame(f[:])
		a.WriteFrame(f[:])
		b.ReadFrame(f[:])
		b.WriteFrame(f[:])
		select {
		case ev := <-b.Digits():
			got = append(got, ev)
			if b.Samples() < ev.End {
				t.Fatalf("digit ending at %d released at sample %d", ev.End, b.Samples())
			}
		default:
		}
	}
	if len(got) != 1 || got[0].Key != '5' || got[0].DurationMs() != 60 || got[0].Start != FrameSamples {
		t.Fatalf("got %+v, want one 60 ms '5' starting after one frame of latency", got)
	}
}
