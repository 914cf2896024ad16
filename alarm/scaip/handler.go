package scaip

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// Handler answers SCAIP requests that alarm units send to the gateway (an
// alarmbridge with protocol scaip). An alarm, reset or update is queued and
// answered snu 0 only once Enqueue succeeded; otherwise the answer is snu 6
// (busy), so the unit resends or turns to its backup receiver. A heartbeat
// (PI) is passed to OnHeartbeat and answered at once.
type Handler struct {
	Queue alarm.Queue
	// OnHeartbeat records a PI from a unit (cmd wires heartbeat
	// supervision, after mapping authenticated the device). Its error is
	// answered as busy.
	OnHeartbeat func(ctx context.Context, ev alarm.Event) error
	// Mre is the voice mode offered after an alarm (0 none, 1 duplex).
	Mre int
	// HeartbeatMinutes is sent as hbi when set (1-1440).
	HeartbeatMinutes int
	// CallbackMinutes is sent with an accepted alarm as cre when set: the
	// ARC calls the unit back within that many minutes, so the unit stays
	// reachable (at its registration) meanwhile.
	CallbackMinutes int
	Now             func() time.Time
	Log             *slog.Logger
}

// Handle processes one request body received on call and returns the
// response body, and the event when one was queued.
func (h *Handler) Handle(ctx context.Context, body []byte, call alarm.Call) ([]byte, *alarm.Event) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	req, err := ParseRequest(body)
	if err != nil {
		log.Warn("scaip: request refused", "call", call.ID, "ref", req.Ref, "err", err)
		return mustMarshal(Answer(req, err, 0, 0)), nil
	}
	ev := EventFromRequest(req, body, call, now())
	if req.Type() == TypeHeartbeat {
		if h.OnHeartbeat != nil {
			if err := h.OnHeartbeat(ctx, ev); err != nil {
				log.Warn("scaip: heartbeat not recorded", "cid", req.Cid, "err", err)
				return mustMarshal(Response{Ref: req.Ref, Snu: SnuBusy}), nil
			}
		}
		return mustMarshal(Answer(req, nil, 0, h.HeartbeatMinutes)), nil
	}
	if err := h.Queue.Enqueue(ctx, ev); err != nil {
		log.Error("scaip: event not queued, answering busy", "cid", req.Cid, "ref", req.Ref, "err", err)
		return mustMarshal(Response{Ref: req.Ref, Snu: SnuBusy}), nil
	}
	log.Info("scaip: event queued", "cid", req.Cid, "ref", req.Ref, "event", ev.ID)
	resp := Answer(req, nil, h.Mre, h.HeartbeatMinutes)
	if h.CallbackMinutes > 0 && req.Type() == TypeAlarm {
		cre := min(h.CallbackMinutes, maxCallbackMinutes)
		resp.Cre = &cre
	}
	return mustMarshal(resp), &ev
}

// maxCallbackMinutes bounds cre as hbi is bounded: a day.
const maxCallbackMinutes = 1440

// mustMarshal encodes a response; the types cannot fail to encode.
func mustMarshal(r Response) []byte {
	b, err := r.Marshal()
	if err != nil {
		panic("scaip: response does not encode: " + err.Error())
	}
	return b
}
