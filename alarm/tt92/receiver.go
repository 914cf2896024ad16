package tt92

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

// Config tunes the receiver; zero fields take the defaults in brackets.
type Config struct {
	Variant     Variant       // [TT92]
	Mode        string        // protocolMode: "dtmf" [default] or "sdmf" (STMF keys both ways)
	AnswerDelay time.Duration // before the first prompt [500 ms]
	// PromptEvery spaces prompts while no frame comes [2 s].
	PromptEvery time.Duration
	MaxPrompts  int           // [5]
	InterDigit  time.Duration // ends a partial frame [400 ms]
	// RepeatWait is how long to wait for the unit's repeat of a frame heard
	// once before prompting again [3 s].
	RepeatWait time.Duration
	// MoreTimeout is the wait for another frame after an acknowledge,
	// before the unit is cleared down (##) [2 s].
	MoreTimeout time.Duration
	// AckLatest is the latest the acknowledge starts after the frame's last
	// key [500 ms], so that it is heard whole within the unit's wait (the
	// simulated unit's 1 s; STMF B0 lasts about 330 ms). When the durable
	// write takes longer, no acknowledge is sent over the unit's repeat:
	// the repeat is heard and acknowledged at once (its event is stored).
	AckLatest time.Duration
	// DeferClear ends the call's receiving without the clear-down (##):
	// the caller sends it with Clear when no voice call follows.
	DeferClear bool
	Tones      dsp.DTMFGenConfig // levels of our keys [−7/−5 dBm0]
	DTMF       dsp.DTMFConfig
	Now        func() time.Time
	Log        *slog.Logger
}

// Receiver is the TT92/TTnew receiving side; it satisfies alarm.Receiver.
type Receiver struct{ cfg Config }

var _ alarm.Receiver = (*Receiver)(nil)

// NewReceiver fills in defaults and returns a receiver.
func NewReceiver(c Config) (*Receiver, error) {
	if c.Variant.Prompt == "" {
		c.Variant = TT92
	}
	switch c.Mode {
	case "":
		c.Mode = "dtmf"
	case "dtmf", "sdmf":
	default:
		return nil, fmt.Errorf("tt92: protocolMode %q: must be dtmf or sdmf", c.Mode)
	}
	for _, k := range c.Variant.Prompt + c.Variant.Ack {
		if !dsp.IsDTMFKey(byte(k)) {
			return nil, fmt.Errorf("tt92: variant %q: %q is not a DTMF key", c.Variant.Name, k)
		}
	}
	c.AnswerDelay = cmp.Or(c.AnswerDelay, 500*time.Millisecond)
	c.PromptEvery = cmp.Or(c.PromptEvery, 2*time.Second)
	c.InterDigit = cmp.Or(c.InterDigit, 400*time.Millisecond)
	c.RepeatWait = cmp.Or(c.RepeatWait, 3*time.Second)
	c.MoreTimeout = cmp.Or(c.MoreTimeout, 2*time.Second)
	c.AckLatest = cmp.Or(c.AckLatest, 500*time.Millisecond)
	c.MaxPrompts = cmp.Or(c.MaxPrompts, 5)
	if c.Tones == (dsp.DTMFGenConfig{}) {
		c.Tones = dsp.DefaultDTMFGen()
	}
	c.Tones.OnMs, c.Tones.OffMs = KeyMs, KeyMs
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return &Receiver{cfg: c}, nil
}

