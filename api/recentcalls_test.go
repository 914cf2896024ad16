package api

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// TestRecentCalls: the call records in the RecentCalls shape, newest
// first, filtered by days/start/end/answered/direction and paged; one
// call's trace (record and SIP messages) and its pcap, read back by tshark.
func TestRecentCalls(t *testing.T) {
	e := newEnv(t)
	now := time.Now().Truncate(time.Millisecond)
	recs := []store.CallRecord{
		{CallID: "old", Domain: "d", From: "100", To: "200", Start: now.Add(-10 * 24 * time.Hour), End: now.Add(-10*24*time.Hour + time.Second), Result: "486", Cause: "rejected", Direction: "inbound"},
		{CallID: "in-ok", Domain: "d", From: "100", To: "600", Start: now.Add(-time.Hour), Answer: now.Add(-time.Hour + 2*time.Second),
			End: now.Add(-time.Hour + 32*time.Second), Result: "answered", Cause: "remote-bye", Direction: "inbound", Remote: "192.0.2.10:5062", Local: "192.0.2.1:5060"},
		{CallID: "out-ok", Domain: "d", From: "100", To: "h-b", Start: now.Add(-time.Hour + time.Second), Answer: now.Add(-time.Hour + 2*time.Second),
			End: now.Add(-time.Hour + 32*time.Second), Result: "answered", Cause: "normal", Direction: "outbound", Remote: "192.0.2.20:5060", Trunk: ""},
		{CallID: "cancel", Domain: "d", From: "101", To: "600", Start: now.Add(-time.Minute), End: now.Add(-time.Minute + 5*time.Second), Result: "cancelled", Cause: "cancelled", Direction: "inbound"},
		{CallID: "other", Domain: "x", From: "1", To: "2", Start: now.Add(-time.Minute), Result: "answered"},
	}
	if err := e.db.RecordCalls(recs); err != nil {
		t.Fatal(err)
	}
	ids := func(r resp) string {
		var out []string
		for _, d := range r.body["data"].([]any) {
			out = append(out, d.(map[string]any)["call_sid"].(string))
		}
		return strings.Join(out, " ")
	}
	list := func(q string) resp {
		t.Helper()
		r := e.do("GET", "/provisioning/recentcalls/d"+q, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.raw)
		}
		return r
	}
	for q, want := range map[string]string{
		"":                                 "cancel out-ok in-ok old",
		"?days=1":                          "cancel out-ok in-ok",
		"?answered=true":                   "out-ok in-ok",
		"?answered=false&days=30":          "cancel old",
		"?direction=outbound":              "out-ok",
		"?direction=inbound&answered=true": "in-ok",
		"?count=2&page=2":                  "in-ok old",
		"?count=2&page=3":                  "",
		"?start=" + now.Add(-2*time.Hour).UTC().Format(time.RFC3339) + "&end=" + now.Add(-30*time.Minute).UTC().Format(time.RFC3339): "out-ok in-ok",
	} {
		if got := ids(list(q)); got != want {
			t.Errorf("%q: %q, want %q", q, got, want)
		}
	}
	r := list("?count=2&page=2")
	if r.body["total"] != 4.0 || r.body["batch"] != 2.0 || r.body["page"] != 2.0 {
		t.Fatalf("paging fields: %s", r.raw)
	}
	in := list("?direction=inbound&answered=true").body["data"].([]any)[0].(map[string]any)
	want := map[string]any{"account_sid": "d", "sip_call_id": "in-ok", "from": "100", "to": "600", "answered": true, "sip_status": 200.0,
		"duration": 30.0, "attempted_at": float64(recs[1].Start.UnixMilli()), "answered_at": float64(recs[1].Answer.UnixMilli()),
		"terminated_at": float64(recs[1].End.UnixMilli()), "termination_reason": "remote-bye", "direction": "inbound",
		"host": "192.0.2.1:5060", "remote_host": "192.0.2.10:5062", "trunk": ""}
	for k, v := range want {
		if in[k] != v {
			t.Errorf("%s = %v, want %v", k, in[k], v)
		}
	}
	if c := list("?answered=false&days=30").body["data"].([]any); c[0].(map[string]any)["sip_status"] != 487.0 || c[1].(map[string]any)["sip_status"] != 486.0 {
		t.Errorf("sip_status of a cancelled and a refused call: %v", c)
	}
	for q, reason := range map[string]string{
		"?days=31":         "days: must be an integer from 1 to 30",
		"?count=101":       "count: must be an integer from 1 to 100",
		"?answered=yes":    "answered: must be true or false",
		"?direction=up":    "direction: must be inbound or outbound",
		"?start=yesterday": "start: must be an RFC 3339 date-time (2026-01-02T15:04:05Z)",
	} {
		if r := e.must(400, "GET", "/provisioning/recentcalls/d"+q, nil); r.str("reason") != reason {
			t.Errorf("%s: %q, want %q", q, r.str("reason"), reason)
		}
	}

	appendCall(e.db, "d", "in-ok", now.Add(-time.Hour))
	tr := e.must(200, "GET", "/provisioning/recentcalls/d/in-ok", nil)
	if items := tr.body["logItems"].([]any); len(items) != 2 || items[0].(map[string]any)["method"] != "INVITE" ||
		tr.body["call"].(map[string]any)["call_sid"] != "in-ok" {
		t.Fatalf("trace: %s", tr.raw)
	}
	e.must(404, "GET", "/provisioning/recentcalls/d/none", nil)
	pr := e.do("GET", "/provisioning/recentcalls/d/in-ok/pcap", nil)
	if pr.status != 200 {
		t.Fatalf("pcap: %d", pr.status)
	}
	p := filepath.Join(t.TempDir(), "call.pcap")
	if err := os.WriteFile(p, pr.raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := testkit.TsharkCmd(t, "-r", p, "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.Call-ID").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "INVITE\t\tin-ok\n\t200\tin-ok" {
		t.Fatalf("tshark read:\n%s", out)
	}
}

