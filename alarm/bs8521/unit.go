package bs8521

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
	DTMF dsp.DTMFGenConfig // [−7/−5 dBm0, 50 ms on, 50 ms off]
	// MinRequest is how much data request the unit needs [500 ms].
	MinRequest time.Duration
	// ReplyDelay is the pause after the request before the message [80 ms].
	ReplyDelay time.Duration
	// AckWait: the message is repeated if no acknowledge started this long
	// after its last key [570 ms: BS 8521 says 600 ± 30 ms, so a conforming
	// unit may already repeat after 570 ms].
	AckWait  time.Duration
	Attempts int           // per message [4]
	Timeout  time.Duration // for the first data request [25 s]
	Mangle   func(msg, attempt int, keys string) string
}

// Unit is a BS 8521 alarm unit: the receiver's test partner and the engine
// of `edgebridge simulate --protocol bs8521`. It is as strict as a real
// unit: an acknowledge counts only when it starts within AckWait of the
// end of the attempt it answers; a later one is ignored (reported in
// LateAcks) and the message repeated, and nothing heard while the unit
// sends is taken for an acknowledge.
type Unit struct{ cfg UnitConfig }

// NewUnit returns a unit with cfg's defaults filled in.
func NewUnit(cfg UnitConfig) *Unit {
	if cfg.DTMF == (dsp.DTMFGenConfig{}) {
		cfg.DTMF = dsp.DefaultDTMFGen()
		cfg.DTMF.OnMs, cfg.DTMF.OffMs = 50, 50
	}
	cfg.MinRequest = cmp.Or(cfg.MinRequest, 500*time.Millisecond)
	cfg.ReplyDelay = cmp.Or(cfg.ReplyDelay, 80*time.Millisecond)
	cfg.AckWait = cmp.Or(cfg.AckWait, DefaultUnitAckWait)
	cfg.Attempts = cmp.Or(cfg.Attempts, 4)
	cfg.Timeout = cmp.Or(cfg.Timeout, 25*time.Second)
	return &Unit{cfg: cfg}
}

// DefaultUnitAckWait is the unit's acknowledge window: the earliest a
// conforming unit repeats (600 − 30 ms).
const DefaultUnitAckWait = 570 * time.Millisecond

// ackDetect is how long after the window's end the unit still waits for
// an acknowledge that started inside it to be recognised (its 80 ms tone
// and the detector's latency) before it repeats.
const ackDetect = 150 * time.Millisecond

// UnitReport is what the unit saw, in ms from the start of the call.
type UnitReport struct {
	Requests int // data requests heard
	Messages []UnitSent
}

// UnitSent is the fate of one message.
type UnitSent struct {
	Raw        string
	Attempts   int
	LastMs     int64 // end of the last key of the last attempt
	AckStartMs int64 // start of the acknowledge (−1: none)
	AckMs      int64 // end of the acknowledge (−1: none)
	Acked      bool
	// LateAcks are the acknowledges the unit ignored because they started
	// after its AckWait (ms after the last key of the attempt they
	// followed), as a real unit, by then repeating, would.
	LateAcks []int64
}

// ErrNoRequest and ErrNoAck end Send early.
var (
	ErrNoRequest = errors.New("bs8521: unit: no data request")
	ErrNoAck     = errors.New("bs8521: unit: no acknowledge after all attempts")
)

