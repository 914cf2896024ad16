package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/edgebridge/edgebridge/alarm"
)

var (
	// ErrNoBridge means no alarmbridge's destinationMatch matches the called number.
	ErrNoBridge = errors.New("alarm: no alarmbridge matches the called number")
	// ErrUnknownDevice means the event's identity matches no provisioned
	// device. The receiver then sends no kissoff, so the alarm unit falls
	// back to its own retries and backup number instead of being lost here.
	ErrUnknownDevice = errors.New("alarm: unknown device")
)

// Router picks the alarmbridge for a call and maps the events it hears.
type Router struct {
	Prov alarm.Provisioning
}

// Route returns the alarmbridge whose destinationMatch matches the called
// number (user part or full number, as the caller has it). Bridges are tried
// in the order provisioning lists them; the first match wins. A bridge with
// a destinationMatch that does not compile is skipped, not fatal: one bad
// rule must not stop alarms for the others.
func (r *Router) Route(domain, called string) (*alarm.AlarmBridge, error) {
	bridges, err := r.Prov.AlarmBridges(domain)
	if err != nil {
		return nil, fmt.Errorf("alarm: route %q: %w", called, err)
	}
	for i := range bridges {
		re, err := alarm.CompileMatch(bridges[i].DestinationMatch)
		if err != nil {
			continue
		}
		if re.MatchString(called) {
			b := bridges[i]
			return &b, nil
		}
	}
	return nil, fmt.Errorf("%w (domain %s, called %q)", ErrNoBridge, domain, called)
}

// Authenticate finds the provisioned device for ev: by its full identity,
// then (a unit provisioned for the controller as a whole) without the device
// id, then by the calling number against deviceCLI. An event that already
// names its device (DeviceKey, set by supervision) is looked up by that.
func (r *Router) Authenticate(domain string, ev *alarm.Event) (*alarm.Device, error) {
	keys := []string{alarm.DeviceKey(ev.CustomerSiteID, ev.ControllerID, ev.DeviceID)}
	if ev.DeviceKey != "" {
		// Raised by the gateway about a known device (heartbeat supervision).
		keys = []string{ev.DeviceKey}
	} else if ev.DeviceID != "" {
		keys = append(keys, alarm.DeviceKey(ev.CustomerSiteID, ev.ControllerID, ""))
	}
	// A device is stored under its deviceId: one read each, on the way to
	// the kissoff. Reading every device (below) is for the rest: a document
	// stored under another id, and the calling number.
	for _, k := range keys {
		if k == "" {
			continue
		}
		d, err := r.Prov.Device(domain, k)
		if err != nil {
			return nil, fmt.Errorf("alarm: device lookup: %w", err)
		}
		if d != nil && d.DeviceID == k {
			return d, nil
		}
	}
	devices, err := r.Prov.Devices(domain)
	if err != nil {
		return nil, fmt.Errorf("alarm: device lookup: %w", err)
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		for i := range devices {
			if devices[i].DeviceID == k {
				return &devices[i], nil
			}
		}
	}
	if ev.CallerID != "" {
		for i := range devices {
			if devices[i].DeviceCLI != "" && devices[i].DeviceCLI == ev.CallerID {
				return &devices[i], nil
			}
		}
	}
	return nil, fmt.Errorf("%w %q (domain %s)", ErrUnknownDevice, keys[0], domain)
}

// DeviceProtocol resolves a deviceProvisioned alarmbridge for one call: the
// calling device is the provisioned device whose deviceCLI or deviceId is
// the caller (calling number or SIP From user), and its
// serviceData.alarmBridge.alarmProtocol is the protocol. It returns a copy
// of b with that protocol, or an error when the caller is no such device
// (the call is then refused before it is answered).
func (r *Router) DeviceProtocol(domain string, b *alarm.AlarmBridge, caller string) (*alarm.AlarmBridge, error) {
	if caller == "" {
		return nil, fmt.Errorf("alarmbridge %s: deviceProvisioned needs the caller's number to find its device", b.ID)
	}
	devices, err := r.Prov.Devices(domain)
	if err != nil {
		return nil, fmt.Errorf("alarm: device lookup: %w", err)
	}
	for i := range devices {
		d := &devices[i]
		if d.DeviceCLI != caller && d.DeviceID != caller {
			continue
		}
		p := ""
		if d.ServiceData != nil && d.ServiceData.AlarmBridge != nil {
			p = d.ServiceData.AlarmBridge.AlarmProtocol
		}
		if !slices.Contains(alarm.CallProtocols, p) {
			return nil, fmt.Errorf("alarmbridge %s: device %s has serviceData.alarmBridge.alarmProtocol %q, want one of %v", b.ID, d.DeviceID, p, alarm.CallProtocols)
		}
		out := *b
		out.Protocol = p
		return &out, nil
	}
	return nil, fmt.Errorf("%w: no provisioned device calls from %q (alarmbridge %s, deviceProvisioned)", ErrUnknownDevice, caller, b.ID)
}

