package delivery

import (
	"errors"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/alarm/service"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

func TestStoreResolver(t *testing.T) {
	db := openDB(t)
	put := func(res, id, doc string) {
		if err := db.Put(store.Coll{Domain: "d.example", Resource: res}, id, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	put("alarmeventmapper", "m1", `{"id":"m1","name":"arc","alarmHandling":"drop","enableDestinationMonitoring":true,
		"targetEndpoint":{"protocol":"dc09","destAddr":"udp://127.0.0.1:9000","backupEndpoint":{"backupDestAddr":"127.0.0.1:9001"}}}`)
	put("alarmeventmapper", "m2", `{"id":"m2","name":"sip","alarmHandling":"drop","targetEndpoint":{"protocol":"scaip","destAddr":"sip:arc@x"}}`)
	put("alarmbridge", "ab1", `{"id":"ab1","name":"b","protocol":"bs8521","destinationMatch":"/.*/","callbackBaseUrl":"https://cb.example/hooks",
		"callbackTimeout":3000,"restAuthentication":[{"type":"HS256","secret":"resolver-secret-of-32-bytes-or-more","sub":"gw","requestHeaders":{"x-functions-key":"k"}}]}`)
	r := StoreResolver{DB: db, Prov: service.StoreProvisioning{DB: db}}

	ev := alarm.Event{ID: "e1", Domain: "d.example", AlarmBridgeID: "ab1", MapperID: "m1"}
	routes, err := r.Resolve(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 2 {
		t.Fatalf("routes %+v, want the mapper's DC-09 and the bridge's callback", routes)
	}
	m, cb := routes[0], routes[1]
	if m.Name != "d.example/mapper/m1" || m.Primary.Transport != "udp" || m.Backup == nil || !m.Monitor {
		t.Errorf("mapper route %+v", m)
	}
	if cb.Primary.URL != "https://cb.example/hooks" || cb.Primary.Timeout.Milliseconds() != 3000 || len(cb.Primary.Auth) != 1 ||
		cb.Primary.Auth[0].RequestHeaders["x-functions-key"] != "k" {
		t.Errorf("callback route %+v", cb.Primary)
	}

	// notificationsettings' alarmbridgeCallbackEndpoint takes precedence.
	put("notificationsettings", "settings", `{"alarmbridgeCallbackEndpoint":"https://ns.example","httpTimeout":900}`)
	routes, _ = r.Resolve(ev)
	if len(routes) != 2 || routes[1].Primary.URL != "https://ns.example" || routes[1].Primary.Timeout.Milliseconds() != 900 {
		t.Errorf("with notificationsettings: %+v", routes)
	}

	// scaip needs a registered sender; without one only the callback remains.
	ev.MapperID = "m2"
	routes, _ = r.Resolve(ev)
	if len(routes) != 1 || routes[0].Primary.Protocol != ProtoHTTP {
		t.Errorf("scaip without sender: %+v", routes)
	}
	r.Protocols = []string{"scaip"}
	routes, _ = r.Resolve(ev)
	if len(routes) != 2 || routes[0].Primary.Protocol != "scaip" || routes[0].Primary.URL != "sip:arc@x" {
		t.Errorf("scaip with sender: %+v", routes)
	}

	// Nowhere to go: Enqueue refuses, the panel gets no kissoff.
	d := New(db, StoreResolver{DB: db, Prov: service.StoreProvisioning{DB: db}}.Resolve)
	if err := d.Enqueue(t.Context(), alarm.Event{ID: "e2", Domain: "other.example", MapperID: "m1"}); !errors.Is(err, ErrNoRoute) {
		t.Errorf("no route: %v", err)
	}
}

// TestMapperHTTPEndpointDelivers: an event mapper whose targetEndpoint
// protocol is http (or https) gets the event POSTed to its destAddr, the
// same callback the alarmbridge's callbackBaseUrl gets.
func TestMapperHTTPEndpointDelivers(t *testing.T) {
	db := openDB(t)
	arc := newHTTPARC(t)
	doc := `{"id":"m1","name":"http arc","alarmHandling":"drop","targetEndpoint":{"protocol":"http","destAddr":"` + arc.srv.URL + `"}}`
	if err := db.Put(store.Coll{Domain: "d.example", Resource: "alarmeventmapper"}, "m1", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	d := New(db, StoreResolver{DB: db, Prov: service.StoreProvisioning{DB: db}}.Resolve, fastOpts()...)
	start(t, d)
	ev := cidEvent("1234", 7)
	ev.Domain, ev.MapperID = "d.example", "m1"
	if err := d.Enqueue(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the event at the mapper's HTTP endpoint", 10*time.Second, func() bool { return arc.count() == 1 })
	if got := arc.got()[0]; got.ID != ev.ID || got.ContactID == nil || got.ContactID.Zone != "007" {
		t.Errorf("endpoint got %+v", got)
	}
}
