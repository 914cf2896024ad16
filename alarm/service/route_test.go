package service

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
)

// memProv is provisioning held in memory, for table tests.
type memProv struct {
	bridges []alarm.AlarmBridge
	mappers map[string]*alarm.EventMapper
	devices []alarm.Device
}

func (p *memProv) AlarmBridges(string) ([]alarm.AlarmBridge, error) { return p.bridges, nil }
func (p *memProv) EventMapper(_, id string) (*alarm.EventMapper, error) {
	return p.mappers[id], nil
}
func (p *memProv) Devices(string) ([]alarm.Device, error) { return p.devices, nil }
func (p *memProv) Device(_, id string) (*alarm.Device, error) {
	for i := range p.devices {
		if p.devices[i].DeviceID == id {
			return &p.devices[i], nil
		}
	}
	return nil, nil
}

func ptr[T any](v T) *T { return &v }

func TestRouteDestinationMatch(t *testing.T) {
	r := &Router{Prov: &memProv{bridges: []alarm.AlarmBridge{
		{ID: "broken", DestinationMatch: "/([/"},       // does not compile: skipped
		{ID: "cid", DestinationMatch: "/^\\+4681234/"}, // provisioning schema: "/regex/" delimiters
		{ID: "bs", DestinationMatch: "^5555$"},         // bare expression
		{ID: "any", DestinationMatch: "/.*/"},
	}}}
	for _, tc := range []struct{ called, want string }{
		{"+46812345", "cid"},      // first match in provisioning order wins
		{"5555", "bs"},            // anchored bare regex
		{"55550", "any"},          // ^5555$ does not match, falls through
		{"sip:9@gw.local", "any"}, // unanchored like a JavaScript RegExp test
	} {
		b, err := r.Route("d", tc.called)
		if err != nil || b.ID != tc.want {
			t.Errorf("Route(%q) = %v, %v; want %s", tc.called, b, err, tc.want)
		}
	}
	r = &Router{Prov: &memProv{bridges: []alarm.AlarmBridge{{ID: "x", DestinationMatch: "/^1$/"}}}}
	if _, err := r.Route("d", "2"); !errors.Is(err, ErrNoBridge) {
		t.Errorf("no match: %v, want ErrNoBridge", err)
	}
}

func TestDeviceKey(t *testing.T) {
	// provisioning schema, POST /device deviceId: "customerSiteId:controllerId:deviceId";
	// "If just a controllerId is in the alarm event the string should be set
	// to controllerId ... first colon should be omitted".
	for _, tc := range []struct{ site, ctrl, dev, want string }{
		{"site1", "ctrl", "dev", "site1:ctrl:dev"},
		{"", "ctrl", "dev", "ctrl:dev"},
		{"", "ctrl", "", "ctrl"},
		{"site1", "ctrl", "", "site1:ctrl"},
	} {
		if got := alarm.DeviceKey(tc.site, tc.ctrl, tc.dev); got != tc.want {
			t.Errorf("DeviceKey(%q,%q,%q) = %q, want %q", tc.site, tc.ctrl, tc.dev, got, tc.want)
		}
	}
}

