package alarmtest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/edgebridge/edgebridge/dsp"
)

// FrameSamples is the frame the pipe carries: 20 ms at 8 kHz.
const FrameSamples = 160

// Concealment is what the far end hears in place of a lost or late frame.
type Concealment int

const (
	// ConcealRepeat repeats the last frame heard, as a G.711 receiver's
	// packet loss concealment roughly does (G.711 Appendix I).
	ConcealRepeat Concealment = iota
	// ConcealSilence plays silence: the harshest case.
	ConcealSilence
)

// Impairments shape one direction of a pipe. The zero value is a clean path.
// They are applied in the order of a real path: the line (twist, clock
// offset, noise) before the G.711 encoder, the network (loss, jitter) after.
type Impairments struct {
	Seed uint64 // for noise, loss and jitter; the same seed gives the same call

	// TwistDB raises (positive) or lowers the band above 1075 Hz, where the
	// DTMF high group lives, against the band below: a line's tilt.
	TwistDB float64
	// FreqOffset scales every frequency by 1+FreqOffset (and time by its
	// inverse), as a sender with an off clock does: 0.015 is +1.5 %.
	FreqOffset float64
	// NoiseDBm0 adds white Gaussian noise at this level; 0 means none.
	NoiseDBm0 float64
	// GainDB scales the signal (before noise).
	GainDB float64
	// G711 is "alaw" or "ulaw" to round-trip every frame through G.711.
	G711 string
	// LossRate is the share of frames the network loses (0.01 = 1 %).
	LossRate float64
	// JitterMs is the standard deviation of the network delay; each frame
	// is delayed by |N(0, JitterMs)|. The receiver's jitter buffer holds
	// JitterDepth frames, so a frame delayed more than that arrives too
	// late and is concealed.
	JitterMs    float64
	JitterDepth int
	// Conceal is what replaces a lost or late frame.
	Conceal Concealment
}

// Options configure a pipe.
type Options struct {
	AtoB, BtoA Impairments
	// OutOfBand gives both ends a Digits channel and makes SendDigit
	// deliver DigitEvents to the peer (RFC 4733) instead of tones.
	OutOfBand bool
	// InBandToo makes an out-of-band SendDigit also sound the key in the
	// audio, as gateways do that send RFC 4733 without muting the tone.
	InBandToo bool
}

// Stats counts what happened to the frames one end received.
type Stats struct {
	Frames, Lost, Late int
}

// ErrClosed is returned by WriteFrame and SendDigit after hangup.
var ErrClosed = fmt.Errorf("alarmtest: call hung up: %w", io.EOF)

// End is one end of a pipe; it satisfies alarm.Channel.
type End struct {
	p    *pipe
	in   chan [FrameSamples]int16 // frames toward this end
	peer *End
	path *path // impairs frames this end writes

	mu       sync.Mutex
	rpos     int64 // samples read
	wpos     int64 // samples written
	pending  []dsp.DigitEvent
	digits   chan dsp.DigitEvent
	inband   *dsp.DTMFGenerator
	overlay  [FrameSamples]int16
	stats    Stats
	received []int16 // everything read, when recording
	record   bool
	both     bool // out-of-band digits also sound in band
}

type pipe struct {
	once   sync.Once
	closed chan struct{}
}

// NewPipe returns two connected ends. Each direction starts with a latency
// of one frame (plus the jitter depth), so that two ends that each read a
// frame and then write one never wait on each other.
func NewPipe(o Options) (a, b *End) {
	p := &pipe{closed: make(chan struct{})}
	a = &End{p: p, in: make(chan [FrameSamples]int16, 512)}
	b = &End{p: p, in: make(chan [FrameSamples]int16, 512)}
	a.peer, b.peer = b, a
	a.path = newPath(o.AtoB, b)
	b.path = newPath(o.BtoA, a)
	if o.OutOfBand {
		a.digits = make(chan dsp.DigitEvent, 64)
		b.digits = make(chan dsp.DigitEvent, 64)
	}
	a.inband = dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())
	b.inband = dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())
	a.both, b.both = o.InBandToo, o.InBandToo
	for _, e := range []*End{a, b} {
		for range 1 + e.peer.path.depth {
			e.in <- [FrameSamples]int16{}
		}
	}
	return a, b
}

// Record makes the end keep everything it reads (see Received).
func (e *End) Record() { e.mu.Lock(); e.record = true; e.mu.Unlock() }

// Received returns what the end has read so far, when recording.
func (e *End) Received() []int16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int16(nil), e.received...)
}

// Stats returns what happened to the frames this end received.
func (e *End) Stats() Stats { e.mu.Lock(); defer e.mu.Unlock(); return e.stats }

// Samples is how many samples this end has read: its sample clock.
func (e *End) Samples() int64 { e.mu.Lock(); defer e.mu.Unlock(); return e.rpos }

