package bs8521

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
	// AnswerDelay is the silence before the first data request [500 ms].
	AnswerDelay time.Duration
	// DataRequestInterval spaces data requests (start to start); the
	// alarmbridge's dataRequestInterval [1600 ms].
	DataRequestInterval time.Duration
	// FirstDigitTimeout: a request not answered this long after it ended is
	// repeated [630 ms: BS 8521 says 600 ± 30 ms].
	FirstDigitTimeout time.Duration
	// InterDigitTimeout ends a partial message [400 ms].
	InterDigitTimeout time.Duration
	// AckDelay is the pause from the last key to the acknowledge [100 ms;
	// the unit repeats after 600 ± 30 ms].
	AckDelay time.Duration
	// AckLatest is the latest an acknowledge starts after the last key
	// [400 ms]: it must reach the unit, over both jitter buffers, before
	// the earliest a unit repeats (570 ms). When the durable write takes
	// longer, no acknowledge is sent over the repeat: the repeat is heard
	// and acknowledged at once (its event is already stored).
	AckLatest time.Duration
	// MaxRequests and GiveUp bound the data requests [4, 25 s after the first].
	MaxRequests int
	GiveUp      time.Duration
	// MoreTimeout is how long to wait for another message after an
	// acknowledge before the call is handed back [2 s].
	MoreTimeout time.Duration
	// Tones sets the level of the keys the receiver sends [−7/−5 dBm0].
	Tones dsp.DTMFGenConfig
	DTMF  dsp.DTMFConfig
	Now   func() time.Time
	Log   *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	c.AnswerDelay = cmp.Or(c.AnswerDelay, 500*time.Millisecond)
	c.DataRequestInterval = cmp.Or(c.DataRequestInterval, 1600*time.Millisecond)
	c.FirstDigitTimeout = cmp.Or(c.FirstDigitTimeout, 630*time.Millisecond)
	c.InterDigitTimeout = cmp.Or(c.InterDigitTimeout, 400*time.Millisecond)
	c.AckDelay = cmp.Or(c.AckDelay, 100*time.Millisecond)
	c.AckLatest = cmp.Or(c.AckLatest, 400*time.Millisecond)
	c.GiveUp = cmp.Or(c.GiveUp, 25*time.Second)
	c.MoreTimeout = cmp.Or(c.MoreTimeout, 2*time.Second)
	c.MaxRequests = cmp.Or(c.MaxRequests, 4)
	if c.Tones == (dsp.DTMFGenConfig{}) {
		c.Tones = dsp.DefaultDTMFGen()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	switch {
	case c.DataRequestInterval < DataRequestMs*time.Millisecond+c.FirstDigitTimeout:
		return c, fmt.Errorf("bs8521: DataRequestInterval %v: must leave the %d ms request and the %v wait", c.DataRequestInterval, DataRequestMs, c.FirstDigitTimeout)
	case c.AckDelay < 0 || c.AckDelay > 500*time.Millisecond:
		return c, fmt.Errorf("bs8521: AckDelay %v: must be 0-500 ms (the unit repeats after 600 ms)", c.AckDelay)
	case c.AckLatest < c.AckDelay || c.AckLatest > 500*time.Millisecond:
		return c, fmt.Errorf("bs8521: AckLatest %v: must be from AckDelay (%v) to 500 ms", c.AckLatest, c.AckDelay)
	case c.MaxRequests < 1:
		return c, fmt.Errorf("bs8521: MaxRequests %d: must be at least 1", c.MaxRequests)
	}
	return c, nil
}

// Receiver is the BS 8521 receiving side of a call; it satisfies alarm.Receiver.
type Receiver struct{ cfg Config }

var _ alarm.Receiver = (*Receiver)(nil)

// NewReceiver checks cfg and returns a receiver.
func NewReceiver(cfg Config) (*Receiver, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Receiver{cfg: c}, nil
}