// Each case names the provisioning schema rule it covers.
func TestMap(t *testing.T) {
	mapper := func(m alarm.EventMapper) map[string]*alarm.EventMapper {
		return map[string]*alarm.EventMapper{m.ID: &m}
	}
	target := alarm.TargetEndpoint{Protocol: "scaip", DestAddr: "sip:arc@arc.example", DefaultVoiceDestination: "sip:voice@arc.example"}
	ev := func() alarm.Event {
		return alarm.Event{Protocol: alarm.ProtoContactID, ControllerID: "1234", StatusCode: "1130", CallerID: "+4611111",
			ContactID: &alarm.ContactIDFields{Account: "1234", Qualifier: "1", Code: "130", Group: "01", Zone: "015"}}
	}
	for _, tc := range []struct {
		rule   string
		bridge alarm.AlarmBridge
		prov   memProv
		in     func() alarm.Event
		check  func(t *testing.T, ev alarm.Event)
		err    error
	}{
		{
			rule:   "device auth: controllerId alone",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingDrop, TargetEndpoint: target})},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.DeviceKey != "1234" || ev.MapperID != "m" || ev.AlarmBridgeID != "b" || ev.Domain != "d" {
					t.Errorf("%+v", ev)
				}
			},
		},
		{
			rule:   "useVoiceBridge false: callEmergencyCenter is delivered but no voice call follows",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov: memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingCallEmergencyCenter,
				TargetEndpoint: target, UseVoiceBridge: new(bool)})},
			in: ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.VoiceDestination != "" || ev.Handling != alarm.HandlingCallEmergencyCenter {
					t.Errorf("voice %q handling %q, want no voice destination", ev.VoiceDestination, ev.Handling)
				}
			},
		},
		{
			rule:   "useVoiceBridge absent: callEmergencyCenter calls the mapper's defaultVoiceDestination",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingCallEmergencyCenter, TargetEndpoint: target})},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.VoiceDestination != "sip:voice@arc.example" {
					t.Errorf("voice %q", ev.VoiceDestination)
				}
			},
		},
		{
			rule:   "device auth: unknown device rejected (no kissoff)",
			bridge: alarm.AlarmBridge{ID: "b"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "9999"}}},
			in:     ev,
			err:    ErrUnknownDevice,
		},
		{
			rule:   "alarmbridge customerSiteId: copied in and prefixes the lookup",
			bridge: alarm.AlarmBridge{ID: "b", CustomerSiteID: "siteA"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}, {DeviceID: "siteA:1234"}}},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.CustomerSiteID != "siteA" || ev.DeviceKey != "siteA:1234" {
					t.Errorf("site %q key %q", ev.CustomerSiteID, ev.DeviceKey)
				}
			},
		},
		{
			rule:   "device auth: customerSiteId:controllerId:deviceId, falling back to the controller",
			bridge: alarm.AlarmBridge{ID: "b", CustomerSiteID: "s"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "s:c1"}}},
			in:     func() alarm.Event { return alarm.Event{Protocol: alarm.ProtoSCAIP, ControllerID: "c1", DeviceID: "d7"} },
			check: func(t *testing.T, ev alarm.Event) {
				if ev.DeviceKey != "s:c1" {
					t.Errorf("key %q", ev.DeviceKey)
				}
			},
		},
		{
			rule:   "device auth: deviceCLI resolves a device by the calling number",
			bridge: alarm.AlarmBridge{ID: "b"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "unit-7", DeviceCLI: "+4611111"}}},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.DeviceKey != "unit-7" {
					t.Errorf("key %q", ev.DeviceKey)
				}
			},
		},
		{
			rule:   "mapDeviceIdToControllerId with controllerIdPadLength and deviceIdPadLength",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov: memProv{devices: []alarm.Device{{DeviceID: "42:7"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingDrop,
				MapDeviceIDToControllerID: true, ControllerIDPadLength: 6, DeviceIDPadLength: 3})},
			in: func() alarm.Event { return alarm.Event{Protocol: alarm.ProtoSCAIP, ControllerID: "42", DeviceID: "7"} },
			check: func(t *testing.T, ev alarm.Event) {
				if ev.ControllerID != "000042007" || ev.DeviceID != "" {
					t.Errorf("controllerId %q deviceId %q, want 000042007 and none", ev.ControllerID, ev.DeviceID)
				}
			},
		},
		{
			rule:   "callerId and fromDomain override",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingRequestCallback, CallerID: "+4690000", FromDomain: "arc.example"})},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.CallerID != "+4690000" || ev.FromDomain != "arc.example" || ev.Handling != alarm.HandlingRequestCallback || ev.VoiceDestination != "" {
					t.Errorf("%+v", ev)
				}
			},
		},
		{
			rule:   "alarmHandling callEmergencyCenter: device emergencyDestination first",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m", DefaultEmergencyDestination: "sip:112@default"},
			prov: memProv{devices: []alarm.Device{{DeviceID: "1234", ServiceData: &alarm.ServiceData{AlarmBridge: &alarm.DeviceAlarmBridge{EmergencyDestination: "sip:dev@arc"}}}},
				mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingCallEmergencyCenter, TargetEndpoint: target})},
			in: ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.VoiceDestination != "sip:dev@arc" {
					t.Errorf("voice %q", ev.VoiceDestination)
				}
			},
		},
		{
			rule:   "alarmHandling callEmergencyCenter: alarmbridge defaultEmergencyDestination",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m", DefaultEmergencyDestination: "sip:112@default"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingCallEmergencyCenter, TargetEndpoint: target})},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.VoiceDestination != "sip:112@default" || ev.Handling != alarm.HandlingCallEmergencyCenter {
					t.Errorf("voice %q handling %q", ev.VoiceDestination, ev.Handling)
				}
			},
		},
		{
			rule:   "alarmHandling usePredefinedDestination: targetEndpoint defaultVoiceDestination",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m", DefaultEmergencyDestination: "sip:112@default"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingUsePredefinedDestination, TargetEndpoint: target})},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.VoiceDestination != "sip:voice@arc.example" {
					t.Errorf("voice %q", ev.VoiceDestination)
				}
			},
		},
		{
			rule:   "device serviceData.alarmBridge.usePredefinedDestination turns emergency into predefined",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov: memProv{devices: []alarm.Device{{DeviceID: "1234", ServiceData: &alarm.ServiceData{AlarmBridge: &alarm.DeviceAlarmBridge{UsePredefinedDestination: ptr(true)}}}},
				mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingCallEmergencyCenter, TargetEndpoint: target})},
			in: ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.Handling != alarm.HandlingUsePredefinedDestination || ev.VoiceDestination != "sip:voice@arc.example" {
					t.Errorf("handling %q voice %q", ev.Handling, ev.VoiceDestination)
				}
			},
		},
		{
			rule:   "alarmHandling drop: delivered, no voice",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingDrop, TargetEndpoint: target})},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.Handling != alarm.HandlingDrop || ev.VoiceDestination != "" {
					t.Errorf("%+v", ev)
				}
			},
		},
		{
			rule:   "alarmHandling outside the enum is refused",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m"},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: "ignore"})},
			in:     ev,
			err:    errAny,
		},
		{
			rule:   "device overrideInAlarmEvent replaces the event's fields, priority 0 included",
			bridge: alarm.AlarmBridge{ID: "b"},
			prov: memProv{devices: []alarm.Device{{DeviceID: "1234", ServiceData: &alarm.ServiceData{AlarmBridge: &alarm.DeviceAlarmBridge{OverrideInAlarmEvent: &alarm.EventOverride{
				DeviceType: "0003", Location: "Flat 4", Priority: ptr(0), DeviceComponent: "pendant", SystemConfig: "cfg", Audio: "duplex", StatusCode: "9999"}}}}}},
			in: func() alarm.Event { e := ev(); e.Priority = 5; return e },
			check: func(t *testing.T, ev alarm.Event) {
				if ev.DeviceType != "0003" || ev.Location != "Flat 4" || ev.Priority != 0 || ev.DeviceComponent != "pendant" || ev.SystemConfig != "cfg" || ev.Audio != "duplex" || ev.StatusCode != "9999" || ev.ControllerID != "1234" {
					t.Errorf("%+v", ev)
				}
			},
		},
		{
			rule:   "alarmbridge customEventMap: most specific key wins",
			bridge: alarm.AlarmBridge{ID: "b", CustomEventMap: json.RawMessage(`{"130":{"priority":9},"contactid:130":{"priority":2,"statusCode":"0130"},"contactid:3130":{"priority":7}}`)},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}},
			in:     ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.Priority != 2 || ev.StatusCode != "0130" {
					t.Errorf("priority %d status %q, want 2 and 0130 from contactid:130", ev.Priority, ev.StatusCode)
				}
			},
		},
		{
			rule:   "event mapper mappingRules apply after the bridge's customEventMap",
			bridge: alarm.AlarmBridge{ID: "b", AlarmEventMapperID: "m", CustomEventMap: json.RawMessage(`{"130":{"priority":9,"location":"bridge"}}`)},
			prov: memProv{devices: []alarm.Device{{DeviceID: "1234"}}, mappers: mapper(alarm.EventMapper{ID: "m", AlarmHandling: alarm.HandlingDrop,
				MappingRules: json.RawMessage(`{"contactid:1130":{"priority":1}}`)})},
			in: ev,
			check: func(t *testing.T, ev alarm.Event) {
				if ev.Priority != 1 || ev.Location != "bridge" {
					t.Errorf("priority %d location %q, want 1 (mapper) and bridge", ev.Priority, ev.Location)
				}
			},
		},
		{
			rule:   "alarmbridge customEventMap that is not an object of overrides is refused",
			bridge: alarm.AlarmBridge{ID: "b", CustomEventMap: json.RawMessage(`{"130":"high"}`)},
			prov:   memProv{devices: []alarm.Device{{DeviceID: "1234"}}},
			in:     ev,
			err:    errAny,
		},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			r := &Router{Prov: &tc.prov}
			e := tc.in()
			err := r.Map("d", &tc.bridge, &e)
			switch {
			case tc.err == errAny && err == nil:
				t.Fatal("want an error")
			case tc.err != nil && tc.err != errAny && !errors.Is(err, tc.err):
				t.Fatalf("err %v, want %v", err, tc.err)
			case tc.err == nil && err != nil:
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestUnknownEventDestination(t *testing.T) {
	r := &Router{Prov: &memProv{mappers: map[string]*alarm.EventMapper{"m": {ID: "m", UnknownAlarmEventVoiceDestination: "sip:operator@arc"}}}}
	if got := r.UnknownEventDestination("d", &alarm.AlarmBridge{AlarmEventMapperID: "m"}); got != "sip:operator@arc" {
		t.Errorf("got %q", got)
	}
	if got := r.UnknownEventDestination("d", &alarm.AlarmBridge{}); got != "" {
		t.Errorf("no mapper: %q", got)
	}
}

func TestMappedQueueRefusesUnknownDevice(t *testing.T) {
	var got []alarm.Event
	next := alarm.QueueFunc(func(_ context.Context, ev alarm.Event) error { got = append(got, ev); return nil })
	q := &MappedQueue{Router: &Router{Prov: &memProv{devices: []alarm.Device{{DeviceID: "1234"}}}}, Domain: "d", Bridge: &alarm.AlarmBridge{ID: "b"}, Next: next}
	if err := q.Enqueue(context.Background(), alarm.Event{ControllerID: "1234"}); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(context.Background(), alarm.Event{ControllerID: "5678"}); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	if len(got) != 1 || got[0].DeviceKey != "1234" || got[0].AlarmBridgeID != "b" {
		t.Fatalf("passed on %+v", got)
	}
}

// The same rules read from the documents the REST API stores in bbolt.
func TestStoreProvisioning(t *testing.T) {
	db, put := ProvDB(t)
	put("alarmbridge", "ab1", `{"id":"ab1","name":"cid","protocol":"multiprotocol","protocolMode":"dtmf","destinationMatch":"/^100$/","alarmEventMapperId":"m1","customerSiteId":"s1","defaultHeartbeatInterval":300000}`)
	put("alarmbridge", "ab2", `{"id":"ab2","name":"rest","protocol":"tt92","protocolMode":"dtmf","destinationMatch":"/.*/"}`)
	put("alarmbridge", "ab0", `not json`)
	put("alarmeventmapper", "m1", `{"id":"m1","name":"arc","alarmHandling":"usePredefinedDestination","targetEndpoint":{"protocol":"scaip","destAddr":"sip:arc@x","defaultVoiceDestination":"sip:v@x","backupEndpoint":{"backupDestAddr":"sip:arc2@x"}}}`)
	put("device", "s1:1234", `{"deviceId":"s1:1234","authType":"deviceid","heartbeatStatus":"unknown","serviceData":{"alarmBridge":{"heartbeatInterval":600000,"overrideInAlarmEvent":{"location":"Hall"}}}}`)
	r := &Router{Prov: StoreProvisioning{DB: db, Log: discardLog()}}
	b, err := r.Route("d", "100")
	if err != nil || b.ID != "ab1" || b.DefaultHeartbeatInterval != 300000 {
		t.Fatalf("Route: %+v %v", b, err)
	}
	ev := alarm.Event{Protocol: alarm.ProtoContactID, ControllerID: "1234"}
	if err := r.Map("d", b, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.DeviceKey != "s1:1234" || ev.Location != "Hall" || ev.VoiceDestination != "sip:v@x" || ev.MapperID != "m1" {
		t.Fatalf("mapped %+v", ev)
	}
	if b, _ := r.Route("d", "200"); b == nil || b.ID != "ab2" {
		t.Fatalf("fallthrough: %+v", b)
	}
}
