package contactid

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

// PanelConfig tunes the alarm-unit side. The zero value takes the defaults
// in brackets, which follow SIA DC-05 (doc.go lists the timings).
type PanelConfig struct {
	// DTMF sets levels, twist, frequency error and timing of the digits
	// [−7/−5 dBm0, 55 ms on, 55 ms off: DC-05 asks 50-60 ms each].
	DTMF dsp.DTMFGenConfig
	// StartDelay is the pause from the end of the handshake to the first
	// digit [250 ms; DC-05: 250-300 ms].
	StartDelay time.Duration
	// KissoffWait: a message is repeated if no kissoff has started this long
	// after its last digit [1.25 s].
	KissoffWait time.Duration
	// MinKissoff is how much kissoff counts as acknowledgement [400 ms].
	MinKissoff time.Duration
	// Attempts per message before the panel gives up on the call [4].
	Attempts int
	// HandshakeTimeout is how long the panel waits for the handshake [20 s].
	HandshakeTimeout time.Duration
	// NextDelay is the pause after a kissoff ends before the next message [250 ms].
	NextDelay time.Duration
	// StayOnLine keeps the call up after the last kissoff (listen-in):
	// Send then returns without hanging up.
	StayOnLine bool
	// Mangle, if set, may change the keys sent for a message attempt
	// (0-based), to simulate a digit damaged on the way.
	Mangle func(msg, attempt int, keys string) string
}

func (c PanelConfig) withDefaults() (PanelConfig, error) {
	if c.DTMF == (dsp.DTMFGenConfig{}) {
		c.DTMF = dsp.DefaultDTMFGen()
		c.DTMF.OnMs, c.DTMF.OffMs = 55, 55
	}
	c.StartDelay = cmp.Or(c.StartDelay, 250*time.Millisecond)
	c.KissoffWait = cmp.Or(c.KissoffWait, 1250*time.Millisecond)
	c.MinKissoff = cmp.Or(c.MinKissoff, 400*time.Millisecond)
	c.HandshakeTimeout = cmp.Or(c.HandshakeTimeout, 20*time.Second)
	c.NextDelay = cmp.Or(c.NextDelay, 250*time.Millisecond)
	c.Attempts = cmp.Or(c.Attempts, 4)
	if c.DTMF.OnMs <= 0 || c.DTMF.OffMs <= 0 {
		return c, fmt.Errorf("contactid: panel DTMF OnMs %d, OffMs %d: both must be > 0", c.DTMF.OnMs, c.DTMF.OffMs)
	}
	if c.Attempts < 1 {
		return c, fmt.Errorf("contactid: panel Attempts %d: must be at least 1", c.Attempts)
	}
	return c, nil
}

// Panel is the alarm-unit side of Contact ID: it waits for the handshake,
// sends each message and waits for its kissoff, repeating as DC-05 says. It
// is the test partner of Receiver and the engine of `edgebridge simulate`.
type Panel struct {
	cfg PanelConfig
}

// NewPanel checks cfg and returns a panel.
func NewPanel(cfg PanelConfig) (*Panel, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Panel{cfg: c}, nil
}

// PanelReport is what the panel saw, in ms from the start of the call.
type PanelReport struct {
	HandshakeMs int64        // end of the first handshake heard (−1: none)
	Messages    []SentReport // one per message, in order
	HungUp      bool         // the receiver hung up first
}

// SentReport is the fate of one message.
type SentReport struct {
	Raw        string
	Attempts   int
	StartMs    []int64 // first digit of each attempt
	LastMs     int64   // end of the last digit of the last attempt
	KissoffMs  int64   // start of the kissoff (−1: none)
	KissoffLen int64   // kissoff heard, ms (to its end, or until the panel moved on)
	Acked      bool
}

// ErrNoHandshake, ErrNoKissoff and ErrReceiverHungUp end Send early.
var (
	ErrNoHandshake    = errors.New("contactid: panel: no handshake")
	ErrNoKissoff      = errors.New("contactid: panel: no kissoff after all attempts")
	ErrReceiverHungUp = errors.New("contactid: panel: receiver hung up")
)

type panelState int

const (
	pWaitHandshake panelState = iota
	pDelay                    // pause before sending
	pSending
	pWaitKissoff
	pKissoff // acknowledged, waiting for the tone to end
	pDone
)

