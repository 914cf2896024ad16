package gateway

import (
	"strings"
	"sync"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/engine"
)

// TestSupervisionAlerts: an ARC path going offline raises one
// arc-path-down alert (a second offline event for it raises none), its
// coming back clears it, and an unknown account raises
// unknown-alarm-account once per account.
func TestSupervisionAlerts(t *testing.T) {
	var mu sync.Mutex
	var got []string
	eng, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "d"}, engine.WithAlerts(func(a engine.Alert) {
		mu.Lock()
		defer mu.Unlock()
		s := a.AlertType
		if a.Cleared {
			s += " cleared"
		}
		got = append(got, s+": "+a.Message)
	}))
	if err != nil {
		t.Fatal(err)
	}
	path := func(state string) alarm.Event {
		return alarm.Event{Domain: "d", Protocol: alarm.ProtoSupervision, DeviceID: "arc1", DeviceComponent: "primary",
			Supervision: &alarm.SupervisionFields{Kind: "destination", State: state}}
	}
	unknown := alarm.Event{Domain: "d", Protocol: alarm.ProtoSupervision, ControllerID: "4321",
		Supervision: &alarm.SupervisionFields{Kind: "unknownaccount", State: "offline"}}
	for _, ev := range []alarm.Event{path("offline"), path("offline"), unknown, unknown, path("online"),
		{Domain: "d", Protocol: alarm.ProtoSupervision, Supervision: &alarm.SupervisionFields{Kind: "heartbeat", State: "offline"}}} {
		supervisionAlert(eng, ev)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "arc-path-down: ARC path arc1 primary is down|unknown-alarm-account: an alarm from account 4321, which no device matches, was refused|" +
		"arc-path-down cleared: ARC path arc1 primary is up again"
	if s := strings.Join(got, "|"); s != want {
		t.Fatalf("alerts:\n%s\nwant\n%s", s, want)
	}
}
