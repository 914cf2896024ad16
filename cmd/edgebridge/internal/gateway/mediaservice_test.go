package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// The media service stage is on the switchboard: a SIP call to a number a
// mediaservice document's destinationMatch takes (and no alarmbridge's)
// reaches its application's newCall (here over http:// to loopback), whose
// dropCode answers the call; an alarmbridge matching the same number comes
// first. An answer without action refuses the call (500) and raises the
// media service's alarm at the notification settings' alarmEventsRestEndpoint.
func TestMediaServiceStage(t *testing.T) {
	var mu sync.Mutex
	var called, alarms []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		if r.URL.Path == "/alarms" {
			m, _ := body["mediaserviceAlarm"].(map[string]any)
			alarms = append(alarms, toString(body["kind"])+" "+toString(m["type"])+" "+toString(m["error"]))
		} else {
			called = append(called, r.URL.Path+" "+toString(body["calledParty"]))
		}
		mu.Unlock()
		if r.URL.Path == "/cb/newCall" && body["calledParty"] == "ivr9" {
			io.WriteString(w, `{}`)
		} else if r.URL.Path == "/cb/newCall" {
			io.WriteString(w, `{"action":"drop","dropCode":"busy"}`)
		}
	}))
	defer app.Close()
	ms, _ := json.Marshal(map[string]any{"name": "IVR", "destinationMatch": "^(ivr|88)", "callbackBaseUrl": app.URL + "/cb", "restAuthentication": []any{}})
	g := startGateway(t, map[string]map[string]string{
		"mediaservice":         {"ms1": string(ms)},
		"alarmbridge":          {"ab1": `{"name":"AB","protocol":"contactid","destinationMatch":"^88"}`},
		"trustednetwork":       {"lo": `{"network":"127.0.0.0/8"}`},
		"notificationsettings": {"settings": `{"alarmEventsRestEndpoint":"` + app.URL + `/alarms"}`},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := g.eng.Dial(ctx, engine.DialOptions{To: "sip:ivr5@" + g.SIPAddr(), From: "1000"})
	var de *engine.DialError
	if !errors.As(err, &de) || de.Code != 486 {
		t.Fatalf("call to ivr5: %v, want 486 from newCall's dropCode busy", err)
	}
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), called...) }
	testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(seen()) >= 2 })
	if got := strings.Join(seen(), ", "); got != "/cb/newCall ivr5, /cb/sessionCompleted <nil>" {
		t.Fatalf("application saw %q", got)
	}
	_, err = g.eng.Dial(ctx, engine.DialOptions{To: "sip:ivr9@" + g.SIPAddr(), From: "1000"})
	if !errors.As(err, &de) || de.Code != 500 {
		t.Fatalf("call to ivr9: %v, want 500 for a newCall answer without action", err)
	}
	testkit.WaitFor(t, "the media service's alarm", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(alarms) == 1 })
	if alarms[0] != "mediaserviceAlarm newCallEventError newCall response without action" {
		t.Fatalf("alarm %q", alarms[0])
	}
	routes := g.routes("local")
	if len(routes) < 2 || routes[0].Name != "alarmbridge/ab1" || routes[1].Name != "mediaservice/ms1" {
		t.Fatalf("routes %v: want the alarmbridge before the media service", routes)
	}
}

func toString(v any) string {
	if v == nil {
		return "<nil>"
	}
	s, _ := v.(string)
	return s
}
