package service

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/alarm"
)

type recQueue struct {
	mu   sync.Mutex
	evs  []alarm.Event
	fail bool
}

func (q *recQueue) Enqueue(_ context.Context, ev alarm.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail {
		return errors.New("queue down")
	}
	q.evs = append(q.evs, ev)
	return nil
}

type hbFixture struct {
	db  *store.DB
	sup *Supervisor
	q   *recQueue
	now time.Time
}

func newHB(t *testing.T) *hbFixture {
	t.Helper()
	db, put := ProvDB(t)
	f := &hbFixture{db: db, q: &recQueue{}, now: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	// ab1 supervises every device that sends to it every 5 min
	// (defaultHeartbeatInterval); dev-own has its own 10 min interval.
	put("alarmbridge", "ab1", `{"id":"ab1","name":"b","protocol":"scaip","protocolMode":"dtmf","destinationMatch":"/.*/","alarmEventMapperId":"m1","defaultHeartbeatInterval":300000}`)
	put("alarmeventmapper", "m1", `{"id":"m1","name":"m","alarmHandling":"drop","targetEndpoint":{"protocol":"scaip","destAddr":"sip:arc@x"}}`)
	put("device", "1234", `{"deviceId":"1234","authType":"deviceid","heartbeatStatus":"unknown","heartbeatExpiration":0}`)
	put("device", "dev-own", `{"deviceId":"dev-own","authType":"deviceid","serviceData":{"alarmBridge":{"heartbeatInterval":600000}}}`)
	put("device", "quiet", `{"deviceId":"quiet","authType":"deviceid"}`)
	prov := StoreProvisioning{DB: db, Log: discardLog()}
	f.sup = &Supervisor{DB: db, Prov: prov, Queue: f.q, Router: &Router{Prov: prov}, Now: func() time.Time { return f.now }, Log: discardLog()}
	return f
}

func (f *hbFixture) deviceDoc(t *testing.T, id string) map[string]any {
	t.Helper()
	b, err := f.db.Get(store.Coll{Domain: "d", Resource: "device"}, id)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHeartbeatOfflineAndBack(t *testing.T) {
	f := newHB(t)
	ctx := context.Background()
	// An alarm from 1234 through ab1 is its heartbeat (Observe).
	q := f.sup.Observe(alarm.QueueFunc(func(context.Context, alarm.Event) error { return nil }))
	if err := q.Enqueue(ctx, alarm.Event{Protocol: alarm.ProtoContactID, Domain: "d", AlarmBridgeID: "ab1", DeviceKey: "1234"}); err != nil {
		t.Fatal(err)
	}
	st, exp, err := f.sup.Status("d", "1234")
	if err != nil || st != HeartbeatOnline || !exp.Equal(f.now.Add(5*time.Minute)) {
		t.Fatalf("after a beat: %s %v %v, want online until +5 min", st, exp, err)
	}
	if d := f.deviceDoc(t, "1234"); d["heartbeatStatus"] != "online" || int64(d["heartbeatExpiration"].(float64)) != f.now.Add(5*time.Minute).UnixMilli() {
		t.Fatalf("device document %v", d)
	}

	// Still within the interval: nothing happens.
	f.now = f.now.Add(4 * time.Minute)
	if err := f.sup.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.q.evs) != 0 {
		t.Fatalf("events before expiry: %+v", f.q.evs)
	}
	// Overdue, but the queue is down: it stays online, and the next check
	// raises the event.
	f.now = f.now.Add(2 * time.Minute)
	f.q.fail = true
	if err := f.sup.Check(ctx); err == nil {
		t.Fatal("check with the queue down reported no error")
	}
	if st, _, _ := f.sup.Status("d", "1234"); st != HeartbeatOnline {
		t.Fatalf("marked %s although the event was not queued", st)
	}
	f.q.fail = false
	if err := f.sup.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.q.evs) != 1 {
		t.Fatalf("%d events, want 1 offline", len(f.q.evs))
	}
	off := f.q.evs[0]
	if off.Protocol != alarm.ProtoSupervision || off.Supervision.State != HeartbeatOffline || off.DeviceKey != "1234" || off.MapperID != "m1" || off.Handling != alarm.HandlingDrop {
		t.Fatalf("offline event %+v", off)
	}
	if d := f.deviceDoc(t, "1234"); d["heartbeatStatus"] != "offline" {
		t.Fatalf("device document %v", d)
	}
	// Checking again raises nothing new.
	f.sup.Check(ctx)
	if len(f.q.evs) != 1 {
		t.Fatalf("offline raised twice")
	}
	// Heard again: online, with an event.
	f.now = f.now.Add(time.Minute)
	if err := q.Enqueue(ctx, alarm.Event{Protocol: alarm.ProtoContactID, Domain: "d", AlarmBridgeID: "ab1", DeviceKey: "1234"}); err != nil {
		t.Fatal(err)
	}
	if len(f.q.evs) != 2 || f.q.evs[1].Supervision.State != HeartbeatOnline || f.q.evs[1].ID == off.ID {
		t.Fatalf("events %+v, want an online event with its own id", f.q.evs)
	}
	if st, _, _ := f.sup.Status("d", "1234"); st != HeartbeatOnline {
		t.Fatalf("status %s", st)
	}
}

// A device with its own heartbeatInterval is supervised from the start;
// one without any interval is never supervised.
func TestHeartbeatOwnIntervalAndUnsupervised(t *testing.T) {
	f := newHB(t)
	ctx := context.Background()
	if err := f.sup.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if st, exp, _ := f.sup.Status("d", "dev-own"); st != HeartbeatUnknown || !exp.Equal(f.now.Add(10*time.Minute)) {
		t.Fatalf("dev-own: %s until %v", st, exp)
	}
	// A beat with no bridge default and no own interval: not supervised.
	if err := f.sup.Beat(ctx, "d", "", "quiet"); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(11 * time.Minute)
	if err := f.sup.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(f.q.evs) != 1 || f.q.evs[0].DeviceKey != "dev-own" || f.q.evs[0].Supervision.State != HeartbeatOffline {
		t.Fatalf("events %+v, want dev-own offline only", f.q.evs)
	}
	if st, _, _ := f.sup.Status("d", "quiet"); st != HeartbeatUnknown {
		t.Fatalf("quiet: %s", st)
	}
	// The device's own interval wins over the bridge default.
	if err := f.sup.Beat(ctx, "d", "ab1", "dev-own"); err != nil {
		t.Fatal(err)
	}
	if _, exp, _ := f.sup.Status("d", "dev-own"); !exp.Equal(f.now.Add(10 * time.Minute)) {
		t.Fatalf("expiration %v, want +10 min", exp)
	}
}

func TestHeartbeatRunStops(t *testing.T) {
	f := newHB(t)
	f.sup.Every = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.sup.Run(ctx) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not stop")
	}
	if _, exp, _ := f.sup.Status("d", "dev-own"); exp.IsZero() {
		t.Fatal("Run did not check: dev-own not supervised")
	}
}
