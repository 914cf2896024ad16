package tt92

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

// UnitConfig tunes the alarm-unit side; zero fields take the defaults.
type UnitConfig struct {
	Variant Variant           // [TT92]
	Mode    string            // "dtmf" [default] or "sdmf" (STMF keys)
	DTMF    dsp.DTMFGenConfig // [−7/−5 dBm0, 50 ms on, 50 ms off]
	// AckWait: the frame is repeated unless its acknowledge was heard whole
	// this long after its last key [1 s; a real unit's wait is not public].
	AckWait  time.Duration
	Attempts int           // per frame [4]
	Timeout  time.Duration // for the first prompt [25 s]
}

// Unit is a TT92/TTnew alarm unit, the receiver's test partner and the
// engine of `edgebridge simulate --protocol tt92|ttnew`. It is strict: an
// acknowledge counts only when it is heard whole, after the frame's last
// key, within AckWait; a later one is ignored (reported in LateAcks) and
// the frame repeated, and nothing heard while the unit sends counts.
type Unit struct{ cfg UnitConfig }

// NewUnit fills in defaults.
func NewUnit(c UnitConfig) *Unit {
	if c.Variant.Prompt == "" {
		c.Variant = TT92
	}
	if c.DTMF == (dsp.DTMFGenConfig{}) {
		c.DTMF = dsp.DefaultDTMFGen()
		c.DTMF.OnMs, c.DTMF.OffMs = 50, 50
	}
	c.AckWait = cmp.Or(c.AckWait, DefaultUnitAckWait)
	c.Attempts = cmp.Or(c.Attempts, 4)
	c.Timeout = cmp.Or(c.Timeout, 25*time.Second)
	return &Unit{cfg: c}
}

// DefaultUnitAckWait is the simulated unit's acknowledge window. A real
// TT92 unit's is not public; 1 s leaves B0 (240 ms) time after a
// receiver's short pause.
const DefaultUnitAckWait = time.Second

// ackDetect is how long after AckWait the unit still waits for the
// report of an acknowledge that ended inside it (the detector reports a
// key after its end) before it repeats.
const ackDetect = 100 * time.Millisecond

// UnitReport is what the unit saw.
type UnitReport struct {
	Prompts  int
	Attempts []int   // per frame
	Acked    []bool  // per frame
	LastMs   []int64 // per frame: end of its last key, ms from the answer
	AckMs    []int64 // per frame: end of the acknowledge (−1: none)
	// LateAcks, per frame: the acknowledges ignored because they ended
	// after AckWait (their end, ms after the last key of the attempt).
	LateAcks [][]int64
	Cleared  bool // heard the clear-down (##) at the end
}

// ErrNoAck ends Send when a frame is never acknowledged.
var ErrNoAck = errors.New("tt92: unit: no acknowledge after all attempts")

// Send answers the first prompt with each frame in turn (24 keys each,
// starting D#), repeating a frame that is not acknowledged, and waits for
// the clear-down before hanging up.
func (u *Unit) Send(ctx context.Context, ch alarm.Channel, frames []string) (UnitReport, error) {
	c := u.cfg
	rep := UnitReport{Attempts: make([]int, len(frames)), Acked: make([]bool, len(frames)), LastMs: make([]int64, len(frames)),
		AckMs: make([]int64, len(frames)), LateAcks: make([][]int64, len(frames))}
	for i := range rep.AckMs {
		rep.AckMs[i] = -1
	}
	ms := func(s int64) int64 { return s * 1000 / dsp.SampleRate }
	mode := c.Mode
	if mode == "" {
		mode = "dtmf"
	}
	kio, err := newKeyIO(mode, c.DTMF, dsp.DTMFConfig{})
	if err != nil {
		return rep, err
	}
	const (
		waitPrompt = iota
		sending
		waitAck
		waitClear
	)
	var (
		st            = waitPrompt
		lastEnd       int64
		prevEnd       int64 = -1 // end of the attempt before the one being sent
		fl            alarm.FrameLoop
		promptAt      int64
		idx           int
		heard         []byte
		prompted, ack bool
	)
	start := func() {
		if rep.Attempts[idx] == 0 {
			ack = false
		}
		_ = kio.queue(frames[idx])
		prevEnd = -1
		if rep.Attempts[idx] > 0 {
			prevEnd = lastEnd
		}
		rep.Attempts[idx]++
		lastEnd = fl.Now + kio.length(len(frames[idx]))
		rep.LastMs[idx] = ms(lastEnd)
		st = sending
	}
	emit := func(ev dsp.DigitEvent) {
		heard = append(heard, ev.Key)
		tail := func(s string) bool { return len(heard) >= len(s) && string(heard[len(heard)-len(s):]) == s }
		switch {
		case st == waitPrompt && tail(c.Variant.Prompt):
			prompted, promptAt = true, ev.End
			rep.Prompts++
		case st == waitAck && tail(c.Variant.Ack) && ev.End <= lastEnd+alarm.Samples(c.AckWait):
			ack = true
			rep.AckMs[idx] = ms(ev.End)
		case st == waitAck && tail(c.Variant.Ack):
			// Ended after the window: a real unit is repeating by then.
			rep.LateAcks[idx] = append(rep.LateAcks[idx], ms(ev.End-lastEnd))
		case st == sending && prevEnd >= 0 && tail(c.Variant.Ack):
			// The previous attempt's, heard while repeating.
			rep.LateAcks[idx] = append(rep.LateAcks[idx], ms(ev.End-prevEnd))
		case st == waitClear && tail(Clear):
			rep.Cleared = true
		}
	}
	fl.Init("tt92: unit", ch, kio.hear, emit)
	finished := false
	hungUp, err := fl.Run(ctx, func(out []int16) (bool, error) {
		now := fl.Now
		switch st {
		case waitPrompt:
			if prompted && now >= promptAt+alarm.Samples(100*time.Millisecond) {
				heard = heard[:0]
				start()
			} else if !prompted && now > alarm.Samples(c.Timeout) {
				ch.Hangup()
				return false, errors.New("tt92: unit: no prompt")
			}
		case sending:
			if now >= lastEnd {
				heard = heard[:0] // keys heard while sending are no acknowledge
				st = waitAck
			}
		case waitAck:
			switch {
			case ack:
				rep.Acked[idx] = true
				idx++
				heard = heard[:0]
				if idx == len(frames) {
					st = waitClear
				} else {
					start()
				}
			case now > lastEnd+alarm.Samples(c.AckWait+ackDetect):
				// No acknowledge heard whole within AckWait (a key is
				// reported once it has ended, hence the grace): repeat.
				if rep.Attempts[idx] >= c.Attempts {
					ch.Hangup()
					return false, fmt.Errorf("%w: frame %d", ErrNoAck, idx+1)
				}
				start()
			}
		case waitClear:
			if rep.Cleared || now > lastEnd+alarm.Samples(10*time.Second) {
				// Answer this frame with silence, then hang up.
				clear(out)
				finished = true
				return true, nil
			}
		}
		kio.generate(out)
		return false, nil
	})
	if finished {
		// The last frame's fate does not matter: the unit hangs up.
		ch.Hangup()
		return rep, nil
	}
	if hungUp {
		if idx == len(frames) {
			// Every frame acknowledged: a receiver may clear down with a
			// BYE instead of (or before the unit heard) the ## keys.
			return rep, nil
		}
		return rep, fmt.Errorf("tt92: unit: receiver hung up: %w", io.EOF)
	}
	return rep, err
}