// Receive runs BS 8521 on ch: data requests until a message comes, the
// message checked and queued, then the acknowledge; more messages while
// they come. It does not hang up.
func (r *Receiver) Receive(ctx context.Context, ch alarm.Channel, call alarm.Call, q alarm.Queue) (alarm.Outcome, error) {
	c := r.cfg
	var out alarm.Outcome
	det := dsp.NewDTMFDetector(c.DTMF)
	gen := dsp.NewDTMFGenerator(c.Tones)
	var fl alarm.FrameLoop
	var (
		firstReq   int64 = -1
		nextReq          = alarm.Samples(c.AnswerDelay)
		toneEnd    int64 // our keys sound until then; digits before it are ignored
		deadline   int64 = -1
		keys       [MessageKeys]byte
		nk         int
		lastEnd    int64
		acked      = map[string]bool{}
		done       bool
		pendingAck int64 = -1
		// The write of a message's event runs beside the frame loop.
		write alarm.PendingWrite
	)
	written := func(err error, live bool) {
		ev := write.Event()
		if err != nil {
			out.EnqueueFailures++
			c.Log.Error("bs8521: queue refused event, withholding acknowledge", "call", call.ID, "event", ev.ID, "err", err)
			deadline = write.End() + alarm.Samples(1500*time.Millisecond)
			return
		}
		if !acked[ev.ID] {
			acked[ev.ID] = true
			out.Events = append(out.Events, ev)
		}
		c.Log.Info("bs8521: event queued", "call", call.ID, "event", ev.ID, "raw", ev.Raw)
		if !live {
			return
		}
		if nk > 0 || fl.Now > write.End()+alarm.Samples(c.AckLatest) {
			c.Log.Warn("bs8521: event stored too late for its acknowledge; acknowledging the unit's repeat", "call", call.ID, "event", ev.ID,
				"late_ms", (fl.Now-write.End())*1000/dsp.SampleRate)
			deadline = write.End() + alarm.Samples(1500*time.Millisecond)
			return
		}
		pendingAck = max(fl.Now, write.End()+alarm.Samples(c.AckDelay))
	}
	message := func() {
		out.Messages++
		raw := string(keys[:nk])
		nk = 0
		m, err := Parse(raw)
		if err == nil {
			err = m.Validate()
		}
		if err != nil {
			out.BadMessages++
			c.Log.Warn("bs8521: message not acknowledged", "call", call.ID, "keys", raw, "err", err)
			deadline = lastEnd + alarm.Samples(1500*time.Millisecond) // the unit repeats after 600 ms
			return
		}
		ev := EventFor(m, call, c.Now())
		switch {
		case acked[ev.ID]:
			// A repeat of a message whose event is stored: acknowledge it
			// at once, without a second write.
			pendingAck = max(fl.Now, lastEnd+alarm.Samples(c.AckDelay))
		case write.Busy():
			if write.Event().ID == ev.ID {
				write.Repeated(lastEnd)
			}
		default:
			if done, err := write.Start(ctx, q, ev, lastEnd); done {
				written(err, true)
			}
		}
	}
	digit := func(ev dsp.DigitEvent) {
		if ev.Start < toneEnd || done {
			return
		}
		if nk > 0 && ev.Start-lastEnd > alarm.Samples(c.InterDigitTimeout) {
			nk = 0
		}
		keys[nk] = ev.Key
		nk++
		lastEnd = ev.End
		if nk == MessageKeys {
			message()
		}
	}
	fl.Init("bs8521", ch, det.Process, digit)
	hungUp, err := fl.Run(ctx, func(buf []int16) (bool, error) {
		now := fl.Now
		if nk > 0 && now-lastEnd > alarm.Samples(c.InterDigitTimeout) {
			c.Log.Warn("bs8521: partial message dropped", "call", call.ID, "keys", nk)
			out.Messages++
			out.BadMessages++
			nk = 0
			deadline = lastEnd + alarm.Samples(1500*time.Millisecond)
		}
		if done, err := write.Poll(fl.Ahead()); done {
			written(err, true)
		}
		switch {
		case pendingAck >= 0 && now >= pendingAck:
			_ = gen.QueueKey(AckKey, AckMs, 0)
			toneEnd = now + alarm.Samples(AckMs*time.Millisecond)
			pendingAck = -1
			deadline = toneEnd + alarm.Samples(c.MoreTimeout)
		case nk > 0 || pendingAck >= 0 || gen.Busy() || write.Busy():
		case deadline >= 0 && now < deadline:
		case len(out.Events) > 0:
			out.Reason = alarm.ReasonIdle
			done = true
		case nextReq >= 0 && now >= nextReq:
			if out.Handshakes >= c.MaxRequests || (firstReq >= 0 && now-firstReq > alarm.Samples(c.GiveUp)) {
				out.Reason = alarm.ReasonNoMessage
				done = true
				break
			}
			if firstReq < 0 {
				firstReq = now
			}
			_ = gen.QueueKey(DataRequestKey, DataRequestMs, 0)
			out.Handshakes++
			toneEnd = now + alarm.Samples(DataRequestMs*time.Millisecond)
			deadline = toneEnd + alarm.Samples(c.FirstDigitTimeout)
			nextReq = now + alarm.Samples(c.DataRequestInterval)
		case deadline >= 0 && now >= deadline:
			// Bad message or no answer: request again (now, or at the
			// next interval).
			deadline = -1
			nextReq = max(nextReq, now)
		}
		gen.Generate(buf)
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

// EventFor turns a valid message heard on call into an Event: the
// controller is the controllerId, the unit the deviceId (the device lookup
// key is controller:unit, or the controller alone), the event code the
// status code.
func EventFor(m Message, call alarm.Call, at time.Time) alarm.Event {
	ev := alarm.Event{
		ID:           alarm.EventID(call.Domain, call.ID, alarm.ProtoBS8521, m.Raw),
		Protocol:     alarm.ProtoBS8521,
		Domain:       call.Domain,
		Received:     at,
		Raw:          m.Raw,
		CallerID:     call.Caller,
		CallID:       call.ID,
		CalledNumber: call.Called,
		ControllerID: m.Controller,
		DeviceID:     m.Unit,
		StatusCode:   "0" + m.Event,
		Location:     m.Location,
		BS8521: &alarm.BS8521Fields{SystemType: m.SystemType, SpeechMode: m.SpeechMode, Conformance: m.Conformance,
			Controller: m.Controller, Unit: m.Unit, Event: m.Event, Location: m.Location, Priority: m.Priority, Status: m.Status},
	}
	if p := m.Priority[0]; p >= '0' && p <= '9' {
		ev.Priority = int(p - '0')
	}
	return ev
}
