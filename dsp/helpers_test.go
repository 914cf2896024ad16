package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// codec is a path audio takes before the detector: linear, or a G.711
// round trip.
type codec struct {
	name string
	f    func([]int16) []int16
}

var codecs = []codec{
	{"linear", func(p []int16) []int16 { return p }},
	{"alaw", g711RoundTrip(AlawEncode, AlawDecode)},
	{"ulaw", g711RoundTrip(UlawEncode, UlawDecode)},
}

// g711RoundTrip compands p with enc and expands it back with dec, into new
// buffers.
func g711RoundTrip(enc func([]byte, []int16) int, dec func([]int16, []byte) int) func([]int16) []int16 {
	return func(p []int16) []int16 {
		b := make([]byte, len(p))
		enc(b, p)
		out := make([]int16, len(p))
		dec(out, b)
		return out
	}
}

// detectAll runs a fresh default detector over pcm in frames of n samples.
func detectAll(pcm []int16, n int) []DigitEvent {
	return detectWith(NewDTMFDetector(DTMFConfig{}), pcm, n)
}

func detectWith(d *DTMFDetector, pcm []int16, n int) []DigitEvent {
	var got []DigitEvent
	emit := func(e DigitEvent) { got = append(got, e) }
	for i := 0; i < len(pcm); i += n {
		d.Process(pcm[i:min(i+n, len(pcm))], emit)
	}
	d.Flush(emit)
	return got
}

func silence(ms int) []int16 { return make([]int16, ms*SampleRate/1000) }

// tonePair sounds key for ms with the given per-tone levels and frequency
// errors, framed by 100 ms of silence on each side.
func tonePair(t testing.TB, key byte, lowDB, highDB, lowErr, highErr float64, ms int) []int16 {
	t.Helper()
	pcm := silence(100)
	pcm, err := AppendDTMF(pcm, string(key), DTMFGenConfig{LowDBm0: lowDB, HighDBm0: highDB, OnMs: ms, OffMs: 100, LowFreqErr: lowErr, HighFreqErr: highErr})
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

// addNoise adds white Gaussian noise at level dBm0 (over the whole band).
func addNoise(pcm []int16, dBm0 float64, rng *rand.Rand) []int16 {
	sigma := math.Sqrt(refPower * math.Pow(10, dBm0/10))
	out := make([]int16, len(pcm))
	for i, s := range pcm {
		out[i] = clip16(float64(s) + sigma*rng.NormFloat64())
	}
	return out
}

func keysOf(ev []DigitEvent) string {
	b := make([]byte, len(ev))
	for i, e := range ev {
		b[i] = e.Key
	}
	return string(b)
}

const allKeys = "123A456B789C*0#D"