// Map applies the alarmbridge, the device and the event mapper to ev, in
// that order, and records the decisions on the event:
//   - customerSiteId of the bridge is copied in and prefixes the device lookup;
//   - the device must be provisioned (Authenticate), and its
//     serviceData.alarmBridge.overrideInAlarmEvent replaces event fields;
//   - the bridge's customEventMap rewrites fields per event code;
//   - the mapper's mapDeviceIdToControllerId (with pad lengths), callerId and
//     fromDomain rewrite identity; alarmHandling with the device's
//     usePredefinedDestination and emergencyDestination pick the voice
//     destination.
func (r *Router) Map(domain string, bridge *alarm.AlarmBridge, ev *alarm.Event) error {
	ev.Domain = domain
	ev.AlarmBridgeID = bridge.ID
	if bridge.CustomerSiteID != "" {
		ev.CustomerSiteID = bridge.CustomerSiteID
	}
	dev, err := r.Authenticate(domain, ev)
	if err != nil {
		return err
	}
	ev.DeviceKey = dev.DeviceID
	var dab *alarm.DeviceAlarmBridge
	if dev.ServiceData != nil {
		dab = dev.ServiceData.AlarmBridge
	}
	if dab != nil {
		applyOverride(dab.OverrideInAlarmEvent, ev)
	}
	if err := applyCustomEventMap(bridge.CustomEventMap, ev); err != nil {
		return fmt.Errorf("alarm: alarmbridge %s: %w", bridge.ID, err)
	}

	var m *alarm.EventMapper
	if bridge.AlarmEventMapperID != "" {
		m, err = r.Prov.EventMapper(domain, bridge.AlarmEventMapperID)
		if err != nil {
			return fmt.Errorf("alarm: event mapper %s: %w", bridge.AlarmEventMapperID, err)
		}
	}
	if m == nil {
		// No sender configured: the event still goes to the queue (it may
		// have the bridge's callback), but there is no voice destination.
		ev.Handling = alarm.HandlingDrop
		return nil
	}
	ev.MapperID = m.ID
	// mappingRules: the mapper's own per-event rules, read like
	// customEventMap and applied after the bridge's.
	if err := applyCustomEventMap(m.MappingRules, ev); err != nil {
		return fmt.Errorf("alarm: event mapper %s: mappingRules: %w", m.ID, err)
	}
	if m.MapDeviceIDToControllerID && ev.DeviceID != "" {
		// "concatenate controllerId and deviceId and then remove deviceId"
		ev.ControllerID = padLeft(ev.ControllerID, m.ControllerIDPadLength) + padLeft(ev.DeviceID, m.DeviceIDPadLength)
		ev.DeviceID = ""
	}
	if m.CallerID != "" {
		ev.CallerID = m.CallerID
	}
	if m.FromDomain != "" {
		ev.FromDomain = m.FromDomain
	}

	ev.Handling = m.AlarmHandling
	if dab != nil && dab.UsePredefinedDestination != nil {
		switch {
		case *dab.UsePredefinedDestination && ev.Handling == alarm.HandlingCallEmergencyCenter:
			ev.Handling = alarm.HandlingUsePredefinedDestination
		case !*dab.UsePredefinedDestination && ev.Handling == alarm.HandlingUsePredefinedDestination:
			ev.Handling = alarm.HandlingCallEmergencyCenter
		}
	}
	ev.VoiceDestination = ""
	switch ev.Handling {
	case alarm.HandlingCallEmergencyCenter:
		switch {
		case dab != nil && dab.EmergencyDestination != "":
			ev.VoiceDestination = dab.EmergencyDestination
		case bridge.DefaultEmergencyDestination != "":
			ev.VoiceDestination = bridge.DefaultEmergencyDestination
		default:
			ev.VoiceDestination = m.TargetEndpoint.DefaultVoiceDestination
		}
	case alarm.HandlingUsePredefinedDestination:
		ev.VoiceDestination = m.TargetEndpoint.DefaultVoiceDestination
	case alarm.HandlingRequestCallback, alarm.HandlingDrop:
		// No voice call from here: the ARC calls back, or the call is
		// cleared after the kissoff. The event is delivered either way;
		// an alarm is never dropped silently.
	default:
		return fmt.Errorf("alarm: event mapper %s: alarmHandling %q is not one of callEmergencyCenter, usePredefinedDestination, requestCallback, drop", m.ID, m.AlarmHandling)
	}
	if m.UseVoiceBridge != nil && !*m.UseVoiceBridge {
		// provisioning schema, useVoiceBridge "switches the usage of voice bridge on
		// and off": off, the event is delivered and the call cleared.
		ev.VoiceDestination = ""
	}
	return nil
}

