package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// An event posted over real HTTP to an alarmbridge of protocol api is
// mapped and delivered like a received one (the DC-09 ARC gets it with the
// device's account); the one validation refuses a bad post naming the field,
// an unknown device with 404 (only the unknown-account report goes out), a bridge of another protocol
// with 409, and the provisioning of an api bridge is accepted.
func TestAPIEventPostedIsDeliveredLikeAReceivedOne(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"device": {"C0FFEE": `{"deviceId":"C0FFEE","domain":"local","authType":"deviceid"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`},
		"alarmbridge": {"panels": `{"id":"panels","name":"panels","protocol":"contactid","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`},
	})
	const key = "api-event-test-admin-key-0123"
	a, err := api.New(api.Config{Store: g.db, AdminKeyHash: api.HashKey(key), Logger: g.log, Gateway: g})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(g.reloadOnWrite(a))
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		code, b, err := testkit.APIRequest(srv.URL, key, method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		return code, b
	}
	if code, b := do("PUT", "/provisioning/alarmbridge/local/rest", `{"id":"rest","name":"rest","protocol":"api","protocolMode":"dtmf","destinationMatch":"^$","alarmEventMapperId":"arc"}`); code != 200 {
		t.Fatalf("PUT an api alarmbridge: %d %s", code, b)
	}
	for _, c := range []struct {
		name, path, body string
		code             int
		want             string
	}{
		{"no statusCode", "/alarmbridge/local/rest/event", `{"controllerId":"C0FFEE"}`, 400, "statusCode"},
		{"control character", "/alarmbridge/local/rest/event", `{"controllerId":"C0FFEE","statusCode":"1130","location":"a\u0007b"}`, 400, "location"},
		{"unknown device", "/alarmbridge/local/rest/event", `{"controllerId":"BEEF","statusCode":"1130"}`, 404, "BEEF"},
		{"not an api bridge", "/alarmbridge/local/panels/event", `{"controllerId":"C0FFEE","statusCode":"1130"}`, 409, "contactid"},
		{"no such bridge", "/alarmbridge/local/nope/event", `{"controllerId":"C0FFEE","statusCode":"1130"}`, 404, "nope"},
	} {
		if code, b := do("POST", c.path, c.body); code != c.code || !strings.Contains(b, c.want) {
			t.Errorf("%s: %d %s, want %d naming %s", c.name, code, b, c.code, c.want)
		}
	}
	code, b := do("POST", "/alarmbridge/local/rest/event", `{"controllerId":"C0FFEE","statusCode":"1130","location":"kitchen","priority":1}`)
	if code != 200 || !strings.Contains(b, `"eventId"`) {
		t.Fatalf("post: %d %s", code, b)
	}
	// The ARC gets the posted event under the device's account, and the
	// unknown account's report (a supervision event naming BEEF), nothing more.
	got := arc.Wait(2, 10*time.Second)
	accounts := map[string]int{}
	for _, m := range got {
		accounts[m.Account]++
	}
	if len(got) != 2 || accounts["C0FFEE"] != 1 || accounts["BEEF"] != 1 {
		t.Fatalf("ARC got %+v, want the event of C0FFEE and the unknown account report of BEEF", got)
	}
}
