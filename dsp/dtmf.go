package dsp

import "math"

// DTMF keys by row (low group) and column (high group), ITU-T Q.23.
var dtmfKeys = [4][4]byte{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// DTMF frequencies in Hz, ITU-T Q.23: four rows then four columns.
var dtmfFreqs = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// DTMFFreqs returns the low-group and high-group frequency of key, and false
// for a byte that is not a DTMF key.
func DTMFFreqs(key byte) (low, high float64, ok bool) {
	for r := range 4 {
		for c := range 4 {
			if dtmfKeys[r][c] == key {
				return dtmfFreqs[r], dtmfFreqs[4+c], true
			}
		}
	}
	return 0, 0, false
}

// IsDTMFKey reports whether key is one of the 16 DTMF keys.
func IsDTMFKey(key byte) bool { _, _, ok := DTMFFreqs(key); return ok }

// DTMFConfig tunes a DTMFDetector. The zero value gives the defaults, which
// meet the receiver requirements of ITU-T Q.24 (doc.go lists them).
type DTMFConfig struct {
	// MinLevelDBm0 is the weakest tone (each of the pair) that counts.
	// Default −45 dBm0: Q.24 asks for 0 to −25 dBm0 and silence below −55.
	MinLevelDBm0 float64
	// MaxReverseTwistDB is how much stronger the high tone may be than the
	// low tone. Default 6 dB (Q.24 requires 4 dB accepted).
	MaxReverseTwistDB float64
	// MaxNormalTwistDB is how much weaker the high tone may be than the
	// low tone. Default 10 dB (Q.24 requires 8 dB accepted).
	MaxNormalTwistDB float64
	// FreqTolerance is the largest accepted frequency error of each tone,
	// as a fraction. Default 0.026: Q.24 accepts 1.5 % and rejects 3.5 %.
	FreqTolerance float64
}

func (c DTMFConfig) withDefaults() DTMFConfig {
	if c.MinLevelDBm0 == 0 {
		c.MinLevelDBm0 = -45
	}
	if c.MaxReverseTwistDB == 0 {
		c.MaxReverseTwistDB = 6
	}
	if c.MaxNormalTwistDB == 0 {
		c.MaxNormalTwistDB = 10
	}
	if c.FreqTolerance == 0 {
		c.FreqTolerance = 0.026
	}
	return c
}

// The detector works on half blocks of dtmfM samples (6.375 ms). Each half
// gets a Goertzel filter per DTMF frequency; two consecutive halves form a
// 102-sample window (the block length spandsp uses) for the relative-peak
// test, and the phase advance of each filter between the halves measures the
// tone's frequency, which is what tells 1.5 % from 3.5 % apart: a magnitude
// test over 102 samples cannot (at 697 Hz the two differ by 1.2 dB).
const (
	dtmfM = 51
	// dtmfOnWindows consecutive agreeing windows start a digit: five good
	// halves, 32 ms of tone. A 40 ms tone always holds five whole halves,
	// a 23 ms one at most four usable ones (Q.24: accept ≥ 40 ms, reject
	// ≤ 23 ms).
	dtmfOnWindows = 4
	// dtmfOffHalves consecutive halves without the digit end it: 25.5 ms.
	// A 10 ms interruption spoils at most three halves and is bridged; a
	// 40 ms pause holds at least five.
	dtmfOffHalves = 4
	// dtmfPurity is the share of a half's power the two tones must carry.
	// 0.8 still passes 12 dB S/N (1000 of 1000 digits); 0.7 let two strong harmonics of a
	// synthetic female voice (7th and 9th of 134 Hz: 941 and 1209 Hz)
	// through in the talk-off test.
	dtmfPurity = 0.80
	// dtmfContPurity is the looser share that keeps a started digit going.
	dtmfContPurity = 0.55
	// dtmfRelPeak: the strongest filter of a group over a 102-sample
	// window must beat the other three by this power ratio (6 dB). With
	// 8 dB, a key at −1.5 % with 7 dB of twist failed every other window:
	// the neighbour column filter hears the column tone at −13 dB and the
	// row tone's leakage on top of it. A second tone in a group is caught
	// by the purity test and the phase-based frequency check as well.
	dtmfRelPeak = 3.98
	dtmfHist    = 8 // halves of history kept for edge estimates
)

// DTMFDetector is a streaming DTMF receiver. Feed it frames of any length;
// it reports each digit once, when it ends (about 25 ms after the tone
// stops), with start and end in samples; Current tells a digit that is
// still sounding. It allocates nothing after NewDTMFDetector.
//
// Per half block: an energy gate, the row filters (and a cheap test that a
// row tone could be part of a digit), the column filters, the choice of
// the strongest row and column over the 102-sample window, a solve of that
// pair's amplitudes free of cross-group leakage, then level, twist and the
// share of power the pair carries. Per window of two halves: the same key,
// a 6 dB peak in each group, each tone's frequency from its phase advance,
// and no exact octave between the tones. Four agreeing windows start a
// digit; while it lasts only its two filters run.
type DTMFDetector struct {
	dtmfConst

	buf [dtmfM]int16
	nb  int

	pos int64 // stream sample index of the next half's first sample

	// ring of recent halves
	hist [dtmfHist]halfResult
	nh   int64 // halves processed

	runKey  byte // key of the current run of valid windows
	runLen  int
	runFrom int64 // half index of the first half of the run

	active   bool
	key      byte
	kr, kc   int // the digit's row and column filters
	start    int64
	lastGood int64 // half index of the last half that continued the digit
	misses   int
	refPow   float64 // sum of tone power over the digit's good halves
	refCount int
}

// dtmfConst is what NewDTMFDetector derives from the configuration.
type dtmfConst struct {
	cfg DTMFConfig

	coef [8]float64 // 2 cos ω
	cosw [8]float64
	sinw [8]float64
	rotC [8]float64 // e^{−jωM}: brings a second half's phase back to the window start
	rotS [8]float64

	minTonePow  float64 // per-tone power, linear units squared
	minHalfE    float64 // gate below which a half is not filtered at all
	revTwist    float64 // max pc/pr
	normTwist   float64 // max pr/pc
	cosTol      [8]float64
	filterScale float64 // 2/M²: |G|² → tone power
}

type halfResult struct {
	gr, gi  [8]float64 // complex Goertzel output G = s1 − e^{−jω}s2
	pow     [8]float64 // |G|²
	energy  float64    // Σx²
	r, c    int        // strongest row, column
	a, b    complex128 // row and column tone, leakage removed (see pairSolve)
	key     byte       // key if the half alone passes level/twist/purity
	contKey byte       // key if it passes the looser continuation test
	ok      bool       // filtered at all (energy above the gate)
}

// NewDTMFDetector returns a detector with cfg (zero fields take defaults).
func NewDTMFDetector(cfg DTMFConfig) *DTMFDetector {
	d := &DTMFDetector{}
	d.cfg = cfg.withDefaults()
	for i, f := range dtmfFreqs {
		w := 2 * math.Pi * f / SampleRate
		d.coef[i] = 2 * math.Cos(w)
		d.cosw[i] = math.Cos(w)
		d.sinw[i] = math.Sin(w)
		d.rotC[i] = math.Cos(w * dtmfM)
		d.rotS[i] = -math.Sin(w * dtmfM)
		// Phase advance over M samples of a tone off by FreqTolerance.
		th := 2 * math.Pi * d.cfg.FreqTolerance * f * dtmfM / SampleRate
		d.cosTol[i] = math.Cos(math.Min(th, math.Pi))
	}
	a := Amplitude(d.cfg.MinLevelDBm0)
	d.minTonePow = a * a / 2
	d.minHalfE = d.minTonePow * dtmfM
	d.revTwist = math.Pow(10, d.cfg.MaxReverseTwistDB/10)
	d.normTwist = math.Pow(10, d.cfg.MaxNormalTwistDB/10)
	d.filterScale = 2.0 / (dtmfM * dtmfM)
	return d
}

// Reset forgets all state, as for a new call. Sample counting restarts at 0.
func (d *DTMFDetector) Reset() { *d = DTMFDetector{dtmfConst: d.dtmfConst} }

// Samples is the number of samples processed so far.
func (d *DTMFDetector) Samples() int64 { return d.pos + int64(d.nb) }

// Current reports the digit being heard right now, if any, and where it
// started; it is reported through emit when it ends.
func (d *DTMFDetector) Current() (key byte, start int64, ok bool) {
	return d.key, d.start, d.active
}

// Process feeds pcm to the detector and calls emit (if not nil) for each
// digit that ended within it.
func (d *DTMFDetector) Process(pcm []int16, emit func(DigitEvent)) {
	if d.nb > 0 {
		n := copy(d.buf[d.nb:], pcm)
		d.nb += n
		pcm = pcm[n:]
		if d.nb < dtmfM {
			return
		}
		d.half(d.buf[:], emit)
		d.nb = 0
	}
	for len(pcm) >= dtmfM {
		d.half(pcm[:dtmfM], emit)
		pcm = pcm[dtmfM:]
	}
	d.nb = copy(d.buf[:], pcm)
}

// Flush ends a digit still sounding at the end of the stream and reports
// it. Samples in a partial half block are taken as they are.
func (d *DTMFDetector) Flush(emit func(DigitEvent)) {
	if d.active {
		d.finish(emit)
	}
}

func (d *DTMFDetector) half(pcm []int16, emit func(DigitEvent)) {
	idx := d.nh
	h := &d.hist[idx%dtmfHist]
	*h = halfResult{}
	// Energy without the half's mean: a DC offset (an FXS line's ADC) is
	// no part of the signal the tones must dominate.
	var ei, sum int64
	for _, s := range pcm {
		ei += int64(s) * int64(s)
		sum += int64(s)
	}
	e := float64(ei) - float64(sum)*float64(sum)/float64(len(pcm))
	h.energy = e
	if e >= d.minHalfE {
		if d.active && d.continues(pcm, h) {
			d.nh++
			d.pos += int64(len(pcm))
			d.lastGood = idx
			d.misses = 0
			d.refPow += h.pow[d.kr] + h.pow[d.kc]
			d.refCount++
			d.runKey, d.runLen = 0, 0
			return
		}
		*h = halfResult{energy: e}
		if d.goertzel(h, pcm) {
			h.ok = true
			d.classify(h, &d.hist[(idx+dtmfHist-1)%dtmfHist])
		}
	}
	d.nh++
	d.pos += int64(len(pcm))
	d.track(idx, h, emit)
}

// continues is the fast path while a digit sounds: only its two filters
// run, straight on the samples, and if the half still carries the digit
// (level, twist and the looser continuation share, after the pair solve)
// nothing else is needed. The half is left marked not filtered (ok false)
// so that no window is built on it. If it fails, the caller runs the full
// analysis on the same samples.
func (d *DTMFDetector) continues(pcm []int16, h *halfResult) bool {
	r, c := d.kr, d.kc
	cr, cc := d.coef[r], d.coef[c]
	var a1, a2, b1, b2 float64
	i := 0
	for ; i+1 < len(pcm); i += 2 {
		v0, v1 := float64(pcm[i]), float64(pcm[i+1])
		a2 = v0 + cr*a1 - a2
		b2 = v0 + cc*b1 - b2
		a1 = v1 + cr*a2 - a1
		b1 = v1 + cc*b2 - b1
	}
	if i < len(pcm) {
		v := float64(pcm[i])
		a1, a2 = v+cr*a1-a2, a1
		b1, b2 = v+cc*b1-b2, b1
	}
	for k, s := range [2][2]float64{{a1, a2}, {b1, b2}} {
		j := r
		if k == 1 {
			j = c
		}
		re := s[0] - d.cosw[j]*s[1]
		im := d.sinw[j] * s[1]
		h.gr[j], h.gi[j] = re, im
		h.pow[j] = re*re + im*im
	}
	e := h.energy
	h.r, h.c = r, c
	h.a, h.b = pairSolve(h, r, c)
	pr := 2 * (real(h.a)*real(h.a) + imag(h.a)*imag(h.a))
	pc := 2 * (real(h.b)*real(h.b) + imag(h.b)*imag(h.b))
	if pr < d.minTonePow || pc < d.minTonePow || pc > pr*d.revTwist || pr > pc*d.normTwist {
		return false
	}
	if pr+pc < dtmfContPurity*e/dtmfM {
		return false
	}
	h.contKey = d.key
	return true
}

// goertzel runs the eight filters over d.x, four at a time so that the
// state stays in registers. The row filters go first: if no row tone is
// strong enough to be part of a digit (level, or a share of the power that
// even the largest reverse twist allows), the column pass is skipped and
// goertzel reports false. Speech and music fail here most of the time.
func (d *DTMFDetector) goertzel(h *halfResult, x []int16) bool {
	for g := 0; g < 8; g += 4 {
		c0, c1, c2, c3 := d.coef[g], d.coef[g+1], d.coef[g+2], d.coef[g+3]
		var a1, a2, b1, b2, e1, e2, f1, f2 float64
		// Two samples per step with the roles of the two state variables
		// swapped, so that no register moves are needed.
		i := 0
		for ; i+1 < len(x); i += 2 {
			v0, v1 := float64(x[i]), float64(x[i+1])
			a2 = v0 + c0*a1 - a2
			b2 = v0 + c1*b1 - b2
			e2 = v0 + c2*e1 - e2
			f2 = v0 + c3*f1 - f2
			a1 = v1 + c0*a2 - a1
			b1 = v1 + c1*b2 - b1
			e1 = v1 + c2*e2 - e1
			f1 = v1 + c3*f2 - f1
		}
		if i < len(x) {
			v := float64(x[i])
			a1, a2 = v+c0*a1-a2, a1
			b1, b2 = v+c1*b1-b2, b1
			e1, e2 = v+c2*e1-e2, e1
			f1, f2 = v+c3*f1-f2, f1
		}
		s1 := [4]float64{a1, b1, e1, f1}
		s2 := [4]float64{a2, b2, e2, f2}
		for k := range 4 {
			i := g + k
			re := s1[k] - d.cosw[i]*s2[k]
			im := d.sinw[i] * s2[k]
			h.gr[i], h.gi[i] = re, im
			h.pow[i] = re*re + im*im
		}
		if g == 0 {
			pr := max(h.pow[0], h.pow[1], h.pow[2], h.pow[3]) * d.filterScale
			// Purity needs pr+pc ≥ 0.8·mean with pc ≤ 4·pr (6 dB reverse
			// twist): pr ≥ 0.16·mean. 0.1 leaves room for leakage.
			if pr < 0.5*d.minTonePow || pr < 0.1*h.energy/dtmfM {
				return false
			}
		}
	}
	return true
}

// classify applies the tests that need one half only: strongest tone per
// group, level of each, twist and the share of power they carry.
//
// The strongest tones are chosen over the 102-sample window this half ends
// (the previous half, if filtered, summed coherently with it): over 51
// samples alone a neighbouring row filter 73 Hz away hears a tone only
// 3.3 dB down, and noise at 10 dB S/N sometimes flips the choice.
func (d *DTMFDetector) classify(h, p *halfResult) {
	var sel [8]float64
	for i := range 8 {
		re, im := h.gr[i], h.gi[i]
		if p.ok {
			// X = G1 + e^{−jωM}·G2
			re, im = p.gr[i]+d.rotC[i]*h.gr[i]-d.rotS[i]*h.gi[i], p.gi[i]+d.rotC[i]*h.gi[i]+d.rotS[i]*h.gr[i]
		}
		sel[i] = re*re + im*im
	}
	r, c := 0, 4
	for i := 1; i < 4; i++ {
		if sel[i] > sel[r] {
			r = i
		}
		if sel[4+i] > sel[c] {
			c = 4 + i
		}
	}
	h.r, h.c = r, c
	h.a, h.b = pairSolve(h, r, c)
	pr := 2 * (real(h.a)*real(h.a) + imag(h.a)*imag(h.a))
	pc := 2 * (real(h.b)*real(h.b) + imag(h.b)*imag(h.b))
	if pr < d.minTonePow || pc < d.minTonePow {
		return
	}
	if pc > pr*d.revTwist || pr > pc*d.normTwist {
		return
	}
	mean := h.energy / dtmfM
	key := dtmfKeys[r][c-4]
	if pr+pc >= dtmfContPurity*mean {
		h.contKey = key
	}
	if pr+pc >= dtmfPurity*mean {
		h.key = key
	}
}

// window checks two consecutive halves as one 102-sample block: the same
// key in both, a clear peak in each group, and each tone's frequency within
// tolerance, measured from the phase advance between the halves.
func (d *DTMFDetector) window(p, h *halfResult) bool {
	if h.key == 0 || p.key != h.key {
		return false
	}
	var full [8]float64
	for i := range 8 {
		// X = G1 + e^{−jωM}·G2
		re := p.gr[i] + d.rotC[i]*h.gr[i] - d.rotS[i]*h.gi[i]
		im := p.gi[i] + d.rotC[i]*h.gi[i] + d.rotS[i]*h.gr[i]
		full[i] = re*re + im*im
	}
	for _, lim := range [2][2]int{{0, h.r}, {4, h.c}} {
		base, pk := lim[0], lim[1]
		for i := base; i < base+4; i++ {
			if i != pk && full[i]*dtmfRelPeak > full[pk] {
				return false
			}
		}
	}
	var f [2]float64
	for k, i := range [2]int{h.r, h.c} {
		// z = A2·conj(A1)·e^{−jωM}; its angle is the frequency error times
		// 2πM/fs.
		a1, a2 := p.a, h.a
		if k == 1 {
			a1, a2 = p.b, h.b
		}
		z := a2 * complex(real(a1), -imag(a1)) * complex(d.rotC[i], d.rotS[i])
		if real(z) < d.cosTol[i]*math.Hypot(real(z), imag(z)) {
			return false
		}
		f[k] = dtmfFreqs[i] + math.Atan2(imag(z), real(z))*SampleRate/(2*math.Pi*dtmfM)
	}
	// A musical note and its octave (a harmonic timbre) can land within
	// tolerance of keys 2, 6 and C, whose tones are 1.917:1. A true key
	// inside the ±1.5 % Q.24 accepts is at most 1.975:1, so an exact
	// octave (±1 %) is rejected.
	if r := f[1] / f[0]; r > 1.98 && r < 2.02 {
		return false
	}
	return true
}

func (d *DTMFDetector) track(idx int64, h *halfResult, emit func(DigitEvent)) {
	var wkey byte
	if idx > 0 {
		p := &d.hist[(idx-1)%dtmfHist]
		if d.window(p, h) {
			wkey = h.key
		}
	}
	if wkey != 0 && wkey == d.runKey {
		d.runLen++
	} else if wkey != 0 {
		d.runKey, d.runLen, d.runFrom = wkey, 1, idx-1
	} else {
		d.runKey, d.runLen = 0, 0
	}

	if d.active {
		if h.contKey == d.key {
			d.lastGood = idx
			d.misses = 0
			d.refPow += h.pow[h.r] + h.pow[h.c]
			d.refCount++
		} else {
			d.misses++
			if d.misses >= dtmfOffHalves || (d.runLen >= dtmfOnWindows && d.runKey != d.key) {
				d.finish(emit)
			}
		}
	}
	if !d.active && d.runLen >= dtmfOnWindows {
		d.begin(idx)
	}
}

// begin starts a digit from the current run. The start is refined by the
// half before the run: a tone that fills a share f of it gives its filters
// f² of a full half's power.
func (d *DTMFDetector) begin(idx int64) {
	d.active = true
	d.key = d.runKey
	d.misses = 0
	d.lastGood = idx
	d.refPow, d.refCount = 0, 0
	r, c := d.hist[idx%dtmfHist].r, d.hist[idx%dtmfHist].c
	d.kr, d.kc = r, c
	first := d.runFrom
	for j := d.runFrom; j <= idx; j++ {
		hj := &d.hist[j%dtmfHist]
		d.refPow += hj.pow[r] + hj.pow[c]
		d.refCount++
	}
	d.start = first * dtmfM
	if first > 0 && idx-first+1 < dtmfHist {
		prev := &d.hist[(first-1)%dtmfHist]
		if prev.ok {
			d.start -= d.edge(prev, r, c)
		}
	}
}

// edge estimates how many samples of a partly filled half carry the tone.
func (d *DTMFDetector) edge(h *halfResult, r, c int) int64 {
	if d.refCount == 0 || d.refPow <= 0 {
		return 0
	}
	f := math.Sqrt((h.pow[r] + h.pow[c]) / (d.refPow / float64(d.refCount)))
	if f > 1 {
		f = 1
	}
	if f < 0.15 {
		return 0
	}
	return int64(f*dtmfM + 0.5)
}

func (d *DTMFDetector) finish(emit func(DigitEvent)) {
	ev := DigitEvent{Key: d.key, Start: d.start, End: (d.lastGood + 1) * dtmfM}
	next := d.lastGood + 1
	if next < d.nh && d.nh-next <= dtmfHist-1 {
		nh := &d.hist[next%dtmfHist]
		if nh.ok {
			r, c := d.hist[d.lastGood%dtmfHist].r, d.hist[d.lastGood%dtmfHist].c
			ev.End += d.edge(nh, r, c)
		}
	}
	d.active = false
	d.misses = 0
	if emit != nil {
		emit(ev)
	}
}

// pairInv[r][c] solves, for a half block holding a row tone r and a column
// tone c at their nominal frequencies, the four real unknowns of their
// complex amplitudes from the two Goertzel outputs. Over 51 samples a tone
// leaks up to −16 dB into the other group's filter (941 Hz into 1209 Hz),
// which at 8 dB of twist would move the weaker tone's level by ±4 dB and its
// phase by 0.4 rad; solving the pair removes that, and the negative
// frequency images too.
var pairInv [4][4][4][4]float64

// dftRot[i] turns Goertzel output G into the DFT value X = e^{−jω(M−1)}G.
var dftRot [8]complex128

func init() {
	k := func(delta float64) complex128 { // Σ_{n<M} e^{jδn}
		var s complex128
		for n := range dtmfM {
			s += complex(math.Cos(delta*float64(n)), math.Sin(delta*float64(n)))
		}
		return s
	}
	var w [8]float64
	for i, f := range dtmfFreqs {
		w[i] = 2 * math.Pi * f / SampleRate
		dftRot[i] = complex(math.Cos(w[i]*(dtmfM-1)), -math.Sin(w[i]*(dtmfM-1)))
	}
	for r := range 4 {
		for c := range 4 {
			wr, wc := w[r], w[4+c]
			// X_r = A·K(0) + Ā·K(−2ωr) + B·K(ωc−ωr) + B̄·K(−ωc−ωr), and
			// X_c likewise; A = Ar + jAi, B = Br + jBi.
			rows := [2][4]complex128{
				{k(0), k(-2 * wr), k(wc - wr), k(-wc - wr)},
				{k(wr - wc), k(-wr - wc), k(0), k(-2 * wc)},
			}
			var m [4][4]float64
			for j, cs := range rows {
				// coefficient p+jq on A and on Ā contribute to Re and Im.
				p, q := real(cs[0]), imag(cs[0])
				pc, qc := real(cs[1]), imag(cs[1])
				m[2*j][0], m[2*j][1] = p+pc, -q+qc
				m[2*j+1][0], m[2*j+1][1] = q+qc, p-pc
				p, q = real(cs[2]), imag(cs[2])
				pc, qc = real(cs[3]), imag(cs[3])
				m[2*j][2], m[2*j][3] = p+pc, -q+qc
				m[2*j+1][2], m[2*j+1][3] = q+qc, p-pc
			}
			pairInv[r][c] = invert4(m)
		}
	}
}

// pairSolve returns the complex amplitudes (e^{jωn} components, n from the
// half's start) of row tone r and column tone c.
func pairSolve(h *halfResult, r, c int) (a, b complex128) {
	xr := dftRot[r] * complex(h.gr[r], h.gi[r])
	xc := dftRot[c] * complex(h.gr[c], h.gi[c])
	v := [4]float64{real(xr), imag(xr), real(xc), imag(xc)}
	m := &pairInv[r][c-4]
	var u [4]float64
	for i := range 4 {
		u[i] = m[i][0]*v[0] + m[i][1]*v[1] + m[i][2]*v[2] + m[i][3]*v[3]
	}
	return complex(u[0], u[1]), complex(u[2], u[3])
}

func invert4(m [4][4]float64) [4][4]float64 {
	var a [4][8]float64
	for i := range 4 {
		copy(a[i][:4], m[i][:])
		a[i][4+i] = 1
	}
	for col := range 4 {
		p := col
		for i := col + 1; i < 4; i++ {
			if math.Abs(a[i][col]) > math.Abs(a[p][col]) {
				p = i
			}
		}
		a[col], a[p] = a[p], a[col]
		inv := 1 / a[col][col]
		for j := range 8 {
			a[col][j] *= inv
		}
		for i := range 4 {
			if i != col {
				f := a[i][col]
				for j := range 8 {
					a[i][j] -= f * a[col][j]
				}
			}
		}
	}
	var out [4][4]float64
	for i := range 4 {
		copy(out[i][:], a[i][4:])
	}
	return out
}
