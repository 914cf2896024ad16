package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/multi"

	"github.com/edgebridge/edgebridge/alarm/service"
)

type recQueue struct {
	mu  sync.Mutex
	evs []alarm.Event
}

func (q *recQueue) Enqueue(_ context.Context, ev alarm.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.evs = append(q.evs, ev)
	return nil
}

// A Contact ID call through the whole alarm side: route by called number,
// receive, authenticate and map, supervise, and decide the voice path.
func TestServiceContactIDCall(t *testing.T) {
	db, put := service.ProvDB(t)
	put("alarmbridge", "ab1", `{"id":"ab1","name":"panels","protocol":"multiprotocol","protocolMode":"dtmf","destinationMatch":"/^\\+4610/","alarmEventMapperId":"m1","defaultHeartbeatInterval":300000}`)
	put("alarmeventmapper", "m1", `{"id":"m1","name":"arc","alarmHandling":"callEmergencyCenter","callerId":"+4699","targetEndpoint":{"protocol":"scaip","destAddr":"sip:arc@x","defaultVoiceDestination":"sip:voice@arc"},"unknownAlarmEventVoiceDestination":"sip:operator@arc"}`)
	put("device", "1234", `{"deviceId":"1234","authType":"deviceid","serviceData":{"alarmBridge":{"overrideInAlarmEvent":{"location":"Flat 4"}}}}`)
	prov := service.StoreProvisioning{DB: db}
	router := &service.Router{Prov: prov}
	q := &recQueue{}
	svc := &service.Service{
		Router: router, Queue: q,
		Supervisor:  &service.Supervisor{DB: db, Prov: prov, Queue: q, Router: router},
		NewReceiver: func(b alarm.AlarmBridge) (alarm.Receiver, error) { return multi.ForBridge(b, nil) },
	}
	b, err := svc.Route("d", "+4610555")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := contactid.Build("1234", "18", "1", "130", "01", "015")
	gw, far := alarmtest.NewPipe(alarmtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	panelDone := make(chan struct{})
	go func(far *alarmtest.End) {
		defer close(panelDone)
		p, _ := contactid.NewPanel(contactid.PanelConfig{})
		p.Send(ctx, far, []contactid.Message{msg})
		far.Hangup()
	}(far)
	res, err := svc.Run(ctx, gw, alarm.Call{ID: "call-9", Domain: "d", Caller: "+4611", Called: "+4610555"}, b)
	if err != nil {
		t.Fatal(err)
	}
	<-panelDone
	if len(res.Events) != 1 || len(q.evs) != 1 {
		t.Fatalf("events %+v, queued %d", res.Events, len(q.evs))
	}
	ev := q.evs[0]
	if ev.Raw != msg.Raw || ev.DeviceKey != "1234" || ev.Location != "Flat 4" || ev.CallerID != "+4699" || ev.MapperID != "m1" || ev.AlarmBridgeID != "ab1" {
		t.Fatalf("queued %+v", ev)
	}
	if res.Voice != "sip:voice@arc" {
		t.Errorf("voice %q, want the mapper's defaultVoiceDestination (callEmergencyCenter, no emergency number set)", res.Voice)
	}
	if st, exp, _ := svc.Supervisor.Status("d", "1234"); st != service.HeartbeatOnline || exp.IsZero() {
		t.Errorf("heartbeat %s %v: the alarm counts as a heartbeat under the bridge default", st, exp)
	}

	// A call where nothing decodes and no CLI: the unknown-event destination.
	gw, far = alarmtest.NewPipe(alarmtest.Options{})
	go func(far *alarmtest.End) {
		var f [alarmtest.FrameSamples]int16
		for i := 0; i < 400 && far.ReadFrame(f[:]) == nil; i++ {
			far.WriteFrame(make([]int16, len(f)))
		}
		far.Hangup()
	}(far)
	res, err = svc.Run(ctx, gw, alarm.Call{ID: "call-10", Domain: "d", Called: "+4610555"}, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 0 || res.Voice != "sip:operator@arc" {
		t.Errorf("undecodable call: %+v", res)
	}
}

// Events from SCAIP units (no call): mapped and supervised the same way.
func TestServiceOutsideCalls(t *testing.T) {
	db, put := service.ProvDB(t)
	put("alarmbridge", "ab1", `{"id":"ab1","name":"cid","protocol":"multiprotocol","protocolMode":"dtmf","destinationMatch":"/^1/"}`)
	put("alarmbridge", "ab2", `{"id":"ab2","name":"units","protocol":"scaip","protocolMode":"dtmf","destinationMatch":"/.*/","customerSiteId":"s1","defaultHeartbeatInterval":300000}`)
	put("device", "s1:4612345678:2", `{"deviceId":"s1:4612345678:2","authType":"deviceid"}`)
	prov := service.StoreProvisioning{DB: db}
	router := &service.Router{Prov: prov}
	q := &recQueue{}
	svc := &service.Service{Router: router, Queue: q, Supervisor: &service.Supervisor{DB: db, Prov: prov, Queue: q, Router: router}}
	b, err := svc.BridgeFor("d", "scaip", "112")
	if err != nil || b == nil || b.ID != "ab2" {
		t.Fatalf("BridgeFor scaip: %+v %v", b, err)
	}
	if b, _ := svc.BridgeFor("d", "tt92", "112"); b != nil {
		t.Fatalf("BridgeFor tt92: %+v", b)
	}
	if b, _ := svc.BridgeFor("d", "multiprotocol", "2"); b != nil {
		t.Fatalf("BridgeFor a number the bridge's destinationMatch does not fit: %+v", b)
	}
	ctx := context.Background()
	ev := alarm.Event{ID: "e1", Protocol: alarm.ProtoSCAIP, ControllerID: "4612345678", DeviceID: "2"}
	if err := svc.QueueFor("d", b).Enqueue(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if len(q.evs) != 1 || q.evs[0].DeviceKey != "s1:4612345678:2" || q.evs[0].CustomerSiteID != "s1" {
		t.Fatalf("queued %+v", q.evs)
	}
	if st, _, _ := svc.Supervisor.Status("d", "s1:4612345678:2"); st != service.HeartbeatOnline {
		t.Fatalf("after an alarm: %s", st)
	}
	if err := svc.Heartbeat(ctx, "d", b, alarm.Event{Protocol: alarm.ProtoSCAIP, ControllerID: "999"}); err == nil {
		t.Fatal("heartbeat from an unknown device accepted")
	}
	if err := svc.Heartbeat(ctx, "d", b, ev); err != nil || len(q.evs) != 1 {
		t.Fatalf("heartbeat: %v, queued %d (a heartbeat queues nothing)", err, len(q.evs))
	}
}