// ReadFrame blocks for the next frame from the peer. Frames already sent
// before a hangup are still delivered; then it returns io.EOF.
func (e *End) ReadFrame(pcm []int16) error {
	var f [FrameSamples]int16
	select {
	case f = <-e.in:
	default:
		select {
		case f = <-e.in:
		case <-e.p.closed:
			select {
			case f = <-e.in:
			default:
				return io.EOF
			}
		}
	}
	n := copy(pcm, f[:])
	clear(pcm[n:])
	e.mu.Lock()
	e.rpos += FrameSamples
	if e.record {
		e.received = append(e.received, f[:]...)
	}
	// Out-of-band digits are released once the reader's clock has passed
	// their end, as an RTP receiver reports an event at its end packet.
	k := 0
	for _, ev := range e.pending {
		if ev.End <= e.rpos && e.digits != nil {
			select {
			case e.digits <- ev:
			default:
			}
			continue
		}
		e.pending[k] = ev
		k++
	}
	e.pending = e.pending[:k]
	e.mu.Unlock()
	return nil
}

// WriteFrame sends one frame toward the peer through this direction's impairments.
func (e *End) WriteFrame(pcm []int16) error {
	select {
	case <-e.p.closed:
		return ErrClosed
	default:
	}
	var f [FrameSamples]int16
	copy(f[:], pcm)
	e.mu.Lock()
	if e.inband.Busy() {
		e.inband.Generate(e.overlay[:])
		for i := range f {
			f[i] = sat(int32(f[i]) + int32(e.overlay[i]))
		}
	}
	e.wpos += FrameSamples
	e.mu.Unlock()
	out, lost, late := e.path.process(f)
	e.peer.mu.Lock()
	e.peer.stats.Frames++
	if lost {
		e.peer.stats.Lost++
	}
	if late {
		e.peer.stats.Late++
	}
	e.peer.mu.Unlock()
	select {
	case e.peer.in <- out:
		return nil
	case <-e.p.closed:
		return ErrClosed
	}
}

// Digits returns the out-of-band digits from the peer, or nil for a pipe
// without out-of-band DTMF.
func (e *End) Digits() <-chan dsp.DigitEvent {
	if e.digits == nil {
		return nil
	}
	return e.digits
}

// SendDigit sends key for durationMs: as an event in the peer's sample time
// on an out-of-band pipe, otherwise as tone mixed into the next frames.
func (e *End) SendDigit(key byte, durationMs int) error {
	select {
	case <-e.p.closed:
		return ErrClosed
	default:
	}
	if !dsp.IsDTMFKey(key) {
		return errors.New("alarmtest: SendDigit: not a DTMF key")
	}
	if e.digits == nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.inband.QueueKey(key, durationMs, 0)
	}
	e.mu.Lock()
	start := e.wpos + int64(1+e.path.depth)*FrameSamples // in the peer's clock
	if e.both {
		_ = e.inband.QueueKey(key, durationMs, 0)
	}
	e.mu.Unlock()
	ev := dsp.DigitEvent{Key: key, Start: start, End: start + int64(durationMs)*dsp.SampleRate/1000}
	e.peer.mu.Lock()
	e.peer.pending = append(e.peer.pending, ev)
	e.peer.mu.Unlock()
	return nil
}

// Hangup ends the call for both ends.
func (e *End) Hangup() error {
	e.p.once.Do(func() { close(e.p.closed) })
	return nil
}

func sat(v int32) int16 {
	return int16(max(-32768, min(32767, v)))
}

// path applies one direction's impairments, frame by frame.
type path struct {
	im    Impairments
	rng   *rand.Rand
	gain  float64
	noise float64 // rms
	depth int

	// twist: linear-phase FIR high-pass split, out = x + (g−1)·hp(x)
	hp      []float64
	twistG  float64
	hist    []float64
	histPos int

	// clock offset: windowed-sinc resampler over a sample backlog
	ratio float64
	src   []float64
	pos   float64

	last [FrameSamples]int16
}

const (
	twistTaps   = 255  // Blackman, 255 taps: the ~170 Hz transition fits between 941 and 1209 Hz
	twistCorner = 1075 // Hz, between the DTMF groups
	sincHalf    = 8    // resampler kernel half width in samples
	// The resampler keeps about one frame of backlog. In lock-step both
	// ends run on one clock, so the sender's faster or slower clock shows up
	// as a backlog that drains or grows; like an adaptive jitter buffer, the
	// path then repeats or skips slipSamples of silence (never of tone),
	// which keeps the latency at one frame.
	resampleBacklog = FrameSamples
	slipSamples     = 40
	slipSilence     = 300 * 300 // mean square below which samples are silence
)