// Send sends msgs on an answered call, each after a data request, and
// hangs up when done.
func (u *Unit) Send(ctx context.Context, ch alarm.Channel, msgs []Message) (UnitReport, error) {
	c := u.cfg
	rep := UnitReport{}
	for _, m := range msgs {
		rep.Messages = append(rep.Messages, UnitSent{Raw: m.Raw, AckStartMs: -1, AckMs: -1})
	}
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	keySender := alarm.NewKeySender(ch, c.DTMF)
	ms := func(s int64) int64 { return s * 1000 / dsp.SampleRate }

	const (
		waitRequest = iota
		delay
		sending
		waitAck
	)
	var (
		st           = waitRequest
		at, lastEnd  int64
		prevEnd      int64 = -1 // end of the attempt before the one being sent
		fl           alarm.FrameLoop
		idx, attempt int
		acked        bool
	)
	start := func() {
		keys := msgs[idx].Raw
		if c.Mangle != nil {
			keys = c.Mangle(idx, attempt, keys)
		}
		if attempt == 0 {
			acked = false
		}
		rep.Messages[idx].Attempts = attempt + 1
		prevEnd = -1
		if attempt > 0 {
			prevEnd = lastEnd
		}
		lastEnd = keySender.Send(keys, fl.Now)
		rep.Messages[idx].LastMs = ms(lastEnd)
		st = sending
	}
	emit := func(ev dsp.DigitEvent) {
		if ev.Key != DataRequestKey {
			return
		}
		long := ev.End-ev.Start >= alarm.Samples(c.MinRequest)
		switch {
		case long && (st == waitRequest || st == waitAck):
			// A (new) data request: answer it after the reply delay.
			rep.Requests++
			if st == waitAck {
				attempt++
			}
			st, at = delay, ev.End+alarm.Samples(c.ReplyDelay)
		case !long && st == waitAck && ev.Start >= lastEnd && ev.Start <= lastEnd+alarm.Samples(c.AckWait):
			acked = true
			rep.Messages[idx].AckStartMs, rep.Messages[idx].AckMs = ms(ev.Start), ms(ev.End)
		case !long && st == waitAck && ev.Start > lastEnd:
			// Started after the window: a real unit is repeating by then
			// and does not take it.
			rep.Messages[idx].LateAcks = append(rep.Messages[idx].LateAcks, ms(ev.Start-lastEnd))
		case !long && st == sending && prevEnd >= 0 && ev.Start > prevEnd:
			// The previous attempt's, heard while repeating.
			rep.Messages[idx].LateAcks = append(rep.Messages[idx].LateAcks, ms(ev.Start-prevEnd))
		}
	}
	if len(msgs) == 0 {
		ch.Hangup()
		return rep, nil
	}
	fl.Init("bs8521: unit", ch, det.Process, emit)
	hungUp, err := fl.Run(ctx, func(out []int16) (bool, error) {
		now := fl.Now
		switch st {
		case waitRequest:
			if rep.Requests == 0 && now > alarm.Samples(c.Timeout) {
				ch.Hangup()
				return false, ErrNoRequest
			}
		case delay:
			if now >= at {
				if attempt >= c.Attempts {
					ch.Hangup()
					return false, fmt.Errorf("%w: message %d", ErrNoAck, idx+1)
				}
				start()
			}
		case sending:
			if now >= lastEnd {
				st = waitAck
			}
		case waitAck:
			switch {
			case acked:
				rep.Messages[idx].Acked = true
				idx++
				attempt = 0
				st = waitRequest
				if idx < len(msgs) {
					// The next message follows at once (no new request).
					st, at = delay, now+alarm.Samples(c.ReplyDelay)
				}
			case now > lastEnd+alarm.Samples(c.AckWait+ackDetect):
				// No acknowledge started within AckWait (a key is reported
				// when it ends, hence the grace): repeat.
				attempt++
				if attempt >= c.Attempts {
					ch.Hangup()
					return false, fmt.Errorf("%w: message %d (%s)", ErrNoAck, idx+1, msgs[idx].Raw)
				}
				start()
			}
		}
		if err := keySender.Fill(out, now); err != nil {
			return false, err
		}
		return idx == len(msgs), nil
	})
	if hungUp {
		return rep, fmt.Errorf("bs8521: unit: receiver hung up: %w", io.EOF)
	}
	if err != nil {
		return rep, err
	}
	ch.Hangup()
	return rep, nil
}
