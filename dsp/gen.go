package dsp

import (
	"errors"
	"fmt"
	"math"
)

// oscillator is a phase-continuous sine source.
type oscillator struct {
	phase float64 // in cycles, [0,1)
	inc   float64 // cycles per sample
	amp   float64
}

func (o *oscillator) set(freq, dBm0 float64) {
	o.inc = freq / SampleRate
	if freq == 0 {
		o.amp = 0
		return
	}
	o.amp = Amplitude(dBm0)
}

func (o *oscillator) next() float64 {
	if o.amp == 0 {
		return 0
	}
	v := o.amp * math.Sin(2*math.Pi*o.phase)
	o.phase += o.inc
	if o.phase >= 1 {
		o.phase -= 1
	}
	return v
}

func clip16(v float64) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

// DTMFGenConfig sets how a DTMFGenerator sounds. Levels are per tone;
// twist is HighDBm0 − LowDBm0.
type DTMFGenConfig struct {
	LowDBm0, HighDBm0 float64
	OnMs, OffMs       int // tone and pause of each key
	// LowFreqErr and HighFreqErr shift each tone by a fraction (tests of
	// frequency tolerance); normally 0.
	LowFreqErr, HighFreqErr float64
}

// DefaultDTMFGen is a sender as Q.23 suggests: −7/−5 dBm0 (2 dB twist),
// 70 ms on, 70 ms off.
func DefaultDTMFGen() DTMFGenConfig {
	return DTMFGenConfig{LowDBm0: -7, HighDBm0: -5, OnMs: 70, OffMs: 70}
}

type queuedKey struct {
	key     byte
	on, off int32 // samples
}

// DTMFGenerator produces DTMF keys frame by frame into caller buffers. Keys
// are queued with Queue or QueueKey; Generate writes tone, pause or silence.
// It allocates nothing after NewDTMFGenerator.
type DTMFGenerator struct {
	cfg      DTMFGenConfig
	q        [64]queuedKey
	qh, qn   int
	cur      queuedKey
	at       int32 // samples into cur
	busy     bool
	low, hig oscillator
}

// ErrQueueFull is returned when more keys are queued than the generator holds.
var ErrQueueFull = errors.New("dsp: DTMF generator queue full (64 keys)")

// NewDTMFGenerator returns an idle generator.
func NewDTMFGenerator(cfg DTMFGenConfig) *DTMFGenerator { return &DTMFGenerator{cfg: cfg} }

// Queue adds keys with the configured durations. Nothing is queued if any
// key is invalid or the queue would overflow.
func (g *DTMFGenerator) Queue(keys string) error {
	for i := 0; i < len(keys); i++ {
		if !IsDTMFKey(keys[i]) {
			return fmt.Errorf("dsp: %q at %d is not a DTMF key", keys[i], i)
		}
	}
	if g.qn+len(keys) > len(g.q) {
		return ErrQueueFull
	}
	for i := 0; i < len(keys); i++ {
		g.push(keys[i], g.cfg.OnMs, g.cfg.OffMs)
	}
	return nil
}

// QueueKey adds one key with its own durations (BS 8521 holds B for 600 ms).
func (g *DTMFGenerator) QueueKey(key byte, onMs, offMs int) error {
	if !IsDTMFKey(key) {
		return fmt.Errorf("dsp: %q is not a DTMF key", key)
	}
	if onMs <= 0 || offMs < 0 {
		return fmt.Errorf("dsp: DTMF durations on %d ms, off %d ms: on must be > 0, off ≥ 0", onMs, offMs)
	}
	if g.qn == len(g.q) {
		return ErrQueueFull
	}
	g.push(key, onMs, offMs)
	return nil
}

func (g *DTMFGenerator) push(key byte, onMs, offMs int) {
	g.q[(g.qh+g.qn)%len(g.q)] = queuedKey{key, int32(onMs * SampleRate / 1000), int32(offMs * SampleRate / 1000)}
	g.qn++
}

// Busy reports whether a key is sounding, pausing or queued.
func (g *DTMFGenerator) Busy() bool { return g.busy || g.qn > 0 }

