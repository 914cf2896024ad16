package hal

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"

	"github.com/edgebridge/edgebridge/dsp"
)

// Line is the FXS port the analogue alarm unit is wired to.
type Line interface {
	// OffHook reports whether the unit has lifted its handset (loop current).
	OffHook() bool
	// WaitHook blocks until the hook state equals offHook or ctx ends.
	WaitHook(ctx context.Context, offHook bool) error
	// Ring switches the ringing generator on or off.
	Ring(on bool) error
	// Ringing reports whether the ringing generator is on.
	Ringing() bool
	// Answer returns the audio path of the call in progress as a Call,
	// which satisfies alarm.Channel. It fails when the line is on hook.
	Answer() (*Call, error)
	// ListenDigits delivers the DTMF keys heard in band on calls of this
	// line (the console's `dtmf listen`) until cancel is called.
	ListenDigits() (digits <-chan dsp.DigitEvent, cancel func())
}

// ErrOnHook is returned by Answer when there is no call to answer.
var ErrOnHook = errors.New("hal: line is on hook")

// ErrLineBusy is returned by Answer while an answered call has not hung up:
// one audio path has one owner.
var ErrLineBusy = errors.New("hal: line is busy with a call")

// audioOpener opens the PCM path of one call: 16-bit little-endian mono at
// 8 kHz each way. c, when non-nil, is closed at hangup.
type audioOpener func() (in io.Reader, out io.Writer, c io.Closer, err error)

// fxsLine is an FXS port built from a hook input, a ring output and an
// audio path: a SLIC's PCM device on Linux, files or pipes in simulation.
type fxsLine struct {
	hook  *gpioInput
	ring  *gpioOutput
	audio audioOpener
	// onEnd runs when the far end's audio ends or the gateway hangs up; the
	// simulated line puts the pretend unit back on hook there.
	onEnd func()

	mu     sync.Mutex
	active *Call // the answered call, until it hangs up

	// Digit listeners: while there are any, calls run a DTMF detector on
	// the frames they read. None costs one atomic load per frame.
	nlisten   atomic.Int32
	listenMu  sync.Mutex
	listeners map[chan dsp.DigitEvent]struct{}
}

func (l *fxsLine) ListenDigits() (<-chan dsp.DigitEvent, func()) {
	ch := make(chan dsp.DigitEvent, 16)
	l.listenMu.Lock()
	if l.listeners == nil {
		l.listeners = map[chan dsp.DigitEvent]struct{}{}
	}
	l.listeners[ch] = struct{}{}
	l.nlisten.Add(1)
	l.listenMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			l.listenMu.Lock()
			delete(l.listeners, ch)
			l.nlisten.Add(-1)
			l.listenMu.Unlock()
		})
	}
}

func (l *fxsLine) heard(ev dsp.DigitEvent) {
	l.listenMu.Lock()
	defer l.listenMu.Unlock()
	for ch := range l.listeners {
		select {
		case ch <- ev:
		default: // a slow listener loses digits, the call does not stall
		}
	}
}

func (l *fxsLine) OffHook() bool { return l.hook.Active() }