// Receive prompts for frames, acknowledges each one heard twice alike and
// queued, and clears the unit down when no more come.
func (r *Receiver) Receive(ctx context.Context, ch alarm.Channel, call alarm.Call, q alarm.Queue) (alarm.Outcome, error) {
	c := r.cfg
	var out alarm.Outcome
	kio, err := newKeyIO(c.Mode, c.Tones, c.DTMF)
	if err != nil {
		return out, err
	}
	var fl alarm.FrameLoop
	var (
		lastEnd, toneEnd int64
		nextPrompt             = alarm.Samples(c.AnswerDelay)
		deadline         int64 = -1
		keys             []byte
		pending          string // a frame heard once, awaiting its repeat
		clearing, done   bool
		acked            = map[string]bool{}
		// The write of a frame's event runs beside the frame loop.
		write alarm.PendingWrite
	)
	send := func(s string) {
		_ = kio.queue(s)
		toneEnd = fl.Now + kio.length(len(s))
	}
	ack := func() {
		send(c.Variant.Ack)
		deadline = toneEnd + alarm.Samples(c.MoreTimeout)
	}
	written := func(err error, live bool) {
		ev := write.Event()
		if err != nil {
			out.EnqueueFailures++
			c.Log.Error("tt92: queue refused event, withholding acknowledge", "call", call.ID, "event", ev.ID, "err", err)
			deadline = write.End() + alarm.Samples(c.RepeatWait)
			return
		}
		if !acked[ev.Raw] {
			acked[ev.Raw] = true
			out.Events = append(out.Events, ev)
		}
		if pending == ev.Raw {
			pending = ""
		}
		c.Log.Info("tt92: event queued", "call", call.ID, "event", ev.ID, "frame", ev.Raw)
		if !live {
			return
		}
		if len(keys) > 0 || fl.Now > write.End()+alarm.Samples(c.AckLatest) {
			c.Log.Warn("tt92: event stored too late for its acknowledge; acknowledging the unit's repeat", "call", call.ID, "event", ev.ID,
				"late_ms", (fl.Now-write.End())*1000/dsp.SampleRate)
			deadline = write.End() + alarm.Samples(c.RepeatWait)
			return
		}
		ack()
	}
	frame := func() {
		raw := string(keys)
		keys = keys[:0]
		out.Messages++
		f, err := Parse(raw)
		if err != nil {
			out.BadMessages++
			c.Log.Warn("tt92: frame not acknowledged", "call", call.ID, "keys", raw, "err", err)
			deadline = lastEnd + alarm.Samples(c.RepeatWait)
			return
		}
		if acked[raw] {
			// A repeat of a frame whose event is stored: acknowledge it at
			// once, without a second write.
			ack()
			return
		}
		if raw != pending {
			// Heard once: the checksum cannot be checked, so wait for the
			// unit's repeat and compare.
			pending = raw
			deadline = lastEnd + alarm.Samples(c.RepeatWait)
			c.Log.Info("tt92: frame heard once, waiting for its repeat", "call", call.ID, "frame", raw)
			return
		}
		if write.Busy() {
			if write.Event().Raw == raw {
				write.Repeated(lastEnd)
			}
			return
		}
		if done, err := write.Start(ctx, q, EventFor(f, c.Variant, call, c.Now()), lastEnd); done {
			written(err, true)
		}
	}
	digit := func(ev dsp.DigitEvent) {
		if ev.Start < toneEnd || clearing {
			return
		}
		if len(keys) > 0 && ev.Start-lastEnd > alarm.Samples(c.InterDigit) {
			keys = keys[:0]
		}
		keys = append(keys, ev.Key)
		lastEnd = ev.End
		if len(keys) == FrameKeys {
			frame()
		}
	}
	fl.Init("tt92", ch, kio.hear, digit)
	hungUp, err := fl.Run(ctx, func(buf []int16) (bool, error) {
		now := fl.Now
		if done, err := write.Poll(fl.Ahead()); done {
			written(err, true)
		}
		if len(keys) > 0 && now-lastEnd > alarm.Samples(c.InterDigit) {
			out.Messages++
			out.BadMessages++
			c.Log.Warn("tt92: partial frame dropped", "call", call.ID, "keys", string(keys))
			keys = keys[:0]
			deadline = lastEnd + alarm.Samples(c.RepeatWait)
		}
		switch {
		case kio.busy() || len(keys) > 0 || write.Busy():
		case clearing:
			// Some silence after the clear, so that the unit hears its end
			// before the call goes.
			if now >= toneEnd+alarm.Samples(200*time.Millisecond) {
				done = true
			}
		case deadline >= 0 && now < deadline:
		case len(out.Events) > 0 && pending == "" && c.DeferClear:
			out.Reason = alarm.ReasonIdle
			done = true
		case len(out.Events) > 0 && pending == "":
			out.Reason = alarm.ReasonIdle
			send(Clear)
			clearing = true
		case now >= nextPrompt:
			if out.Handshakes >= c.MaxPrompts {
				out.Reason = alarm.ReasonNoMessage
				done = true
				break
			}
			send(c.Variant.Prompt)
			out.Handshakes++
			deadline = -1
			nextPrompt = now + alarm.Samples(c.PromptEvery)
		default:
			deadline = -1
		}
		kio.generate(buf)
		return done, nil
	})
	if hungUp {
		out.Reason = alarm.ReasonHangup
	}
	if done, werr := write.Wait(); done {
		written(werr, false) // stored, if it succeeded, but never acknowledged
	}
	return out, err
}

