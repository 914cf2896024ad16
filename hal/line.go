package hal

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
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
	gen        *dsp.DTMFGenerator // SendDigit's, made on its first use
	det        *dsp.DTMFDetector  // made when a listener first appears
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

// sendLevel is the per-tone level of SendDigit (ITU-T Q.24 sending levels).
var sendLevel = dsp.DTMFGenConfig{LowDBm0: -7, HighDBm0: -7}

// SendDigit plays key in band for durationMs, in whole 20 ms frames, at
// -7 dBm0 per tone.
func (c *Call) SendDigit(key byte, durationMs int) error {
	if !dsp.IsDTMFKey(key) {
		return errors.New("hal: not a DTMF key: " + string(key))
	}
	frames := (durationMs + 19) / 20
	if frames <= 0 {
		return nil
	}
	if c.gen == nil {
		c.gen = dsp.NewDTMFGenerator(sendLevel)
	}
	if c.tone == nil {
		c.tone = make([]int16, dsp.SampleRate/50)
	}
	if err := c.gen.QueueKey(key, frames*20, 0); err != nil {
		return err
	}
	for ; frames > 0; frames-- {
		c.gen.Generate(c.tone)
		if err := c.WriteFrame(c.tone); err != nil {
			c.gen = nil // the rest of the key is not played later
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
