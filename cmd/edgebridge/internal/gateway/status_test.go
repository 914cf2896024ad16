package gateway

import (
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
)

// The ARC can acknowledge an event before the Enqueue that queued it has
// returned and listed it (a loaded machine runs the delivery worker first):
// the alarm is still listed as delivered, not queued for ever; an event
// acknowledged after it was listed turns delivered too.
func TestRecentAlarmsAckBeforeListing(t *testing.T) {
	var r recentAlarms
	r.delivered("early", 0)
	r.add(alarm.Event{ID: "early", Protocol: alarm.ProtoContactID})
	r.add(alarm.Event{ID: "late", Protocol: alarm.ProtoContactID})
	if got := r.buf[0].State; got != "delivered" {
		t.Fatalf("event acknowledged before it was listed: state %q, want delivered", got)
	}
	if got := r.buf[1].State; got != "queued" {
		t.Fatalf("event not acknowledged yet: state %q, want queued", got)
	}
	r.delivered("late", 0)
	if got := r.buf[1].State; got != "delivered" {
		t.Fatalf("event acknowledged after it was listed: state %q, want delivered", got)
	}
	if len(r.early) != 0 {
		t.Fatalf("early acknowledgements left over: %q", r.early)
	}
	for i := range 2 * recentAlarmsKept {
		r.delivered(string(rune('a'+i%26))+"-never-listed", 0)
	}
	if len(r.early) > recentAlarmsKept {
		t.Fatalf("%d early acknowledgements kept, want at most %d", len(r.early), recentAlarmsKept)
	}
}
