package dsp

import (
	"fmt"
	"math"
)

// ToneSpec is one tone a ToneDetector listens for: a single frequency
// (Freq2 0) or a dual one such as 350+440 Hz dial tone.
type ToneSpec struct {
	Name         string
	Freq1, Freq2 float64
	// Tolerance is the accepted frequency error of each tone as a fraction;
	// default 0.03 (the Contact ID handshake is specified to ±3 %, SIA
	// DC-05).
	Tolerance float64
	// MinMs is how long the tone must last to be reported; default 40 ms.
	MinMs int
	// MinDBm0 is the weakest level of each tone that counts; default −40.
	MinDBm0 float64
}

// ToneEvent reports a tone: once with On true when it has lasted MinMs
// (End is then the current sample), and once with On false when it ends.
type ToneEvent struct {
	Tone  int    // index of the ToneSpec
	Name  string // its name
	On    bool
	Start int64 // first sample of the tone
	End   int64 // first sample after it (so far, for On)
}

// DurationMs is the length of the tone so far, or in all, in ms.
func (e ToneEvent) DurationMs() int64 { return (e.End - e.Start) * 1000 / SampleRate }

// tonePurity is the share of the power the tone(s) must carry.
const tonePurity = 0.6

// toneTrack is the per-spec state: Goertzel filters over blocks of m
// samples sized to the spec (see NewToneDetector).
type toneTrack struct {
	toneConst

	s1, s2 [2]float64
	e      float64
	n      int
	block  int64 // index of the current block

	prevG  [2]complex128
	prevOK bool    // previous block passed the level and purity tests
	prevP  float64 // tone power of the previous block
	prev2P float64 // and of the one before
	runs   int64   // first block of the current tone (−1: none)
	hits   int
	last   int64 // last hit block
	misses int
	refP   float64
	on     bool
	start  int64
	edgeP  float64 // tone power of the block after the last hit
}

// toneConst is what NewToneDetector derives from a spec.
type toneConst struct {
	spec    ToneSpec
	nf      int
	m       int
	coef    [2]float64
	cosw    [2]float64
	sinw    [2]float64
	rotC    [2]float64
	rotS    [2]float64
	cosTol  [2]float64
	minPow  float64
	scale   float64
	maxMiss int
}

// ToneDetector finds configured single and dual tones with a minimum
// duration and a frequency tolerance. Frames may have any length; it
// allocates nothing after NewToneDetector.
type ToneDetector struct {
	tracks []toneTrack
}

// NewToneDetector returns a detector for specs (zero fields take defaults).
// Each spec gets a block length short enough that the phase step between
// blocks measures its tolerance without ambiguity, and (for a dual tone)
// long enough that the two tones do not leak into each other's filters.
func NewToneDetector(specs ...ToneSpec) (*ToneDetector, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("dsp: tone detector needs at least one tone")
	}
	d := &ToneDetector{tracks: make([]toneTrack, len(specs))}
	for i, s := range specs {
		if s.Tolerance == 0 {
			s.Tolerance = 0.03
		}
		if s.MinMs == 0 {
			s.MinMs = 40
		}
		if s.MinDBm0 == 0 {
			s.MinDBm0 = -40
		}
		if s.Freq1 <= 0 || s.Freq1 >= 3800 || s.Freq2 < 0 || s.Freq2 >= 3800 {
			return nil, fmt.Errorf("dsp: tone %d (%q): Freq1 must be in (0, 3800) Hz and Freq2 0 or in (0, 3800), got %g and %g", i, s.Name, s.Freq1, s.Freq2)
		}
		if s.Tolerance < 0 || s.Tolerance > 0.2 || s.MinMs < 0 {
			return nil, fmt.Errorf("dsp: tone %d (%q): Tolerance must be in (0, 0.2] and MinMs ≥ 0", i, s.Name)
		}
		t := &d.tracks[i]
		t.spec = s
		freqs := [2]float64{s.Freq1, s.Freq2}
		t.nf = 1
		if s.Freq2 > 0 {
			t.nf = 2
		}
		// Longest block whose phase step stays unambiguous at 1.6× the
		// tolerance, capped at 32 ms.
		maxM := 256
		for k := 0; k < t.nf; k++ {
			maxM = min(maxM, int(SampleRate/(2*1.6*s.Tolerance*freqs[k])))
		}
		minM := 32
		if t.nf == 2 {
			sep := math.Abs(freqs[0] - freqs[1])
			// Past the second sidelobe: leakage below −18 dB.
			minM = max(minM, int(math.Ceil(2.5*SampleRate/sep)))
		}
		if maxM < minM {
			return nil, fmt.Errorf("dsp: tone %d (%q): tolerance %.3g too wide for %g Hz and %g Hz so close together", i, s.Name, s.Tolerance, s.Freq1, s.Freq2)
		}
		t.m = maxM
		if t.nf == 1 {
			// A single tone does not need long blocks: shorter ones follow
			// cadences more closely.
			t.m = max(minM, min(maxM, 80))
		}
		for k := 0; k < t.nf; k++ {
			w := 2 * math.Pi * freqs[k] / SampleRate
			t.coef[k] = 2 * math.Cos(w)
			t.cosw[k] = math.Cos(w)
			t.sinw[k] = math.Sin(w)
			t.rotC[k] = math.Cos(w * float64(t.m))
			t.rotS[k] = -math.Sin(w * float64(t.m))
			t.cosTol[k] = math.Cos(math.Min(math.Pi, 2*math.Pi*s.Tolerance*freqs[k]*float64(t.m)/SampleRate))
		}
		a := Amplitude(s.MinDBm0)
		t.minPow = a * a / 2
		t.scale = 2 / float64(t.m*t.m)
		// Bridge dropouts up to 15 ms.
		t.maxMiss = max(1, (15*SampleRate/1000+t.m-1)/t.m)
		t.reset()
	}
	return d, nil
}