func newPath(im Impairments, to *End) *path {
	p := &path{im: im, rng: rand.New(rand.NewPCG(im.Seed, im.Seed^0x9e3779b97f4a7c15)), gain: math.Pow(10, im.GainDB/20)}
	if im.NoiseDBm0 != 0 {
		p.noise = dsp.Amplitude(im.NoiseDBm0) / math.Sqrt2
	}
	if im.JitterMs > 0 {
		p.depth = im.JitterDepth
	}
	if im.TwistDB != 0 {
		p.twistG = math.Pow(10, im.TwistDB/20)
		p.hp = make([]float64, twistTaps)
		p.hist = make([]float64, twistTaps)
		m := twistTaps / 2
		fc := float64(twistCorner) / dsp.SampleRate
		for i := range p.hp {
			n := float64(i - m)
			var lp float64
			if i == m {
				lp = 2 * fc
			} else {
				lp = math.Sin(2*math.Pi*fc*n) / (math.Pi * n)
			}
			w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(twistTaps-1)) + 0.08*math.Cos(4*math.Pi*float64(i)/float64(twistTaps-1)) // Blackman
			p.hp[i] = -lp * w
		}
		p.hp[m] += 1 // high-pass = delta − low-pass
	}
	if im.FreqOffset != 0 {
		p.ratio = 1 + im.FreqOffset
		p.src = make([]float64, resampleBacklog+2*sincHalf)
		p.pos = sincHalf
	}
	return p
}

func (p *path) process(f [FrameSamples]int16) (out [FrameSamples]int16, lost, late bool) {
	var x [FrameSamples]float64
	for i, s := range f {
		x[i] = float64(s) * p.gain
	}
	if p.hp != nil {
		m := twistTaps / 2
		for i := range x {
			p.hist[p.histPos] = x[i]
			var hp float64
			for k, c := range p.hp {
				hp += c * p.hist[(p.histPos-k+twistTaps)%twistTaps]
			}
			delayed := p.hist[(p.histPos-m+twistTaps)%twistTaps]
			p.histPos = (p.histPos + 1) % twistTaps
			x[i] = delayed + (p.twistG-1)*hp
		}
	}
	if p.ratio != 0 {
		p.resample(x[:])
	}
	if p.noise != 0 {
		for i := range x {
			x[i] += p.rng.NormFloat64() * p.noise
		}
	}
	for i := range x {
		out[i] = sat(int32(math.Round(max(-40000, min(40000, x[i])))))
	}
	switch p.im.G711 {
	case "alaw":
		var b [FrameSamples]byte
		dsp.AlawEncode(b[:], out[:])
		dsp.AlawDecode(out[:], b[:])
	case "ulaw":
		var b [FrameSamples]byte
		dsp.UlawEncode(b[:], out[:])
		dsp.UlawDecode(out[:], b[:])
	}
	if p.im.LossRate > 0 && p.rng.Float64() < p.im.LossRate {
		lost = true
	}
	if !lost && p.im.JitterMs > 0 && math.Abs(p.rng.NormFloat64()*p.im.JitterMs) > float64(p.depth*20) {
		late = true
	}
	if lost || late {
		if p.im.Conceal == ConcealSilence {
			return [FrameSamples]int16{}, lost, late
		}
		return p.last, lost, late
	}
	p.last = out
	return out, false, false
}

func (p *path) resample(x []float64) {
	p.src = append(p.src, x...)
	for i := range x {
		x[i] = p.interp(p.pos)
		p.pos += p.ratio
	}
	// Drop what the kernel no longer reaches.
	if drop := int(p.pos) - 2*sincHalf; drop > 0 {
		p.src = append(p.src[:0], p.src[drop:]...)
		p.pos -= float64(drop)
	}
	ahead := float64(len(p.src)) - p.pos
	silent := func(from int) bool {
		if from < 0 || from+slipSamples > len(p.src) {
			return false
		}
		var e float64
		for _, v := range p.src[from : from+slipSamples] {
			e += v * v
		}
		return e/slipSamples < slipSilence
	}
	switch {
	case ahead < resampleBacklog-slipSamples && (silent(int(p.pos)) || ahead < 2*sincHalf+1):
		// Running dry (fast sender): hear the next 40 samples twice by
		// duplicating them in the backlog.
		at := max(0, min(int(p.pos), len(p.src)-slipSamples))
		end := min(at+slipSamples, len(p.src))
		dup := append(append([]float64(nil), p.src[at:end]...), p.src[end:]...)
		p.src = append(p.src[:end], dup...)
	case ahead > resampleBacklog+slipSamples && silent(int(p.pos)+sincHalf):
		// Piling up (slow sender): skip 40 samples of silence.
		at := int(p.pos) + sincHalf
		p.src = append(p.src[:at], p.src[at+slipSamples:]...)
	}
}

// interp reads the backlog at fractional position t with a Hann-windowed
// sinc kernel; a position past the backlog (a sender running fast for
// longer than the backlog covers) reads silence.
func (p *path) interp(t float64) float64 {
	i0 := int(math.Floor(t))
	frac := t - float64(i0)
	var acc float64
	for k := -sincHalf + 1; k <= sincHalf; k++ {
		j := i0 + k
		if j < 0 || j >= len(p.src) {
			continue
		}
		d := float64(k) - frac
		var s float64
		if d == 0 {
			s = 1
		} else {
			s = math.Sin(math.Pi*d) / (math.Pi * d)
		}
		w := 0.5 + 0.5*math.Cos(math.Pi*d/sincHalf)
		acc += p.src[j] * s * w
	}
	return acc
}
