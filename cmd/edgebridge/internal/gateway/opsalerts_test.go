package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/notify"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// opsGateway is a gateway whose ARC (DC-09 over TCP) is given, with an api
// alarmbridge to post events to, the alarm events endpoint recording what it
// is sent, and the REST API over real HTTP.
type opsGateway struct {
	g      *Gateway
	url    string
	mu     sync.Mutex
	posted []notify.Body
}

const opsKey = "ops-alerts-test-admin-key-0123"

func startOpsGateway(t *testing.T, arcAddr string) *opsGateway {
	t.Helper()
	o := &opsGateway{}
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b notify.Body
		raw, _ := io.ReadAll(r.Body)
		if json.Unmarshal(raw, &b) == nil {
			o.mu.Lock()
			o.posted = append(o.posted, b)
			o.mu.Unlock()
		}
	}))
	t.Cleanup(ep.Close)
	o.g = startGateway(t, map[string]map[string]string{
		"device": {"C0FFEE": `{"deviceId":"C0FFEE","domain":"local","authType":"deviceid"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arcAddr + `?transport=tcp"}}`},
		"alarmbridge":          {"rest": `{"id":"rest","name":"rest","protocol":"api","protocolMode":"dtmf","destinationMatch":"^$","alarmEventMapperId":"arc"}`},
		"notificationsettings": {"settings": `{"alarmEventsRestEndpoint":"` + ep.URL + `/alarms"}`},
	})
	a, err := api.New(api.Config{Store: o.g.db, AdminKeyHash: api.HashKey(opsKey), Logger: o.g.log, Gateway: o.g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	o.url = srv.URL
	return o
}

// alerts lists the domain's alerts over REST, oldest first, as
// "type[ cleared]".
func (o *opsGateway) alerts(t *testing.T, typ string) []string {
	t.Helper()
	code, body, err := testkit.APIRequest(o.url, opsKey, "GET", "/provisioning/alerts/local?alert_type="+typ, "")
	if err != nil || code != 200 {
		t.Fatalf("alerts: %d %s %v", code, body, err)
	}
	var out struct {
		Data []struct {
			Type    string `json:"alert_type"`
			Message string `json:"message"`
			Cleared bool   `json:"cleared"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(out.Data) - 1; i >= 0; i-- {
		s := out.Data[i].Type
		if out.Data[i].Cleared {
			s += " cleared"
		}
		got = append(got, s)
	}
	return got
}

// supervision is what the alarm events endpoint was sent of kind, as
// "state", in order.
func (o *opsGateway) supervision(kind string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var got []string
	for _, b := range o.posted {
		if b.Kind == notify.KindServiceAlarm && b.Alarm != nil && b.Alarm.Supervision != nil && b.Alarm.Supervision.Kind == kind {
			got = append(got, b.Alarm.Supervision.State)
		}
		if b.Kind == notify.KindAlert {
			got = append(got, "a second notification as alert")
		}
	}
	return got
}

// at sets the ops watch's clock and limits and runs one check.
func (o *opsGateway) check(at time.Time, l OpsLimits) {
	w := o.g.ops
	w.mu.Lock()
	w.now, w.limits = func() time.Time { return at }, l.withDefaults()
	w.mu.Unlock()
	w.check(context.Background())
}

// The ARC stopped, alarm events pile up in its durable queue: the oldest
// waiting longer than the age threshold (an injected clock) raises one
// queue-backlog alert, more events than the count threshold keep it raised
// (no second alert), and once the ARC is back and the queue drained it
// clears. Each change is listed at /provisioning/alerts, posted once to
// alarmEventsRestEndpoint as a supervision event and reaches the ARC.
func TestQueueBacklogAlert(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	addr := arc.Addr
	arc.Close()
	o := startOpsGateway(t, addr)
	ctx := context.Background()
	post := func(code string) {
		t.Helper()
		if _, err := o.g.PostAlarmEvent(ctx, "local", "rest", alarm.PostedEvent{ControllerID: "C0FFEE", StatusCode: code}); err != nil {
			t.Fatal(err)
		}
	}
	limits := OpsLimits{QueueEvents: 2, QueueAge: time.Minute}
	post("1130")
	o.check(time.Now(), limits)
	if got := o.alerts(t, "queue-backlog"); len(got) != 0 {
		t.Fatalf("one fresh event raised %v", got)
	}
	o.check(time.Now().Add(2*time.Minute), limits)
	post("1131")
	post("1132")
	o.check(time.Now(), limits) // 3 events: over the count too, still the same cause
	o.check(time.Now().Add(time.Hour), limits)
	if got := strings.Join(o.alerts(t, "queue-backlog"), "|"); got != "queue-backlog" {
		t.Fatalf("alerts %q, want one queue-backlog", got)
	}
	testkit.WaitFor(t, "the backlog posted to alarmEventsRestEndpoint", 10*time.Second, func() bool {
		return len(o.supervision("queue-backlog")) > 0
	})

	back := alarmtest.StartARC(t, addr)
	if _, err := o.g.RetryNow(); err != nil {
		t.Fatal(err)
	}
	// The three events and the backlog's own supervision event.
	if got := back.Wait(4, 20*time.Second); len(got) < 4 {
		t.Fatalf("ARC got %d messages after coming back, want the 3 events and the backlog report", len(got))
	}
	testkit.WaitFor(t, "the queue drained", 10*time.Second, func() bool { return o.g.dl.Stats().Queued == 0 })
	o.check(time.Now(), limits)
	if got := strings.Join(o.alerts(t, "queue-backlog"), "|"); got != "queue-backlog|queue-backlog cleared" {
		t.Fatalf("alerts %q, want raised then cleared", got)
	}
	testkit.WaitFor(t, "the clearing posted", 10*time.Second, func() bool { return len(o.supervision("queue-backlog")) >= 2 })
	if got := strings.Join(o.supervision("queue-backlog"), "|"); got != "offline|online" {
		t.Fatalf("posted %q, want offline then online, once each", got)
	}
}

// The store file over 90 % of a budget made small raises store-nearly-full
// once; free space on the data folder's filesystem (statfs of the real
// folder) under the minimum keeps it raised; within both it clears.
func TestStoreNearlyFullAlert(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	o := startOpsGateway(t, arc.Addr)
	size := o.g.db.Size()
	free, err := freeBytes(o.g.db.Path())
	if err != nil || free <= 0 {
		t.Fatalf("free space of the data folder: %d %v", free, err)
	}
	roomy := OpsLimits{StoreBudget: size * 10, StoreMinFree: 1}
	o.check(time.Now(), roomy)
	o.check(time.Now(), OpsLimits{StoreBudget: size, StoreMinFree: 1})
	o.check(time.Now(), OpsLimits{StoreBudget: size * 10, StoreMinFree: free * 2})
	if got := strings.Join(o.alerts(t, "store-nearly-full"), "|"); got != "store-nearly-full" {
		t.Fatalf("alerts %q, want one store-nearly-full", got)
	}
	o.check(time.Now(), roomy)
	if got := strings.Join(o.alerts(t, "store-nearly-full"), "|"); got != "store-nearly-full|store-nearly-full cleared" {
		t.Fatalf("alerts %q, want raised then cleared", got)
	}
	// The ARC of the domain's alarmbridge hears both (DC-09 YC, then YK).
	if got := arc.Wait(2, 20*time.Second); len(got) != 2 {
		t.Fatalf("ARC got %+v, want the trouble and its restore", got)
	}
	testkit.WaitFor(t, "both posted", 10*time.Second, func() bool { return len(o.supervision("store-nearly-full")) >= 2 })
	if got := strings.Join(o.supervision("store-nearly-full"), "|"); got != "offline|online" {
		t.Fatalf("posted %q, want offline then online, once each", got)
	}
}

// A trunk's lost registration and repeated digest failures, raised by the
// engine, reach the domain's ARC as supervision events (SIA YC, and YK when
// the cause clears) besides being posted once as alerts; a call-limit alert
// stays an alert only.
func TestEngineAlertsReachTheARC(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	o := startOpsGateway(t, arc.Addr)
	o.g.eng.RaiseAlert("local", engine.AlertCallLimit, "voice_call_session", "the domain's call limit refused a call", "")
	o.g.eng.RaiseAlert("local", engine.AlertNoCarrier, "trunk1", "trunk trunk1 lost its registration", "")
	got := arc.Wait(1, 10*time.Second)
	if len(got) != 1 || !strings.Contains(got[0].Data, "YC") {
		t.Fatalf("ARC got %+v, want one YC for the lost registration", got)
	}
	o.g.eng.ClearAlert("local", engine.AlertNoCarrier, "trunk1", "trunk trunk1 registered again")
	o.g.eng.RaiseAlert("local", engine.AlertAuthFailures, "127.0.0.9", "repeated digest failures from 127.0.0.9", "")
	got = arc.Wait(3, 10*time.Second)
	var codes []string
	for _, m := range got {
		codes = append(codes, m.Data)
	}
	if len(got) != 3 || !strings.Contains(got[1].Data, "YK") && !strings.Contains(got[2].Data, "YK") {
		t.Fatalf("ARC got %q, want the YC, its YK and a YC for the digest failures", codes)
	}
	if got := arc.Wait(4, 500*time.Millisecond); len(got) != 3 {
		t.Fatalf("ARC got %d messages, want 3 (a call-limit alert is not sent to the ARC)", len(got))
	}
}
