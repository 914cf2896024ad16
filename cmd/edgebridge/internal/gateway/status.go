package gateway

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/api/console"
	"github.com/edgebridge/edgebridge/api/metrics"
)

// What the field console and /metrics read from the gateway beyond REST.

func (g *Gateway) trunkStates() []metrics.TrunkState {
	if g.eng == nil {
		return nil
	}
	st := g.eng.TrunkStatus()
	out := make([]metrics.TrunkState, len(st))
	for i, s := range st {
		out[i] = metrics.TrunkState{Name: s.Domain + "/" + s.TrunkID, Up: s.Up}
	}
	return out
}

func (g *Gateway) sipEdge() metrics.SIPEdgeCounts {
	s := g.engineStats()
	return metrics.SIPEdgeCounts{Malformed: s.Malformed, Panics: s.Panics, StrayResponses: s.StrayResponses, AuthFailures: s.AuthFailures, AuthBlocked: s.AuthBlocked,
		Shed: s.Shed, Setups: s.Setups, QueueDelay: s.QueueDelay}
}

func (g *Gateway) rtpCounts() metrics.RTPCounts {
	s := g.engineStats()
	return metrics.RTPCounts{Received: s.RTPReceived, Lost: s.RTPLost, Jitter: s.RTPJitter}
}

// countFrames counts the frames an alarm receiver reads (for /metrics); an
// atomic add per frame, no allocation.
type countFrames struct {
	alarm.Channel
	n *atomic.Uint64
}

func (c countFrames) ReadFrame(pcm []int16) error {
	err := c.Channel.ReadFrame(pcm)
	if err == nil {
		c.n.Add(1)
	}
	return err
}

// recentAlarms keeps the last events the gateway acknowledged, newest last,
// for the console's `alarms` and the status page (the queue and the ARC
// keep the durable record). changed is closed at each change, so the
// page's event stream wakes at once.
type recentAlarms struct {
	mu      sync.Mutex
	buf     []console.AlarmInfo
	changed chan struct{}
	// early holds acknowledgements of events not listed yet: the ARC can
	// acknowledge an event before the Enqueue that queued it has returned
	// to the code that lists it.
	early []string
}

func (r *recentAlarms) changedLocked() chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

func (r *recentAlarms) notifyLocked() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// delivered marks an event acknowledged by its destination (delivery's
// ack observer).
func (r *recentAlarms) delivered(id string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	found := false
	for i := range r.buf {
		if r.buf[i].ID == id {
			r.buf[i].State = "delivered"
			found = true
			r.notifyLocked()
		}
	}
	if !found {
		r.early = append(r.early, id)
		if over := len(r.early) - recentAlarmsKept; over > 0 {
			r.early = append(r.early[:0], r.early[over:]...)
		}
	}
}

const recentAlarmsKept = 50

func (r *recentAlarms) add(ev alarm.Event) { r.addAs(ev, "queued") }

func (r *recentAlarms) addAs(ev alarm.Event, state string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.buf {
		if a.ID == ev.ID {
			return // a panel's repeat: queued once, listed once
		}
	}
	if i := slices.Index(r.early, ev.ID); i >= 0 && state == "queued" {
		r.early = slices.Delete(r.early, i, i+1)
		state = "delivered"
	}
	r.buf = append(r.buf, alarmInfo(ev, state, 0))
	if over := len(r.buf) - recentAlarmsKept; over > 0 {
		r.buf = append(r.buf[:0], r.buf[over:]...)
	}
	r.notifyLocked()
}

func alarmInfo(ev alarm.Event, state string, attempts int) console.AlarmInfo {
	a := console.AlarmInfo{ID: ev.ID, Domain: ev.Domain, Protocol: string(ev.Protocol), State: state, At: ev.Received, Attempts: attempts,
		Account: ev.ControllerID, Code: ev.StatusCode, Test: ev.Test}
	if c := ev.ContactID; c != nil {
		a.Account, a.Code, a.Zone = c.Account, c.Qualifier+c.Code, c.Zone
	}
	return a
}

// RecentAlarms implements console.Alarms.
func (g *Gateway) RecentAlarms(n int) []console.AlarmInfo {
	g.recent.mu.Lock()
	defer g.recent.mu.Unlock()
	b := g.recent.buf
	if n < len(b) {
		b = b[len(b)-n:]
	}
	return append([]console.AlarmInfo(nil), b...)
}

// QueuedAlarms implements console.Alarms.
func (g *Gateway) QueuedAlarms() []console.AlarmInfo {
	p, err := g.dl.Pending(100)
	if err != nil {
		g.log.Warn("console: queued alarms", "err", err)
	}
	out := make([]console.AlarmInfo, 0, len(p))
	for _, q := range p {
		state := "queued for " + q.Dest
		if q.LastError != "" {
			state += ", last error: " + q.LastError
		}
		if !q.NextAttempt.IsZero() && q.NextAttempt.After(time.Now()) {
			state += ", next try " + q.NextAttempt.Format(time.TimeOnly)
		}
		out = append(out, alarmInfo(q.Event, state, q.Attempts))
	}
	return out
}

// RetryNow implements console.Alarms.
func (g *Gateway) RetryNow() (int, error) { return g.dl.RetryNow() }

// ListCalls implements console.Calls: the alarm calls in progress (SIP
// and FXS line) and the call to the FXS line (the ARC calling the unit
// back).
func (g *Gateway) ListCalls() []console.CallInfo {
	var out []console.CallInfo
	g.live.Range(func(_, v any) bool {
		la := v.(*liveAlarm)
		out = append(out, console.CallInfo{ID: la.id, Domain: la.domain, From: la.from, To: la.to, State: "alarm", Started: la.start})
		return true
	})
	if cb := g.lineCallback.Load(); cb != nil {
		out = append(out, cb.info())
	}
	return out
}

// HangupCall implements console.Calls.
func (g *Gateway) HangupCall(id string) error {
	if cb := g.lineCallback.Load(); cb != nil && cb.id == id {
		cb.end(errHangupRequested)
		return nil
	}
	la, err := g.liveCall("", id)
	if err != nil {
		return err
	}
	return la.hangup()
}