func (t *toneTrack) reset() { *t = toneTrack{toneConst: t.toneConst, runs: -1} }

// Reset forgets all state; sample counting restarts at 0.
func (d *ToneDetector) Reset() {
	for i := range d.tracks {
		d.tracks[i].reset()
	}
}

// BlockSamples is the analysis block of tone i, which is also the
// resolution of its start and end.
func (d *ToneDetector) BlockSamples(i int) int { return d.tracks[i].m }

// Process feeds pcm and calls emit (if not nil) for tone events.
func (d *ToneDetector) Process(pcm []int16, emit func(ToneEvent)) {
	for i := range d.tracks {
		t := &d.tracks[i]
		p := pcm
		for len(p) > 0 {
			n := min(t.m-t.n, len(p))
			t.feed(p[:n])
			p = p[n:]
			t.n += n
			if t.n == t.m {
				t.endBlock(i, emit)
			}
		}
	}
}

// Flush ends tones still sounding at the end of the stream.
func (d *ToneDetector) Flush(emit func(ToneEvent)) {
	for i := range d.tracks {
		t := &d.tracks[i]
		if t.on && emit != nil {
			emit(ToneEvent{Tone: i, Name: t.spec.Name, Start: t.start, End: (t.last + 1) * int64(t.m)})
		}
		t.on, t.runs, t.hits = false, -1, 0
	}
}

func (t *toneTrack) feed(p []int16) {
	a1, a2, b1, b2 := t.s1[0], t.s2[0], t.s1[1], t.s2[1]
	c0, c1 := t.coef[0], t.coef[1]
	e := t.e
	if t.nf == 1 {
		for _, s := range p {
			v := float64(s)
			e += v * v
			a1, a2 = v+c0*a1-a2, a1
		}
	} else {
		for _, s := range p {
			v := float64(s)
			e += v * v
			a1, a2 = v+c0*a1-a2, a1
			b1, b2 = v+c1*b1-b2, b1
		}
	}
	t.s1[0], t.s2[0], t.s1[1], t.s2[1] = a1, a2, b1, b2
	t.e = e
}

func (t *toneTrack) endBlock(idx int, emit func(ToneEvent)) {
	var g [2]complex128
	var pw float64
	ok := t.e >= t.minPow*float64(t.m)
	for k := 0; k < t.nf; k++ {
		g[k] = complex(t.s1[k]-t.cosw[k]*t.s2[k], t.sinw[k]*t.s2[k])
		p := (real(g[k])*real(g[k]) + imag(g[k])*imag(g[k])) * t.scale
		if p < t.minPow {
			ok = false
		}
		pw += p
	}
	if ok && pw < tonePurity*t.e/float64(t.m) {
		ok = false
	}
	if ok && t.nf == 2 {
		p0 := real(g[0])*real(g[0]) + imag(g[0])*imag(g[0])
		p1 := real(g[1])*real(g[1]) + imag(g[1])*imag(g[1])
		if p0 > 10*p1 || p1 > 10*p0 { // twist beyond 10 dB
			ok = false
		}
	}
	hit := ok && t.prevOK
	if hit {
		for k := 0; k < t.nf; k++ {
			// Phase step from the previous block, less the nominal one:
			// the frequency error times 2πM/fs.
			z := g[k] * complex(real(t.prevG[k]), -imag(t.prevG[k])) * complex(t.rotC[k], t.rotS[k])
			if real(z) < t.cosTol[k]*math.Hypot(real(z), imag(z)) {
				hit = false
			}
		}
	}
	b := t.block
	m := int64(t.m)
	if hit {
		if t.runs < 0 {
			// The tone began in the previous block, or in part of the one
			// before: a share f of a block gives f² of the power.
			t.runs = b - 1
			t.start = (b - 1) * m
			t.refP = pw
			if f := fill(t.prev2P, pw); f > 0 {
				t.start -= int64(f * float64(m))
			}
			t.hits = 0
		}
		t.hits++
		t.last = b
		t.misses = 0
		if !t.on && ((b+1)*m-t.start)*1000 >= int64(t.spec.MinMs)*SampleRate {
			t.on = true
			if emit != nil {
				emit(ToneEvent{Tone: idx, Name: t.spec.Name, On: true, Start: t.start, End: (b + 1) * m})
			}
		}
	} else if t.runs >= 0 {
		t.misses++
		if t.misses == 1 {
			t.edgeP = t.partialPow(g) // the block after the last hit
		}
		if t.misses > t.maxMiss {
			if t.on && emit != nil {
				end := (t.last + 1) * m
				if f := fill(t.edgeP, t.refP); f > 0 {
					end += int64(f * float64(m))
				}
				emit(ToneEvent{Tone: idx, Name: t.spec.Name, Start: t.start, End: end})
			}
			t.on, t.runs, t.hits = false, -1, 0
		}
	}
	t.prev2P, t.prevP = t.prevP, t.partialPow(g)
	t.prevG, t.prevOK = g, ok
	t.s1, t.s2, t.e, t.n = [2]float64{}, [2]float64{}, 0, 0
	t.block++
}

func (t *toneTrack) partialPow(g [2]complex128) float64 {
	var p float64
	for k := 0; k < t.nf; k++ {
		p += (real(g[k])*real(g[k]) + imag(g[k])*imag(g[k])) * t.scale
	}
	return p
}

// fill estimates the share of a block a tone occupied from its power p
// against the power ref of a full block.
func fill(p, ref float64) float64 {
	if ref <= 0 {
		return 0
	}
	f := math.Sqrt(p / ref)
	if f < 0.15 {
		return 0
	}
	return math.Min(f, 1)
}
