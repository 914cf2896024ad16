package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/store"
)

// StoreResolver finds an event's destinations in the provisioning documents
// the REST API stores, read fresh for every call:
//
//   - the alarm event mapper's targetEndpoint (with its backupEndpoint and
//     enableDestinationMonitoring), when its protocol can be sent here:
//     dc09, http/https, or one listed in Protocols (a sender registered
//     with WithSender, e.g. "scaip");
//   - the alarmbridge's HTTP callback: notificationsettings'
//     alarmbridgeCallbackEndpoint with its restAuthentication and
//     httpTimeout, else the alarmbridge's callbackBaseUrl with its own
//     restAuthentication and callbackTimeout.
//
// An event with neither gets no route, so Enqueue fails and the alarm unit
// gets no kissoff (it then uses its own retries and backup number).
type StoreResolver struct {
	DB        *store.DB
	Prov      alarm.Provisioning
	Protocols []string
}

// Resolve is a Resolver.
func (r StoreResolver) Resolve(ev alarm.Event) ([]Route, error) {
	if ev.Domain == "" {
		return nil, fmt.Errorf("delivery: event %s has no domain", ev.ID)
	}
	var routes []Route
	if ev.MapperID != "" {
		m, err := r.Prov.EventMapper(ev.Domain, ev.MapperID)
		if err != nil {
			return nil, err
		}
		if m != nil {
			switch p := m.TargetEndpoint.Protocol; {
			case p == ProtoDC09 || p == "http" || p == "https" || slices.Contains(r.Protocols, p):
				rt, err := MapperRoute(ev.Domain, m)
				if err != nil {
					return nil, err
				}
				routes = append(routes, rt)
			}
		}
	}
	cb, err := r.callback(ev)
	if err != nil {
		return nil, err
	}
	if cb != nil {
		routes = append(routes, *cb)
	}
	return routes, nil
}

type callbackSettings struct {
	Endpoint    string     `json:"alarmbridgeCallbackEndpoint"`
	BaseURL     string     `json:"callbackBaseUrl"`
	Auth        []RestAuth `json:"restAuthentication"`
	HTTPTimeout int64      `json:"httpTimeout"`
	Timeout     int64      `json:"callbackTimeout"`
}

func (r StoreResolver) callback(ev alarm.Event) (*Route, error) {
	read := func(resource, id string) (callbackSettings, error) {
		var s callbackSettings
		doc, err := r.DB.Get(store.Coll{Domain: ev.Domain, Resource: resource}, id)
		if errors.Is(err, store.ErrNotFound) {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		if err := json.Unmarshal(doc, &s); err != nil {
			return s, fmt.Errorf("delivery: %s %s/%s: %w", resource, ev.Domain, id, err)
		}
		return s, nil
	}
	ns, err := read("notificationsettings", "settings")
	if err != nil {
		return nil, err
	}
	if ns.Endpoint != "" {
		rt, err := CallbackRoute(ev.Domain, "notificationsettings", ns.Endpoint, ns.Auth, nil, ns.HTTPTimeout)
		return &rt, err
	}
	if ev.AlarmBridgeID == "" {
		return nil, nil
	}
	ab, err := read("alarmbridge", ev.AlarmBridgeID)
	if err != nil || ab.BaseURL == "" {
		return nil, err
	}
	rt, err := CallbackRoute(ev.Domain, ev.AlarmBridgeID, ab.BaseURL, ab.Auth, nil, ab.Timeout)
	return &rt, err
}
