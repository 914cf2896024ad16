package dsp

// Conformance in the structure of the Mitel CM7291 DTMF receiver test:
// decode check, bandwidth, twist, dynamic range, guard time, S/N. Each
// requirement of ITU-T Q.24 (the table in doc.go) is an assertion, and each
// runs on linear PCM and through A-law and µ-law.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Requirements (ITU-T Q.24 as doc.go lists them).
const (
	reqAcceptFreq    = 0.015 // accept each tone within ±1.5 %
	reqRejectFreq    = 0.035 // reject beyond ±3.5 %
	reqMinLevel      = -25.0 // operate from 0 to −25 dBm0 per tone
	reqNeverBelow    = -55.0 // never operate below −55 dBm0
	reqReverseTwist  = 4.0   // high tone up to 4 dB stronger
	reqNormalTwist   = 8.0   // high tone up to 8 dB weaker
	reqAcceptMs      = 40    // accept ≥ 40 ms
	reqRejectMs      = 23    // reject ≤ 23 ms
	reqBridgeMs      = 10    // bridge interruptions ≤ 10 ms
	reqPauseMs       = 40    // accept pauses ≥ 40 ms
	reqSNR           = 15.0  // detect at S/N ≥ 15 dB
	reqDynamicRangeB = 35.0  // CM7291: at least 35 dB of dynamic range
)

// Our own margins beyond the requirements, kept as assertions so that a
// regression shows.
const (
	ourMinLevel     = -40.0 // accept down to −40 dBm0 per tone
	ourRejectLevel  = -50.0 // and nothing at −50 dBm0 or below
	ourRejectRevTw  = 8.0   // reject a high tone 8 dB stronger
	ourRejectNormTw = 12.0  // reject a high tone 12 dB weaker
)

