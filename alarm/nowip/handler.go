package nowip

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/bs8521"
)

// Proto marks the events of NOW-IP units. They carry the BS 8521 fields
// (alarm.Event.BS8521) like an in-band BS 8521 alarm.
const Proto alarm.Protocol = "nowip"

// Handler takes the <ATM> MESSAGEs units send to the gateway.
type Handler struct {
	Queue alarm.Queue
	// OnHeartbeat records a type 0 message (the gateway wires heartbeat
	// supervision, after mapping authenticated the device).
	OnHeartbeat func(ctx context.Context, ev alarm.Event) error
	// Refused is the SIP status for an event the queue or OnHeartbeat
	// refused (an unknown device, a full disk); default 503.
	Refused func(err error) int
	// VerifyMAC checks a message's mac. Nil: the mac is not checked (its
	// algorithm is not public; see the package doc).
	VerifyMAC func(m Message) error
	Now       func() time.Time
	Log       *slog.Logger
}

// Result is what Handle did with one MESSAGE.
type Result struct {
	Code int // the SIP status of the MESSAGE's transaction
	// Ack is the <ATM> of type A to send to the unit after Code, nil when
	// nothing is acknowledged.
	Ack   []byte
	Msg   Message
	Event *alarm.Event // queued (type 1) or recorded (type 0)
}

// Handle processes one MESSAGE body from a unit on call (Caller is the
// unit's SIP From user, ID names the MESSAGE). Alarms and heartbeats are
// answered 200 with an acknowledgement only once queued or recorded.
// Commands and their answers are not taken from units: 403.
func (h *Handler) Handle(ctx context.Context, body []byte, call alarm.Call) Result {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	m, err := Parse(body)
	if err != nil {
		log.Warn("nowip: message refused", "from", call.Caller, "err", err)
		return Result{Code: 400}
	}
	if h.VerifyMAC != nil {
		if err := h.VerifyMAC(m); err != nil {
			log.Warn("nowip: mac refused", "from", call.Caller, "err", err)
			return Result{Code: 403, Msg: m}
		}
	}
	switch m.Type {
	case TypeAlarm, TypeHeartbeat:
	case TypeAck:
		return Result{Code: 200, Msg: m} // acknowledges a command; the caller matches it
	default:
		log.Warn("nowip: message type not taken from a unit", "from", call.Caller, "type", m.Type)
		return Result{Code: 403, Msg: m}
	}
	ev, err := EventFor(m, body, call, now())
	if err != nil {
		log.Warn("nowip: message refused", "from", call.Caller, "type", m.Type, "err", err)
		return Result{Code: 400, Msg: m}
	}
	refused := func(err error) Result {
		code := 503
		if h.Refused != nil {
			code = h.Refused(err)
		}
		return Result{Code: code, Msg: m}
	}
	if m.Type == TypeHeartbeat {
		if h.OnHeartbeat != nil {
			if err := h.OnHeartbeat(ctx, ev); err != nil {
				log.Warn("nowip: heartbeat not recorded", "from", call.Caller, "err", err)
				return refused(err)
			}
		}
		return Result{Code: 200, Ack: Ack(m, now()).Marshal(), Msg: m, Event: &ev}
	}
	if err := h.Queue.Enqueue(ctx, ev); err != nil {
		log.Error("nowip: event not queued, not acknowledged", "from", call.Caller, "data", m.Data, "err", err)
		return refused(err)
	}
	log.Info("nowip: event queued", "from", call.Caller, "data", m.Data, "event", ev.ID)
	return Result{Code: 200, Ack: Ack(m, now()).Marshal(), Msg: m, Event: &ev}
}

// EventFor turns an alarm (type 1) or heartbeat (type 0) into an event:
// the data decoded as a BS 8521 message (bs8521.EventFor: controller,
// unit, event code, location, priority), protocol nowip, the body as raw.
// A heartbeat's 12-digit data is its identity alone.
func EventFor(m Message, body []byte, call alarm.Call, at time.Time) (alarm.Event, error) {
	if m.Type == TypeHeartbeat && len(m.Data) == 12 {
		ev := alarm.Event{
			Protocol: Proto, Domain: call.Domain, Received: at, Raw: string(body), CallerID: call.Caller,
			CallID: call.ID, CalledNumber: call.Called, ControllerID: m.Data[:8], DeviceID: m.Data[8:],
		}
		ev.ID = eventID(call, m, at)
		return ev, nil
	}
	bm, err := bs8521Message(m.Data)
	if err != nil {
		return alarm.Event{}, err
	}
	ev := bs8521.EventFor(bm, call, at)
	ev.Protocol, ev.Raw = Proto, string(body)
	ev.ID = eventID(call, m, at)
	return ev, nil
}

// bs8521Message reads the data as BS 8521's 24 digits, or 26 with a
// checksum that must match.
func bs8521Message(data string) (bs8521.Message, error) {
	switch len(data) {
	case bs8521.BodyKeys:
		sum, err := bs8521.Checksum(data)
		if err != nil {
			return bs8521.Message{}, err
		}
		return bs8521.Parse(data + sum)
	case bs8521.MessageKeys:
		bm, err := bs8521.Parse(data)
		if err != nil {
			return bm, err
		}
		return bm, bm.Validate()
	}
	return bs8521.Message{}, fmt.Errorf("%w: <data> of %d digits, want %d or %d", ErrFormat, len(data), bs8521.BodyKeys, bs8521.MessageKeys)
}

// eventID is the same for the same <ATM> from the same unit (a repeat the
// unit sends when it missed the acknowledgement); without a time, the
// receive time makes every message its own event.
func eventID(call alarm.Call, m Message, at time.Time) string {
	t := m.Time
	if t == "" {
		t = at.UTC().Format(time.RFC3339Nano)
	}
	return alarm.EventID(call.Domain, call.Caller, Proto, m.Type+"|"+m.Data+"|"+t)
}