// FuzzRecentFilter: any query either parses into a filter within the
// documented bounds or is refused naming a field; it never panics.
func FuzzRecentFilter(f *testing.F) {
	for _, q := range []string{"", "page=2&count=10", "days=30", "days=0", "start=2026-01-02T15:04:05Z&end=2026-01-03T00:00:00Z",
		"answered=true&direction=inbound", "count=101", "start=x", "page=-1", "days=1&start=2026-01-02T15:04:05Z"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		r, err := parseRecentFilter(vals, time.Unix(1_800_000_000, 0))
		if err != nil {
			if fe, ok := err.(*fieldError); !ok || fe.Field == "" || fe.Rule == "" {
				t.Fatalf("%q: refusal %v does not name a field and rule", q, err)
			}
			return
		}
		if r.page < 1 || r.count < 1 || r.count > maxRecentCount {
			t.Fatalf("%q: page %d count %d out of bounds", q, r.page, r.count)
		}
		if !r.from.IsZero() && !r.to.IsZero() && !r.to.After(r.from) {
			t.Fatalf("%q: end %v not after start %v", q, r.to, r.from)
		}
	})
}

// TestAlertsList: the engine's alerts in the Alerts shape, newest first,
// filtered by alert_type and days, paged; filters of calls are refused.
func TestAlertsList(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	for i, a := range []engine.Alert{
		{Time: now.Add(-3 * 24 * time.Hour), AccountID: "d", AlertType: engine.AlertNoCarrier, Message: "trunk t1 is not registered"},
		{Time: now.Add(-time.Hour), AccountID: "d", AlertType: engine.AlertCallLimit, Message: "calls refused"},
		{Time: now.Add(-time.Minute), AccountID: "d", AlertType: engine.AlertNoCarrier, Message: "trunk t1 is registered again", Cleared: true},
	} {
		b, _ := json.Marshal(a)
		if err := e.db.Put(store.Coll{Domain: "d", Resource: engine.ResAlert}, fmt.Sprintf("%020d", a.Time.UnixNano()+int64(i)), b); err != nil {
			t.Fatal(err)
		}
	}
	msgs := func(q string) string {
		t.Helper()
		r := e.do("GET", "/provisioning/alerts/d"+q, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", q, r.status, r.raw)
		}
		var out []string
		for _, d := range r.body["data"].([]any) {
			out = append(out, d.(map[string]any)["message"].(string))
		}
		return strings.Join(out, "|")
	}
	for q, want := range map[string]string{
		"":                         "trunk t1 is registered again|calls refused|trunk t1 is not registered",
		"?alert_type=no-carrier":   "trunk t1 is registered again|trunk t1 is not registered",
		"?days=1":                  "trunk t1 is registered again|calls refused",
		"?count=1&page=2":          "calls refused",
		"?alert_type=device-limit": "",
	} {
		if got := msgs(q); got != want {
			t.Errorf("%q: %q, want %q", q, got, want)
		}
	}
	// An installer acknowledges the call-limit alert by its listed id.
	var id string
	for _, d := range e.do("GET", "/provisioning/alerts/d?alert_type=call-limit", nil).body["data"].([]any) {
		id, _ = d.(map[string]any)["id"].(string)
	}
	if r := e.do("POST", "/provisioning/alerts/d/"+id+"/ack", nil); r.status != 200 {
		t.Fatalf("ack %q: %d %s", id, r.status, r.raw)
	}
	acked := map[string]bool{}
	for _, d := range e.do("GET", "/provisioning/alerts/d", nil).body["data"].([]any) {
		m := d.(map[string]any)
		acked[m["message"].(string)], _ = m["acknowledged"].(bool)
	}
	if !acked["calls refused"] || acked["trunk t1 is not registered"] || len(acked) != 3 {
		t.Fatalf("acknowledged after the ack: %v, want the call-limit alert only", acked)
	}
	if r := e.do("POST", "/provisioning/alerts/d/00000000000000000001/ack", nil); r.status != 404 {
		t.Fatalf("ack of no alert: %d %s", r.status, r.raw)
	}
	e.refused("GET", "/provisioning/alerts/d?answered=true", nil, "answered: is not a filter of alerts")
	e.refused("GET", "/provisioning/alerts/d?alert_type=tts-failure", nil, "alert_type: must be one of no-carrier, call-limit, device-limit, auth-failures, arc-path-down, unknown-alarm-account, queue-backlog, store-nearly-full, store-unwritable, call-queue-backlog")
}

