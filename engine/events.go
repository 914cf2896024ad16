package engine

import "time"

// Event is a SIP event for observers outside the engine (the notification
// settings' sipEventsRestEndpoint): a registration made, refreshed or
// gone, a call started, answered or ended.
type Event struct {
	Type   string    `json:"type"` // EventRegistration, EventUnregistration, EventCallStart, EventCallAnswer, EventCallEnd
	Time   time.Time `json:"time"`
	Domain string    `json:"domain"`

	// Registrations.
	AOR       string    `json:"aor,omitempty"`
	Contact   string    `json:"contact,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	Source    string    `json:"source,omitempty"`
	Transport string    `json:"transport,omitempty"`
	UserAgent string    `json:"userAgent,omitempty"`

	// Calls.
	CallID string    `json:"callId,omitempty"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Route  string    `json:"route,omitempty"`  // "alarmbridge/<id>", "trunk/<id>", ...
	Start  time.Time `json:"start,omitzero"`   // calls
	Answer time.Time `json:"answer,omitzero"`  // calls, once answered
	Result string    `json:"result,omitempty"` // callEnd: final SIP status or "answered", "cancelled", "failed"
}

// Event types.
const (
	EventRegistration   = "registration"
	EventUnregistration = "unregistration"
	EventCallStart      = "callStart"
	EventCallAnswer     = "callAnswer"
	EventCallEnd        = "callEnd"
)

// WithEvents makes the engine call f with each Event. f runs on the
// signalling path: it must not block (queue and return).
func WithEvents(f func(Event)) Option { return func(e *Engine) { e.events = f } }

func (e *Engine) emit(ev Event) {
	if e.events != nil {
		if ev.Time.IsZero() {
			ev.Time = time.Now()
		}
		e.events(ev)
	}
}