// Send dials nothing: ch is an answered call. It sends msgs in order and
// hangs up when done (unless StayOnLine), returning what it saw. The
// report is filled as far as the call got, also on error.
func (p *Panel) Send(ctx context.Context, ch alarm.Channel, msgs []Message) (PanelReport, error) {
	c := p.cfg
	rep := PanelReport{HandshakeMs: -1}
	det, err := dsp.NewToneDetector(
		dsp.ToneSpec{Name: "1400", Freq1: 1400, MinMs: 50},
		dsp.ToneSpec{Name: "2300", Freq1: 2300, MinMs: 50},
	)
	if err != nil {
		return rep, err
	}
	keySender := alarm.NewKeySender(ch, c.DTMF)
	ms := func(s int64) int64 { return s * 1000 / dsp.SampleRate }

	var (
		st       = pWaitHandshake
		fl       alarm.FrameLoop
		seen1400 bool
		at       int64 // when the current wait ends / sending starts
		idx      int   // message being sent
		attempt  int
		lastEnd  int64 // end of the last digit sent
		koStart  int64 = -1
		koOn     bool
		hsOn     bool
	)
	startMessage := func() {
		keys := msgs[idx].Keys()
		if len(keys) != MessageDigits {
			keys = msgs[idx].Raw // not representable: send what we have
		}
		if c.Mangle != nil {
			keys = c.Mangle(idx, attempt, keys)
		}
		r := &rep.Messages[idx]
		r.Attempts = attempt + 1
		r.StartMs = append(r.StartMs, ms(fl.Now))
		lastEnd = keySender.Send(keys, fl.Now)
		st = pSending
	}
	for i := range msgs {
		rep.Messages = append(rep.Messages, SentReport{Raw: msgs[i].Raw, KissoffMs: -1})
	}
	emit := func(ev dsp.ToneEvent) {
		switch st {
		case pWaitHandshake:
			switch {
			case ev.Name == "1400" && ev.On:
				seen1400 = true
			case ev.Name == "2300" && ev.On && seen1400:
				hsOn = true
			case ev.Name == "2300" && !ev.On && hsOn:
				if rep.HandshakeMs < 0 {
					rep.HandshakeMs = ms(ev.End)
				}
				st, at = pDelay, ev.End+alarm.Samples(c.StartDelay)
			}
		case pWaitKissoff:
			if ev.Name == "1400" && ev.On && ev.Start >= lastEnd {
				koStart, koOn = ev.Start, true
			}
			if ev.Name == "1400" && !ev.On && koOn {
				koOn = false
				if ev.End-koStart < alarm.Samples(c.MinKissoff) {
					koStart = -1 // too short to count
				}
			}
		case pKissoff:
			if ev.Name == "1400" && !ev.On {
				rep.Messages[idx].KissoffLen = ms(ev.End - koStart)
				idx++
				koStart = -1
				if idx == len(msgs) {
					st = pDone
					return
				}
				attempt = 0
				st, at = pDelay, ev.End+alarm.Samples(c.NextDelay)
			}
		}
	}
	hsDeadline := alarm.Samples(c.HandshakeTimeout)
	koWait := alarm.Samples(c.KissoffWait)
	minKo := alarm.Samples(c.MinKissoff)
	// The panel listens for tones, not keys: keys the Channel delivers out
	// of band are of no interest to it.
	hear := func(pcm []int16, _ func(dsp.DigitEvent)) { det.Process(pcm, emit) }
	fl.Init("contactid: panel", ch, hear, func(dsp.DigitEvent) {})
	hungUp := false
	if len(msgs) > 0 {
		hungUp, err = fl.Run(ctx, func(out []int16) (bool, error) {
			now := fl.Now
			switch st {
			case pWaitHandshake:
				if now >= hsDeadline {
					ch.Hangup()
					return false, ErrNoHandshake
				}
			case pDelay:
				if now >= at {
					startMessage()
				}
			case pSending:
				if now >= lastEnd {
					rep.Messages[idx].LastMs = ms(lastEnd)
					st = pWaitKissoff
					koStart, koOn = -1, false
				}
			case pWaitKissoff:
				switch {
				case koOn && now-koStart >= minKo:
					r := &rep.Messages[idx]
					r.Acked, r.KissoffMs = true, ms(koStart)
					st = pKissoff
				case !koOn && now > lastEnd+koWait+int64(50*dsp.SampleRate/1000):
					// Nothing started in time (the detector reports a tone 50 ms
					// in): repeat, or give up.
					attempt++
					if attempt >= c.Attempts {
						ch.Hangup()
						return false, fmt.Errorf("%w: message %d (%s), %d attempts", ErrNoKissoff, idx+1, msgs[idx].Raw, attempt)
					}
					startMessage()
				}
			}
			if err := keySender.Fill(out, now); err != nil {
				return false, err
			}
			return st == pDone, nil
		})
	}
	if hungUp {
		rep.HungUp = true
		return rep, ErrReceiverHungUp
	}
	if err != nil {
		return rep, err
	}
	if !c.StayOnLine {
		ch.Hangup()
	}
	return rep, nil
}