// Generate fills all of pcm: queued keys and their pauses, then silence. It
// returns how many samples belonged to keys or pauses.
func (g *DTMFGenerator) Generate(pcm []int16) int {
	used := 0
	for i := range pcm {
		if !g.busy {
			if g.qn == 0 {
				clear(pcm[i:])
				return used
			}
			g.cur = g.q[g.qh]
			g.qh = (g.qh + 1) % len(g.q)
			g.qn--
			g.at = 0
			g.busy = true
			lo, hi, _ := DTMFFreqs(g.cur.key)
			g.low = oscillator{}
			g.hig = oscillator{}
			g.low.set(lo*(1+g.cfg.LowFreqErr), g.cfg.LowDBm0)
			g.hig.set(hi*(1+g.cfg.HighFreqErr), g.cfg.HighDBm0)
		}
		if g.at < g.cur.on {
			pcm[i] = clip16(g.low.next() + g.hig.next())
		} else {
			pcm[i] = 0
		}
		g.at++
		used++
		if g.at >= g.cur.on+g.cur.off {
			g.busy = false
		}
	}
	return used
}

// AppendDTMF appends keys sounded with cfg to dst (a convenience for tests
// and tools; it allocates as append does).
func AppendDTMF(dst []int16, keys string, cfg DTMFGenConfig) ([]int16, error) {
	g := NewDTMFGenerator(cfg)
	var frame [160]int16
	for i := 0; i < len(keys); {
		n := min(len(keys)-i, len(g.q)-g.qn)
		if err := g.Queue(keys[i : i+n]); err != nil {
			return dst, err
		}
		i += n
		for g.Busy() {
			u := g.Generate(frame[:])
			dst = append(dst, frame[:u]...)
		}
	}
	return dst, nil
}

// ToneSegment is one step of a cadence: one or two tones (Freq2 0 for a
// single tone, Freq1 0 for silence) at DBm0 each, for Ms milliseconds.
type ToneSegment struct {
	Freq1, Freq2 float64
	DBm0         float64
	Ms           int
}

// ToneGenerator plays a cadence of up to 16 segments, once or repeated
// (handshake 1400 Hz / 2300 Hz, kissoff, ringback 425 Hz 1 s on 4 s off).
type ToneGenerator struct {
	segs   [16]ToneSegment
	n      int
	repeat bool
	idx    int
	at     int
	done   bool
	o1, o2 oscillator
}

// NewToneGenerator returns a generator for segs, played once or repeated.
func NewToneGenerator(repeat bool, segs ...ToneSegment) (*ToneGenerator, error) {
	if len(segs) == 0 || len(segs) > 16 {
		return nil, fmt.Errorf("dsp: tone cadence has %d segments, want 1 to 16", len(segs))
	}
	g := &ToneGenerator{n: len(segs), repeat: repeat}
	total := 0
	for i, s := range segs {
		if s.Ms < 0 || s.Freq1 < 0 || s.Freq2 < 0 || s.Freq1 >= SampleRate/2 || s.Freq2 >= SampleRate/2 {
			return nil, fmt.Errorf("dsp: tone segment %d: frequencies must be in [0, 4000) Hz and Ms ≥ 0, got %+v", i, s)
		}
		total += s.Ms
		g.segs[i] = s
	}
	if total == 0 {
		return nil, errors.New("dsp: tone cadence lasts 0 ms")
	}
	g.Reset()
	return g, nil
}

// Reset restarts the cadence from its first segment.
func (g *ToneGenerator) Reset() {
	g.idx, g.at, g.done = 0, 0, false
	g.load()
}

func (g *ToneGenerator) load() {
	s := g.segs[g.idx]
	g.o1.set(s.Freq1, s.DBm0)
	g.o2.set(s.Freq2, s.DBm0)
}

// Done reports whether a cadence played once has ended.
func (g *ToneGenerator) Done() bool { return g.done }

// Generate fills all of pcm with the cadence (silence after it ends) and
// returns how many samples belonged to the cadence.
func (g *ToneGenerator) Generate(pcm []int16) int {
	for i := range pcm {
		for !g.done && g.at >= g.segs[g.idx].Ms*SampleRate/1000 {
			g.at = 0
			g.idx++
			if g.idx == g.n {
				if !g.repeat {
					g.done = true
					break
				}
				g.idx = 0
			}
			g.load()
		}
		if g.done {
			clear(pcm[i:])
			return i
		}
		pcm[i] = clip16(g.o1.next() + g.o2.next())
		g.at++
	}
	return len(pcm)
}