func (l *fxsLine) WaitHook(ctx context.Context, offHook bool) error {
	for l.hook.Active() != offHook {
		if _, err := l.hook.WaitChange(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (l *fxsLine) Ring(on bool) error { return l.ring.Set(on) }
func (l *fxsLine) Ringing() bool      { return l.ring.On() }

func (l *fxsLine) Answer() (*Call, error) {
	if !l.OffHook() {
		return nil, ErrOnHook
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active != nil && !l.active.isEnded() {
		return nil, ErrLineBusy
	}
	// Ringing into an off-hook loop is wrong (and on a real SLIC, loud).
	_ = l.ring.Set(false)
	in, out, c, err := l.audio()
	if err != nil {
		return nil, err
	}
	l.active = &Call{line: l, in: in, out: out, closer: c, rbuf: make([]byte, 2*dsp.SampleRate/50), wbuf: make([]byte, 2*dsp.SampleRate/50)}
	return l.active, nil
}

// Call is one call on the FXS line, seen as a Channel (alarm.Channel):
// lock-step 20 ms frames, DTMF in band, io.EOF when the unit hangs up.
type Call struct {
	line   *fxsLine
	in     io.Reader
	out    io.Writer
	closer io.Closer

	rbuf, wbuf []byte
	tone       []int16
	det        *dsp.DTMFDetector // made when a listener first appears
	emit       func(dsp.DigitEvent)
	frames     atomic.Int64
	mu         sync.Mutex
	ended      bool
}

// ReadFrame reads the next frame from the unit. When the unit has gone on
// hook, or its audio has ended, it returns io.EOF.
func (c *Call) ReadFrame(pcm []int16) error {
	if c.isEnded() {
		return io.EOF
	}
	if !c.line.OffHook() {
		c.finish()
		return io.EOF
	}
	if cap(c.rbuf) < 2*len(pcm) {
		c.rbuf = make([]byte, 2*len(pcm))
	}
	b := c.rbuf[:2*len(pcm)]
	if _, err := io.ReadFull(c.in, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if c.line.onEnd != nil {
				c.line.onEnd()
			}
			c.finish()
			return io.EOF
		}
		return err
	}
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	c.frames.Add(1)
	if c.line.nlisten.Load() > 0 {
		if c.det == nil {
			c.det = dsp.NewDTMFDetector(dsp.DTMFConfig{})
			c.emit = c.line.heard
		}
		c.det.Process(pcm, c.emit)
	}
	return nil
}

// WriteFrame plays pcm to the unit.
func (c *Call) WriteFrame(pcm []int16) error {
	if c.isEnded() {
		return io.ErrClosedPipe
	}
	if cap(c.wbuf) < 2*len(pcm) {
		c.wbuf = make([]byte, 2*len(pcm))
	}
	b := c.wbuf[:2*len(pcm)]
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	_, err := c.out.Write(b)
	return err
}

// Digits is nil: an analogue line has no out-of-band DTMF, receivers detect
// digits in band.
func (c *Call) Digits() <-chan dsp.DigitEvent { return nil }

// dtmfFreq holds the row and column frequencies of each key (ITU-T Q.23).
var dtmfFreq = map[byte][2]float64{
	'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477}, 'A': {697, 1633},
	'4': {770, 1209}, '5': {770, 1336}, '6': {770, 1477}, 'B': {770, 1633},
	'7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477}, 'C': {852, 1633},
	'*': {941, 1209}, '0': {941, 1336}, '#': {941, 1477}, 'D': {941, 1633},
}

// SendDigit plays key in band for durationMs, in whole 20 ms frames, at
// about -7 dBm0 per tone (ITU-T Q.24 sending levels).
func (c *Call) SendDigit(key byte, durationMs int) error {
	f, ok := dtmfFreq[key]
	if !ok {
		return errors.New("hal: not a DTMF key: " + string(key))
	}
	const n = dsp.SampleRate / 50
	if c.tone == nil {
		c.tone = make([]int16, n)
	}
	const amp = 0.35 * 32767
	frames := (durationMs + 19) / 20
	for fr := 0; fr < frames; fr++ {
		for i := range c.tone {
			t := float64(fr*n+i) / dsp.SampleRate
			c.tone[i] = int16(amp * (math.Sin(2*math.Pi*f[0]*t) + math.Sin(2*math.Pi*f[1]*t)))
		}
		if err := c.WriteFrame(c.tone); err != nil {
			return err
		}
	}
	return nil
}

// Hangup drops the audio path. An FXS port cannot put the unit's handset
// down; the unit hangs up on its own once the protocol has ended (kissoff).
func (c *Call) Hangup() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return nil
	}
	c.ended = true
	if c.line.onEnd != nil {
		defer c.line.onEnd()
	}
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}

// finish ends the call from the unit's side (it hung up): the audio path
// closes and the line is free for the next Answer, also if the owner never
// calls Hangup.
func (c *Call) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.ended = true
	if c.closer != nil {
		c.closer.Close()
	}
}

// Frames counts frames read from the unit.
func (c *Call) Frames() int64 { return c.frames.Load() }

func (c *Call) isEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}