func TestCM7291DecodeCheck(t *testing.T) {
	// 16 digits × 10 at −4 dBm0 per tone, 50 ms on, 50 ms off.
	var want string
	for range 10 {
		want += allKeys
	}
	cfg := DTMFGenConfig{LowDBm0: -4, HighDBm0: -4, OnMs: 50, OffMs: 50}
	pcm, err := AppendDTMF(silence(100), want, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codecs {
		got := detectAll(c.f(pcm), 160)
		if keysOf(got) != want {
			t.Fatalf("%s: got %d digits %q, want %q", c.name, len(got), keysOf(got), want)
		}
		for i, e := range got {
			start := int64(800 + i*800)
			if d := e.Start - start; d < -40 || d > 40 {
				t.Errorf("%s: digit %d starts at %d, want %d ± 5 ms", c.name, i, e.Start, start)
			}
			if d := e.End - (start + 400); d < -40 || d > 40 {
				t.Errorf("%s: digit %d ends at %d, want %d ± 5 ms", c.name, i, e.End, start+400)
			}
		}
	}
}

func TestCM7291Bandwidth(t *testing.T) {
	offsets := []float64{0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.06}
	for _, c := range codecs {
		widest := map[string]float64{}
		for k := 0; k < len(allKeys); k++ {
			key := allKeys[k]
			for _, tone := range []string{"low", "high", "both"} {
				for _, off := range offsets {
					for _, sign := range []float64{-1, 1} {
						lo, hi := 0.0, 0.0
						switch tone {
						case "low":
							lo = sign * off
						case "high":
							hi = sign * off
						default:
							lo, hi = sign*off, sign*off
						}
						got := detectAll(c.f(tonePair(t, key, -4, -4, lo, hi, 60)), 160)
						ok := len(got) == 1 && got[0].Key == key
						name := fmt.Sprintf("%s key %c %s tone %+.1f%%", c.name, key, tone, sign*off*100)
						if off <= reqAcceptFreq+1e-9 && !ok {
							t.Errorf("%s: not accepted (got %q)", name, keysOf(got))
						}
						if off >= reqRejectFreq-1e-9 && len(got) != 0 {
							t.Errorf("%s: accepted %q, want rejection", name, keysOf(got))
						}
						if ok {
							lf, hf, _ := DTMFFreqs(key)
							f := fmt.Sprintf("%s %.0f", tone, lf)
							if tone == "high" {
								f = fmt.Sprintf("%s %.0f", tone, hf)
							}
							widest[f] = max(widest[f], sign*off)
						}
					}
				}
			}
		}
		t.Logf("%s: widest accepted positive offset per tone: %v", c.name, widest)
	}
}

func TestCM7291Twist(t *testing.T) {
	for _, c := range codecs {
		for k := 0; k < len(allKeys); k++ {
			key := allKeys[k]
			// twist = high − low level in dB; the stronger tone at −6 dBm0.
			for tw := -16.0; tw <= 12; tw++ {
				lo, hi := -6.0, -6.0+tw
				if tw > 0 {
					lo, hi = -6.0-tw, -6.0
				}
				got := detectAll(c.f(tonePair(t, key, lo, hi, 0, 0, 60)), 160)
				ok := len(got) == 1 && got[0].Key == key
				switch {
				case tw >= -reqNormalTwist && tw <= reqReverseTwist && !ok:
					t.Errorf("%s key %c twist %+.0f dB: not accepted (got %q)", c.name, key, tw, keysOf(got))
				case (tw <= -ourRejectNormTw || tw >= ourRejectRevTw) && len(got) != 0:
					t.Errorf("%s key %c twist %+.0f dB: accepted %q, want rejection", c.name, key, tw, keysOf(got))
				}
			}
		}
	}
}

func TestCM7291DynamicRange(t *testing.T) {
	for _, c := range codecs {
		lowest, highest := 100.0, -100.0
		for k := 0; k < len(allKeys); k++ {
			key := allKeys[k]
			// Composite level +3 … −70 dBm0: each tone 3 dB below.
			for comp := 3.0; comp >= -70; comp-- {
				per := comp - 3.01
				got := detectAll(c.f(tonePair(t, key, per, per, 0, 0, 60)), 160)
				ok := len(got) == 1 && got[0].Key == key
				switch {
				case per >= ourMinLevel && !ok:
					t.Errorf("%s key %c at %.1f dBm0 per tone: not accepted (got %q)", c.name, key, per, keysOf(got))
				case per <= ourRejectLevel && len(got) != 0:
					t.Errorf("%s key %c at %.1f dBm0 per tone: accepted %q, want nothing", c.name, key, per, keysOf(got))
				}
				if ok {
					lowest, highest = min(lowest, comp), max(highest, comp)
				}
			}
		}
		t.Logf("%s: accepted composite levels %+.0f … %+.0f dBm0: %.0f dB", c.name, highest, lowest, highest-lowest)
		if highest-lowest < reqDynamicRangeB || highest < 3 || lowest-3.01 > reqMinLevel {
			t.Errorf("%s: dynamic range %+.0f … %+.0f dBm0 composite, want ≥ %.0f dB from +3 and down to %.0f per tone", c.name, highest, lowest, reqDynamicRangeB, reqMinLevel)
		}
	}
	// Never below −55 dBm0, with every alignment of the blocks.
	for off := 0; off < 51; off += 5 {
		pcm := append(silence(0), make([]int16, off)...)
		pcm = append(pcm, tonePair(t, '5', reqNeverBelow, reqNeverBelow, 0, 0, 200)...)
		if got := detectAll(pcm, 160); len(got) != 0 {
			t.Errorf("at %.0f dBm0: detected %q", reqNeverBelow, keysOf(got))
		}
	}
}

func TestCM7291GuardTime(t *testing.T) {
	for _, c := range codecs {
		for ms := 10; ms <= 60; ms++ {
			for off := 0; off < 51; off += 3 {
				key := allKeys[(ms+off)%16]
				pcm := append(make([]int16, off), tonePair(t, key, -6, -4, 0, 0, ms)...)
				got := detectAll(c.f(pcm), 160)
				if ms >= reqAcceptMs && (len(got) != 1 || got[0].Key != key) {
					t.Errorf("%s: %d ms tone %c (offset %d): got %q, want one digit", c.name, ms, key, off, keysOf(got))
				}
				if ms <= reqRejectMs && len(got) != 0 {
					t.Errorf("%s: %d ms tone %c (offset %d): got %q, want none", c.name, ms, key, off, keysOf(got))
				}
			}
		}
	}
}

func TestCM7291Interruptions(t *testing.T) {
	cfg := DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 60, OffMs: 0}
	for _, c := range codecs {
		for off := 0; off < 51; off += 4 {
			// 60 ms tone, a gap, 60 ms of the same tone.
			for gap := 1; gap <= 60; gap++ {
				pcm := silence(100)
				pcm = append(pcm, make([]int16, off)...)
				pcm, _ = AppendDTMF(pcm, "7", cfg)
				pcm = append(pcm, silence(gap)...)
				pcm, _ = AppendDTMF(pcm, "7", cfg)
				pcm = append(pcm, silence(100)...)
				got := detectAll(c.f(pcm), 160)
				if gap <= reqBridgeMs && keysOf(got) != "7" {
					t.Errorf("%s: gap of %d ms (offset %d): got %q, want one 7 (bridged)", c.name, gap, off, keysOf(got))
				}
				if gap >= reqPauseMs && keysOf(got) != "77" {
					t.Errorf("%s: pause of %d ms (offset %d): got %q, want two 7s", c.name, gap, off, keysOf(got))
				}
			}
		}
	}
}

func TestCM7291NoiseSNR(t *testing.T) {
	// 1000 digits (stricter receivers' figure) at 15 dB S/N, white noise
	// over the whole band, tones −6/−4 dBm0, 50 ms on and off.
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]byte, 1000)
	for i := range keys {
		keys[i] = allKeys[rng.IntN(16)]
	}
	cfg := DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 50, OffMs: 50}
	clean, _ := AppendDTMF(silence(100), string(keys), cfg)
	// Signal power: both tones.
	sig := PowerToDBm0(refPower*math.Pow(10, -0.6) + refPower*math.Pow(10, -0.4))
	for _, c := range codecs {
		for _, snr := range []float64{reqSNR, 12} {
			noisy := addNoise(clean, sig-snr, rng)
			got := detectAll(c.f(noisy), 160)
			if snr >= reqSNR && keysOf(got) != string(keys) {
				t.Errorf("%s: S/N %.0f dB: %d digits detected of 1000, first difference at %d", c.name, snr, len(got), firstDiff(keysOf(got), string(keys)))
			}
			if snr < reqSNR {
				t.Logf("%s: S/N %.0f dB: %d of 1000 detected, exact=%v", c.name, snr, len(got), keysOf(got) == string(keys))
			}
		}
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
