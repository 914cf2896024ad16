package gateway

import (
	"context"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/engine"
)

// supervisionAlert files the alerts of a supervision event the gateway
// raised: an ARC path offline (cleared when it is online again), an alarm
// from an unknown account, the store unwritable (cleared when writable),
// and the gateway's own alerts (opsalerts.go: the kind is the alert type,
// DeviceID the cause), with the engine's once-per-cause rule; the engine
// keeps them with its own alerts and lists them in the API.
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
	case "store":
		if ev.Supervision.State == "unwritable" {
			eng.RaiseAlert(ev.Domain, engine.AlertStoreUnwritable, "store", ev.Raw, "")
		} else {
			eng.ClearAlert(ev.Domain, engine.AlertStoreUnwritable, "store", ev.Raw)
		}
	case engine.AlertQueueBacklog, engine.AlertStoreNearlyFull:
		if ev.Supervision.State == "offline" {
			eng.RaiseAlert(ev.Domain, ev.Supervision.Kind, ev.DeviceID, ev.Raw, "")
		} else {
			eng.ClearAlert(ev.Domain, ev.Supervision.Kind, ev.DeviceID, ev.Raw)
		}
	}
}

// postAlert sends an engine alert to alarmEventsRestEndpoint, except those
// the gateway filed from a supervision event: that event was posted already
// (as a service alarm), and one cause is one notification. A trunk's lost
// registration and repeated digest failures also go to the domain's ARCs
// as supervision events (raised "offline", cleared "online"), as the
// gateway's own alerts do: the ARC watches the gateway's health.
func (g *Gateway) postAlert(a engine.Alert) {
	switch a.AlertType {
	case engine.AlertARCPathDown, engine.AlertUnknownAccount, engine.AlertStoreUnwritable, engine.AlertQueueBacklog, engine.AlertStoreNearlyFull:
		return
	}
	g.notify.Alert(a)
	switch a.AlertType {
	case engine.AlertNoCarrier, engine.AlertAuthFailures:
		state := "offline"
		if a.Cleared {
			state = "online"
		}
		evs := g.supervisionEvents([]string{a.AccountID}, a.AlertType, "", state, a.Message, a.Time)
		// The engine calls this from its own goroutine: the durable write
		// must not hold it.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, ev := range evs {
				g.queueSupervision(ctx, ev)
			}
		}()
	}
}
