package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// callbackRecorder is the alarmbridge's HTTP callback: it records each
// event body POSTed to /newAlarmbridgeEvent.
type callbackRecorder struct {
	mu     sync.Mutex
	events []map[string]any
}

func (c *callbackRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var ev map[string]any
	if r.URL.Path != "/newAlarmbridgeEvent" || json.Unmarshal(b, &ev) != nil {
		http.Error(w, "bad callback", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (c *callbackRecorder) all() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.events...)
}

// TestEveryAnalogueProtocolThroughTheDaemon: for each protocol of the
// alarmbridge enum received on an audio call (multiprotocol with each kind
// of unit, with and without fallbackAlarmProtocol), `simulate` plays the unit
// over SIP/RTP (RFC 4733 and in-band), gets the protocol's acknowledgement
// from the real daemon, and the event reaches both the HTTP callback and a
// DC-09 receiver that answers the way real receivers do (None for R,
// lower-case hex), each event exactly once.
func TestEveryAnalogueProtocolThroughTheDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("daemon end-to-end test")
	}
	dir := t.TempDir()
	const key = "e2e-admin-key-0123456789"

	var arcMu sync.Mutex
	var arcGot []dc09.Message
	arc := &dc09.Receiver{Loose: true, Handle: func(m dc09.Message, _ net.Addr) dc09.Verdict {
		if m.ID != dc09.IDNull {
			arcMu.Lock()
			arcGot = append(arcGot, m)
			arcMu.Unlock()
		}
		return dc09.VerdictAck
	}}
	arcAddr, err := arc.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arc.Close() })
	cb := &callbackRecorder{}
	cbSrv := httptest.NewServer(cb)
	t.Cleanup(cbSrv.Close)

	d := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	bridge := func(id, protocol, mode, number string) string {
		return fmt.Sprintf(`{"id":%q,"name":%q,"protocol":%q,"protocolMode":%q,"destinationMatch":"^%s$","alarmEventMapperId":"arc","callbackBaseUrl":%q}`,
			id, id, protocol, mode, number, cbSrv.URL)
	}
	for _, r := range []struct{ path, body string }{
		{"/provisioning/device/local", `{"deviceId":"12345678","domain":"local","authType":"deviceid","serviceData":{"alarmBridge":{"alarmProtocol":"bs8521"}}}`},
		{"/provisioning/device/local", `{"deviceId":"461234567800","domain":"local","authType":"deviceid"}`},
		{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arcAddr + `?transport=tcp"}}`},
		{"/provisioning/alarmbridge/local", bridge("bs", "bs8521", "dtmf", "5552")},
		{"/provisioning/alarmbridge/local", bridge("tt", "tt92", "dtmf", "5553")},
		{"/provisioning/alarmbridge/local", bridge("ttsdmf", "tt92", "sdmf", "5554")},
		{"/provisioning/alarmbridge/local", bridge("ttnew", "ttnew", "dtmf", "5555")},
		{"/provisioning/device/local", `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		{"/provisioning/alarmbridge/local", bridge("multi", "multiprotocol", "dtmf", "5556")},
		{"/provisioning/alarmbridge/local", strings.Replace(bridge("multitt", "multiprotocol", "dtmf", "5557"), `"name"`, `"fallbackAlarmProtocol":"ttnew","name"`, 1)},
		{"/provisioning/alarmbridge/local", bridge("bydevice", "deviceProvisioned", "dtmf", "5558")},
	} {
		code, body, err := d.req(key, "POST", r.path, r.body)
		if err != nil || code != 200 {
			t.Fatalf("POST %s: %d %s %v", r.path, code, body, err)
		}
	}
	sip := d.sipAddr(t)
	for i, c := range []struct {
		name, number, protocol, mode, dtmf, ack, data string
	}{
		{"bs8521 rfc4733", "5552", "bs8521", "dtmf", "2833", "acknowledge heard", "#12345678|Nri0/QA01"},
		{"bs8521 inband", "5552", "bs8521", "dtmf", "inaudio", "acknowledge heard", "#12345678|Nri0/QA01"},
		{"tt92 rfc4733", "5553", "tt92", "dtmf", "2833", "acknowledge (B0) heard", "#461234567800|Nri0/QA0"},
		{"tt92 inband", "5553", "tt92", "dtmf", "inaudio", "acknowledge (B0) heard", "#461234567800|Nri0/QA0"},
		{"tt92 sdmf", "5554", "tt92", "sdmf", "inaudio", "acknowledge (B0) heard", "#461234567800|Nri0/QA0"},
		{"ttnew rfc4733", "5555", "ttnew", "dtmf", "2833", "acknowledge (DB) heard", "#461234567800|Nri0/QA0"},
		{"ttnew inband", "5555", "ttnew", "dtmf", "inaudio", "acknowledge (DB) heard", "#461234567800|Nri0/QA0"},
		// multiprotocol: the protocol is the one the unit answers.
		{"multiprotocol contactid", "5556", "contactid", "dtmf", "2833", "kissoff heard", "#1234|1130 01 015"},
		{"multiprotocol bs8521", "5556", "bs8521", "dtmf", "inaudio", "acknowledge heard", "#12345678|Nri0/QA01"},
		{"multiprotocol fallback ttnew", "5557", "ttnew", "dtmf", "2833", "acknowledge (DB) heard", "#461234567800|Nri0/QA0"},
		{"multiprotocol fallback ttnew, contactid unit", "5557", "contactid", "dtmf", "inaudio", "kissoff heard", "#1234|1130 01 015"},
		// deviceProvisioned: the calling device's alarmProtocol (bs8521).
		{"deviceProvisioned bs8521", "5558", "bs8521", "dtmf", "2833", "acknowledge heard", "#12345678|Nri0/QA01"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"simulate", "--to", "sip:" + c.number + "@" + sip, "--protocol", c.protocol, "--mode", c.mode, "--dtmf", c.dtmf, "--calls", "1"}, &out, &errb)
			t.Log(out.String())
			if code != 0 {
				t.Fatalf("simulate exit %d\n%s%s\ndaemon:\n%s", code, out.String(), errb.String(), d.log())
			}
			if !strings.Contains(out.String(), c.ack) {
				t.Fatalf("simulate output lacks %q", c.ack)
			}
			testkit.Eventually(15*time.Second, func() bool {
				arcMu.Lock()
				n := len(arcGot)
				arcMu.Unlock()
				return n >= i+1 && len(cb.all()) >= i+1
			})
			arcMu.Lock()
			got := append([]dc09.Message(nil), arcGot...)
			arcMu.Unlock()
			if len(got) != i+1 {
				t.Fatalf("DC-09 receiver holds %d events after %d calls, want one per call: %+v", len(got), i+1, got)
			}
			wantID := dc09.IDSIADCS // every event but Contact ID keeps its identity as SIA-DCS
			if c.protocol == "contactid" {
				wantID = dc09.IDADMCID
			}
			if m := got[i]; m.ID != wantID || m.Data != c.data {
				t.Errorf("DC-09 receiver got %s %q, want %s %q", m.ID, m.Data, wantID, c.data)
			}
			evs := cb.all()
			if len(evs) != i+1 || evs[i]["protocol"] != c.protocol {
				t.Fatalf("callback got %d events, last %v; want %d, protocol %s", len(evs), evs[len(evs)-1], i+1, c.protocol)
			}
		})
	}
	// A caller that is no provisioned device cannot reach a
	// deviceProvisioned bridge: refused before the answer, so the unit
	// dials its backup number.
	var out, errb bytes.Buffer
	code := run([]string{"simulate", "--to", "sip:5558@" + sip, "--protocol", "bs8521", "--from", "77777777", "--calls", "1"}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "call not answered") || strings.Contains(out.String(), "answered after") {
		t.Errorf("unknown caller on deviceProvisioned: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// TestUnknownAccountIsVisible: a panel whose account no device matches gets
// no kissoff, as before, but the installer sees it (/gateway/alarms/recent,
// the console's `alarms`, and a /metrics counter), the daemon logs it once,
// and the bridge's ARC gets one supervision event naming the account, not
// one per call.
func TestUnknownAccountIsVisible(t *testing.T) {
	if testing.Short() {
		t.Skip("daemon end-to-end test")
	}
	dir := t.TempDir()
	const key = "e2e-admin-key-0123456789"
	var arcMu sync.Mutex
	var arcGot []dc09.Message
	arc := &dc09.Receiver{Handle: func(m dc09.Message, _ net.Addr) dc09.Verdict {
		if m.ID != dc09.IDNull {
			arcMu.Lock()
			arcGot = append(arcGot, m)
			arcMu.Unlock()
		}
		return dc09.VerdictAck
	}}
	arcAddr, err := arc.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arc.Close() })
	d := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	for _, r := range []struct{ path, body string }{
		{"/provisioning/device/local", `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arcAddr + `?transport=tcp"}}`},
		{"/provisioning/alarmbridge/local", `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`},
	} {
		if code, body, err := d.req(key, "POST", r.path, r.body); err != nil || code != 200 {
			t.Fatalf("POST %s: %d %s %v", r.path, code, body, err)
		}
	}
	// Two calls of account 9999 (unknown), each with the panel's 4 attempts,
	// from the provisioned unit 1234 (SIP trusts no unprovisioned caller).
	var out, errb bytes.Buffer
	if code := run([]string{"simulate", "--to", "sip:5551@" + d.sipAddr(t), "--from", "1234", "--event", "9999,1,130,01,015", "--calls", "2"}, &out, &errb); code != 1 {
		t.Fatalf("simulate exit %d, want 1 (no kissoff for an unknown account)\n%s%s", code, out.String(), errb.String())
	}
	if strings.Contains(out.String(), "kissoff heard") {
		t.Fatalf("kissoff for an unknown account:\n%s", out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		arcMu.Lock()
		n := len(arcGot)
		arcMu.Unlock()
		if n >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	arcMu.Lock()
	got := append([]dc09.Message(nil), arcGot...)
	arcMu.Unlock()
	if len(got) != 1 || got[0].ID != dc09.IDSIADCS || got[0].Data != "#9999|Nri0/UA" {
		t.Fatalf("ARC got %+v, want one SIA-DCS #9999|Nri0/UA for both calls", got)
	}
	if n := strings.Count(d.log(), "alarm from an unknown account refused"); n != 1 {
		t.Errorf("%d log lines about the unknown account, want 1:\n%s", n, d.log())
	}
	code, body, err := d.req(key, "GET", "/metrics", "")
	if err != nil || code != 200 || !strings.Contains(body, "edgebridge_alarms_unknown_account_total 2\n") {
		t.Errorf("/metrics (want 2 refused events, one per call): %d %v\n%s", code, err, body)
	}
	code, body, err = d.req(key, "GET", "/gateway/alarms/recent", "")
	if err != nil || code != 200 || strings.Count(body, "refused: unknown account") != 2 || !strings.Contains(body, `"9999"`) {
		t.Errorf("/gateway/alarms/recent: %d %v\n%s", code, err, body)
	}
}