// EventFor turns a frame into an Event: the 12-digit identity is the
// controller id; type, generic flag and call code make the status code.
func EventFor(f Frame, v Variant, call alarm.Call, at time.Time) alarm.Event {
	proto := alarm.ProtoTT92
	if v.Name == TTnew.Name {
		proto = "ttnew"
	}
	return alarm.Event{
		ID:           alarm.EventID(call.Domain, call.ID, proto, f.Raw),
		Protocol:     proto,
		Domain:       call.Domain,
		Received:     at,
		Raw:          f.Raw,
		CallerID:     call.Caller,
		CallID:       call.ID,
		CalledNumber: call.Called,
		ControllerID: f.Identity,
		StatusCode:   f.Type + f.Reserved + f.Generic + f.CallCode,
	}
}

// keyIO sends and hears keys as DTMF or as STMF (protocolMode sdmf).
type keyIO struct {
	queue    func(string) error
	busy     func() bool
	generate func([]int16)
	hear     func([]int16, func(dsp.DigitEvent))
	length   func(keys int) int64 // samples until the last key's tone ends
}

func newKeyIO(mode string, tones dsp.DTMFGenConfig, dc dsp.DTMFConfig) (keyIO, error) {
	if mode == "sdmf" {
		snd, err := NewStmfSender(tones.LowDBm0)
		if err != nil {
			return keyIO{}, err
		}
		det, err := NewStmfDetector()
		if err != nil {
			return keyIO{}, err
		}
		return keyIO{queue: snd.Queue, busy: snd.Busy, generate: snd.Generate, hear: det.Process,
			length: func(n int) int64 { return int64(n)*KeySamples - StmfGapMs*dsp.SampleRate/1000 }}, nil
	}
	gen := dsp.NewDTMFGenerator(tones)
	det := dsp.NewDTMFDetector(dc)
	on := int64(tones.OnMs) * dsp.SampleRate / 1000
	per := int64(tones.OnMs+tones.OffMs) * dsp.SampleRate / 1000
	return keyIO{queue: gen.Queue, busy: gen.Busy, generate: func(p []int16) { gen.Generate(p) }, hear: det.Process,
		length: func(n int) int64 { return int64(n-1)*per + on }}, nil
}

// Clear sends the clear-down (##) in the receiver's mode (DTMF or STMF),
// then some silence so that the unit hears its end before the call goes.
// It satisfies alarm.Clearer (with Config.DeferClear).
func (r *Receiver) Clear(ctx context.Context, ch alarm.Channel) error {
	kio, err := newKeyIO(r.cfg.Mode, r.cfg.Tones, r.cfg.DTMF)
	if err != nil {
		return err
	}
	_ = kio.queue(Clear)
	end := kio.length(len(Clear)) + alarm.Samples(200*time.Millisecond)
	var fl alarm.FrameLoop
	fl.Init("tt92: clear", ch, kio.hear, func(dsp.DigitEvent) {})
	_, err = fl.Run(ctx, func(buf []int16) (bool, error) {
		kio.generate(buf)
		return fl.Now >= end, nil
	})
	return err
}