// UnknownEventDestination is where a call goes when nothing in it could be
// decoded (mapper unknownAlarmEventVoiceDestination): the caller connects the
// alarm unit to a human rather than dropping it. Empty when none is set.
func (r *Router) UnknownEventDestination(domain string, bridge *alarm.AlarmBridge) string {
	if bridge == nil || bridge.AlarmEventMapperID == "" {
		return ""
	}
	m, err := r.Prov.EventMapper(domain, bridge.AlarmEventMapperID)
	if err != nil || m == nil {
		return ""
	}
	return m.UnknownAlarmEventVoiceDestination
}

func padLeft(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

// applyCustomEventMap reads customEventMap as this gateway defines it (the
// provisioning schema only refers to a format it does not give): an object whose keys name an
// event and whose values are overrideInAlarmEvent objects. Keys are tried
// from the most to the least specific, and the first present wins:
// "protocol:qualifier+code" ("contactid:1130"), "protocol:code"
// ("contactid:130"), then the bare code ("130"). The code of a non
// Contact ID event is its statusCode.
func applyCustomEventMap(raw json.RawMessage, ev *alarm.Event) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var rules map[string]alarm.EventOverride
	if err := json.Unmarshal(raw, &rules); err != nil {
		return fmt.Errorf("customEventMap: each key must map to an overrideInAlarmEvent object: %w", err)
	}
	if len(rules) == 0 {
		return nil
	}
	p := string(ev.Protocol)
	var keys []string
	if c := ev.ContactID; c != nil {
		keys = []string{p + ":" + c.Qualifier + c.Code, p + ":" + c.Code, c.Code}
	} else if ev.StatusCode != "" {
		keys = []string{p + ":" + ev.StatusCode, ev.StatusCode}
	}
	for _, k := range keys {
		if o, ok := rules[k]; ok {
			applyOverride(&o, ev)
			return nil
		}
	}
	return nil
}

// MappedQueue maps each event for one call's alarmbridge and passes it on.
// A mapping error (unknown device, bad mapper) fails Enqueue, so the
// receiver withholds the kissoff.
type MappedQueue struct {
	Router *Router
	Domain string
	Bridge *alarm.AlarmBridge
	Next   alarm.Queue
	// Unknown sees an event refused for want of a provisioned device
	// (Service.noteUnknown); may be nil.
	Unknown func(ctx context.Context, domain string, b *alarm.AlarmBridge, ev alarm.Event)
}

// Enqueue maps ev and queues it.
func (q *MappedQueue) Enqueue(ctx context.Context, ev alarm.Event) error {
	if err := q.Router.Map(q.Domain, q.Bridge, &ev); err != nil {
		if q.Unknown != nil && unknownDevice(err) {
			q.Unknown(ctx, q.Domain, q.Bridge, ev)
		}
		return err
	}
	return q.Next.Enqueue(ctx, ev)
}

// applyOverride copies every set field of o (overrideInAlarmEvent) onto ev.
func applyOverride(o *alarm.EventOverride, ev *alarm.Event) {
	if o == nil {
		return
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&ev.DeviceType, o.DeviceType)
	set(&ev.ControllerID, o.ControllerID)
	set(&ev.DeviceComponent, o.DeviceComponent)
	set(&ev.SystemConfig, o.SystemConfig)
	set(&ev.Location, o.Location)
	set(&ev.Audio, o.Audio)
	set(&ev.DeviceID, o.DeviceID)
	set(&ev.StatusCode, o.StatusCode)
	if o.Priority != nil {
		ev.Priority = *o.Priority
	}
}
