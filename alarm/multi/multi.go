package multi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
)

// Receiver tries each of its receivers in turn, each with a short opening,
// until one hears a message; that one then runs the call to its end. A
// receiver that heard something (even a bad message) keeps the call, since
// the unit speaks its protocol and will repeat.
type Receiver struct {
	Tries  []alarm.Receiver
	Rounds int // times through the list [2]
	Log    *slog.Logger

	heard alarm.Receiver // the try that kept the call
}

var _ alarm.Receiver = (*Receiver)(nil)

// Receive runs the tries in order.
func (m *Receiver) Receive(ctx context.Context, ch alarm.Channel, call alarm.Call, q alarm.Queue) (alarm.Outcome, error) {
	rounds := m.Rounds
	if rounds <= 0 {
		rounds = 2
	}
	var total alarm.Outcome
	for range rounds {
		for _, r := range m.Tries {
			out, err := r.Receive(ctx, ch, call, q)
			total.Handshakes += out.Handshakes
			total.Messages += out.Messages
			total.BadMessages += out.BadMessages
			total.EnqueueFailures += out.EnqueueFailures
			total.Events = append(total.Events, out.Events...)
			total.ListenIn = out.ListenIn
			total.Reason = out.Reason
			if err != nil || out.Reason != alarm.ReasonNoMessage || out.Messages > 0 {
				m.heard = r
				return total, err
			}
			if m.Log != nil {
				m.Log.Debug("multi: no answer, next protocol", "call", call.ID, "tried", fmt.Sprintf("%T", r))
			}
		}
	}
	return total, nil
}

// Clear clears the unit down with the signal of the protocol it answered
// in, when that protocol leaves the clear-down to the caller (alarm.Clearer).
func (m *Receiver) Clear(ctx context.Context, ch alarm.Channel) error {
	if c, ok := m.heard.(alarm.Clearer); ok {
		return c.Clear(ctx, ch)
	}
	return nil
}

// ForBridge returns the receiver for an alarmbridge's protocol and settings.
// "contactid" is this gateway's extension of the schema's protocol list;
// "multiprotocol" tries Contact ID, then BS 8521 (fallbackAlarmProtocol
// first when it is set). Protocols that do not run on an audio call (scaip,
// api, voicecall, nowip...) are an error.
func ForBridge(b alarm.AlarmBridge, log *slog.Logger) (alarm.Receiver, error) {
	if log == nil {
		log = slog.Default()
	}
	bsCfg := bs8521.Config{Log: log}
	if b.DataRequestInterval > 0 {
		bsCfg.DataRequestInterval = time.Duration(b.DataRequestInterval) * time.Millisecond
	}
	switch b.Protocol {
	case "tt92":
		return tt92.NewReceiver(tt92.Config{Variant: tt92.TT92, Mode: b.ProtocolMode, Log: log, DeferClear: true})
	case "ttnew":
		return tt92.NewReceiver(tt92.Config{Variant: tt92.TTnew, Mode: b.ProtocolMode, Log: log, DeferClear: true})
	case "contactid":
		return contactid.NewReceiver(contactid.Config{Log: log})
	case "bs8521":
		return bs8521.NewReceiver(bsCfg)
	case "multiprotocol":
		// Short openings, so that the next protocol comes before the unit
		// gives up: one Contact ID handshake, two data requests per round.
		cid, err := contactid.NewReceiver(contactid.Config{Log: log, HandshakeDelay: 500 * time.Millisecond, MaxHandshakes: 1, FirstDigitTimeout: 2 * time.Second})
		if err != nil {
			return nil, err
		}
		bsCfg.MaxRequests = 2
		bsCfg.AnswerDelay = 100 * time.Millisecond
		bs, err := bs8521.NewReceiver(bsCfg)
		if err != nil {
			return nil, err
		}
		tries := []alarm.Receiver{cid, bs}
		switch b.FallbackAlarmProtocol {
		case "bs8521":
			tries = []alarm.Receiver{bs, cid}
		case "tt92", "ttnew":
			// The fallback is offered first: a unit of the site's own kind
			// is the likely caller.
			v := tt92.TT92
			if b.FallbackAlarmProtocol == "ttnew" {
				v = tt92.TTnew
			}
			tt, err := tt92.NewReceiver(tt92.Config{Variant: v, Mode: b.ProtocolMode, Log: log, MaxPrompts: 2, AnswerDelay: 100 * time.Millisecond, DeferClear: true})
			if err != nil {
				return nil, err
			}
			tries = []alarm.Receiver{tt, cid, bs}
		}
		return &Receiver{Tries: tries, Log: log}, nil
	}
	return nil, fmt.Errorf("alarmbridge %s: protocol %q is not received on an audio call here (have contactid, bs8521, tt92, ttnew, multiprotocol)", b.ID, b.Protocol)
}
