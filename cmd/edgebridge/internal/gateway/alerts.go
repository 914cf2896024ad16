package gateway

import (
	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/engine"
)

// supervisionAlert files the alerts of a supervision event the gateway
// raised: an ARC path offline (cleared when it is online again) and an
// alarm from an unknown account, with the engine's once-per-cause rule;
// the engine keeps them with its own alerts and lists them in the API.
func supervisionAlert(eng *engine.Engine, ev alarm.Event) {
	if eng == nil || ev.Supervision == nil {
		return
	}
	switch ev.Supervision.Kind {
	case "destination":
		key := ev.DeviceID + " " + ev.DeviceComponent
		if ev.Supervision.State == "offline" {
			eng.RaiseAlert(ev.Domain, engine.AlertARCPathDown, key, "ARC path "+key+" is down", ev.Raw)
		} else {
			eng.ClearAlert(ev.Domain, engine.AlertARCPathDown, key, "ARC path "+key+" is up again")
		}
	case "unknownaccount":
		eng.RaiseAlert(ev.Domain, engine.AlertUnknownAccount, ev.ControllerID,
			"an alarm from account "+ev.ControllerID+", which no device matches, was refused", ev.Raw)
	}
}

// postAlert sends an engine alert to alarmEventsRestEndpoint, except those
// the gateway filed from a supervision event: that event was posted already
// (as a service alarm), and one cause is one notification.
func (g *Gateway) postAlert(a engine.Alert) {
	if a.AlertType == engine.AlertARCPathDown || a.AlertType == engine.AlertUnknownAccount {
		return
	}
	g.notify.Alert(a)
}