// FuzzAlertAck: the ack of an alert takes any id in its path and any body;
// only the stored alert's id answers 200, anything else a 4xx with
// success:false, and nothing panics or answers 500.
func FuzzAlertAck(f *testing.F) {
	e := newEnv(f)
	const stored = "00000000000000000042"
	b, _ := json.Marshal(engine.Alert{Time: time.Now(), AccountID: "d", AlertType: engine.AlertQueueBacklog, Message: "m"})
	if err := e.db.Put(store.Coll{Domain: "d", Resource: engine.ResAlert}, stored, b); err != nil {
		f.Fatal(err)
	}
	f.Add(stored, "")
	f.Add("../x", "{}")
	f.Add("00000000000000000001", "null")
	f.Add("%00", `{"acknowledged":false}`)
	f.Fuzz(func(t *testing.T, id, body string) {
		e.t = t
		rec := httptest.NewRecorder()
		p := "/provisioning/alerts/d/" + url.PathEscape(id) + "/ack"
		req := httptest.NewRequest("POST", p, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		e.s.ServeHTTP(rec, req)
		switch {
		case path.Clean(p) != p && (rec.Code == 307 || rec.Code == 301): // "", ".", "..": the mux's redirect to the clean path
		case rec.Code == 200 && id == stored:
		case rec.Code >= 400 && rec.Code < 500 && id != stored:
			if !strings.Contains(rec.Body.String(), `"success":false`) {
				t.Fatalf("error without success:false: %s", rec.Body)
			}
		default:
			t.Fatalf("ack %q %q: status %d: %s", id, body, rec.Code, rec.Body)
		}
	})
}
