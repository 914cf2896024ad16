package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// provision POSTs each document to the daemon's REST API.
func provision(t *testing.T, d *daemonProc, key string, docs ...[2]string) {
	t.Helper()
	for _, r := range docs {
		code, body, err := d.req(key, "POST", r[0], r[1])
		if err != nil || code != 200 {
			t.Fatalf("POST %s: %d %s %v", r[0], code, body, err)
		}
	}
}

// metricValue reads one sample of the daemon's /metrics.
func metricValue(t *testing.T, d *daemonProc, key, name string) float64 {
	t.Helper()
	code, body, err := d.req(key, "GET", "/metrics", "")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics:\n%s", name, body)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestSCAIPUnitThroughDaemon: SIPp plays a SCAIP alarm unit against the
// daemon process, over UDP and over TCP: its <mrq> MESSAGE gets 200, the event is mapped (the
// device is provisioned) and delivered to the alarmbridge's HTTP callback,
// and the unit then receives the gateway's MESSAGE with <mrs> snu 0 for
// its ref, which it answers 200. A heartbeat (PI) marks the device online.
func TestSCAIPUnitThroughDaemon(t *testing.T) {
	var mu sync.Mutex
	var got []delivery.CallbackBody
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b delivery.CallbackBody
		if r.URL.Path != "/newAlarmbridgeEvent" || json.NewDecoder(r.Body).Decode(&b) != nil {
			http.Error(w, "bad", 400)
			return
		}
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
	}))
	defer cb.Close()

	const key = "scaip-admin-key-0123456789"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	provision(t, d, key,
		[2]string{"/provisioning/device/local", `{"deviceId":"4711","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/device/local", `{"deviceId":"4712","domain":"local","authType":"deviceid"}`},
		// Listed first (id order) but for another number: the MESSAGEs to
		// "scaip" must go to the bridge whose destinationMatch fits.
		[2]string{"/provisioning/alarmbridge/local", `{"id":"other","name":"other","protocol":"scaip","protocolMode":"dtmf","destinationMatch":"^other$"}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"units","name":"units","protocol":"scaip","protocolMode":"dtmf","destinationMatch":"^scaip$","callbackBaseUrl":"` + cb.URL + `"}`})

	for _, tr := range []string{"u1", "t1"} {
		if mrs := scaipUnit(t, d, tr, "4711", "r4711"+tr, "ME"); !strings.Contains(mrs, "<mre>0</mre><hbi>5</hbi>") {
			t.Fatalf("%s: <mrs> without mre 0 and hbi 5 (defaultHeartbeatInterval 300000 ms):\n%s", tr, mrs)
		}
	}

	testkit.WaitFor(t, "two events at the callback", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 2 })
	mu.Lock()
	events := append([]delivery.CallbackBody(nil), got...)
	mu.Unlock()
	if len(events) != 2 {
		t.Fatalf("callback got %d events, want 2\ndaemon:\n%s", len(events), d.log())
	}
	for _, b := range events {
		ev := b.Event
		if ev.Protocol != alarm.ProtoSCAIP || ev.ControllerID != "4711" || ev.DeviceID != "01" || ev.DeviceType != "0005" ||
			ev.StatusCode != "0000" || ev.Location != "bedroom" || ev.AlarmBridgeID != "units" || ev.DeviceKey != "4711" || ev.Priority != 1 {
			t.Fatalf("callback event %+v", ev)
		}
	}
	if events[0].ID == events[1].ID {
		t.Fatalf("two refs made one event id %s", events[0].ID)
	}

	// A heartbeat (PI) from a unit not heard before is answered snu 0 and
	// marks it online; it is not an event.
	if code, body, err := d.req(key, "GET", "/provisioning/device/local/4712", ""); err != nil || code != 200 || !strings.Contains(body, `"heartbeatStatus":"unknown"`) {
		t.Fatalf("device before its PI: %d %s %v", code, body, err)
	}
	scaipUnit(t, d, "u1", "4712", "hb1", "PI")
	if code, body, err := d.req(key, "GET", "/provisioning/device/local/4712", ""); err != nil || code != 200 || !strings.Contains(body, `"heartbeatStatus":"online"`) {
		t.Fatalf("device after its PI: %d %s %v", code, body, err)
	}
	// An event is queued before the unit gets its answer: had the PI been
	// one, it would be counted now.
	if r := metricValue(t, d, key, "edgebridge_alarms_received_total"); r != 2 {
		t.Fatalf("the heartbeat was queued as an event (%v events received)", r)
	}
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("the heartbeat reached the callback as an event (%d events)", n)
	}
}

// scaipUnit runs the SIPp SCAIP unit (transport u1 or t1) once against the
// daemon and returns the <mrs> MESSAGE it received, checked to be snu 0 for
// ref, sent to the unit's source address, and answered 200.
func scaipUnit(t *testing.T, d *daemonProc, transport, cid, ref, mty string) string {
	t.Helper()
	via, uri := "UDP", ""
	if transport == "t1" {
		via, uri = "TCP", ";transport=tcp"
	}
	wd := t.TempDir()
	repl := []string{"REF", ref, "MTY", mty, "CID", cid, "DID", "01", "STC", "0000", "SNU", "0", "PAUSE_MS", "300"}
	unit := testkit.StartSIPp(t, wd, false, d.sipAddr(t), "-t", transport, "-sf", testkit.SIPpScenario(t, wd, "scaip_unit.xml", repl...),
		"-oocsf", testkit.SIPpScenario(t, wd, "scaip_unit_ooc.xml", repl...), "-s", "scaip", "-m", "1")
	if err := unit.Wait(15 * time.Second); err != nil {
		t.Fatalf("%s: sipp unit: %v\n%s\ndaemon:\n%s", via, err, unit.Report(), d.log())
	}
	// SIPp does not fail a call over its out-of-call part: check it here.
	if strings.Contains(unit.Logs("*errors.log"), "Failed regexp") {
		t.Fatalf("%s: the unit's check of the <mrs> failed:\n%s", via, unit.Report())
	}
	var mrs string
	for _, m := range unit.Received() {
		if strings.Contains(m, "\nMESSAGE sip:"+cid+"@127.0.0.1:"+strconv.Itoa(unit.Port)+uri+" SIP/2.0") {
			mrs = m
		}
	}
	if !strings.Contains(mrs, "<ref>"+ref+"</ref><snu>0</snu>") || !strings.Contains(mrs, "Content-Type: application/scaip+xml") {
		t.Fatalf("%s: the unit got no <mrs> snu 0 for %s at its source address:\n%s", via, ref, strings.Join(unit.Received(), "\n"))
	}
	if msgs := unit.Logs("*messages.log"); !regexp.MustCompile(`SIP/2.0 200 OK\r?\nVia: SIP/2.0/` + via + ` ` + regexp.QuoteMeta(d.sipAddr(t))).MatchString(msgs) {
		t.Fatalf("%s: the unit did not answer the gateway's MESSAGE:\n%s", via, msgs)
	}
	return mrs
}

// TestContactIDPanelToSCAIPARC: the daemon end to end across protocols: a
// Contact ID panel calls over SIP (edgebridge simulate), gets its kissoff,
// and the event reaches a SIPp SCAIP ARC as an <mrq>, acknowledged by the
// ARC's <mrs> snu 0, after which nothing is left in the queue.
func TestContactIDPanelToSCAIPARC(t *testing.T) {
	wd := t.TempDir()
	arc := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "0", "CHALLENGE", "no", "AUTH_USER", "x", "AUTH_PASS", "x", "SNU", "0"), "-m", "1")

	const key = "scaip-admin-key-0123456789"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	provision(t, d, key,
		[2]string{"/provisioning/device/local", `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"scaip","destAddr":"sip:arc@127.0.0.1:` + strconv.Itoa(arc.Port) + `"}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`})

	var out, errb bytes.Buffer
	if code := run([]string{"simulate", "--to", "sip:5551@" + d.sipAddr(t), "--event", "1234,1,130,01,015", "--calls", "1"}, &out, &errb); code != 0 {
		t.Fatalf("simulate exit %d\n%s%s\ndaemon:\n%s", code, out.String(), errb.String(), d.log())
	}
	if err := arc.Wait(15 * time.Second); err != nil {
		t.Fatalf("sipp ARC: %v\n%s\ndaemon:\n%s", err, arc.Report(), d.log())
	}
	rx := arc.Received()
	if len(rx) != 2 {
		t.Fatalf("ARC received %d messages, want the <mrq> and the 200 to its <mrs>:\n%v", len(rx), rx)
	}
	for _, want := range []string{"Content-Type: application/scaip+xml", "<mty>ME</mty>", "<cid>1234</cid>", "<dty>0000</dty>",
		"<stt>Contact ID 1130 group 01 zone 015</stt>", "From: <sip:edgebridge@" + d.sipAddr(t) + ">"} {
		if !strings.Contains(rx[0], want) {
			t.Fatalf("the ARC's <mrq> lacks %q:\n%s", want, rx[0])
		}
	}
	testkit.WaitFor(t, "the event counted as delivered", 5*time.Second, func() bool {
		return metricValue(t, d, key, "edgebridge_alarms_delivered_total") == 1
	})
	if q := metricValue(t, d, key, "edgebridge_alarms_queued"); q != 0 {
		t.Fatalf("%v events still queued after the ARC's snu 0", q)
	}
	// Both MESSAGEs are in the SIP log like any other message.
	want := []string{`"requestUri":"sip:arc@127.0.0.1:` + strconv.Itoa(arc.Port) + `"`, `"requestUri":"sip:edgebridge@` + d.sipAddr(t) + `"`, `"method":"MESSAGE"`}
	testkit.WaitFor(t, fmt.Sprintf("%q in the SIP log", want), 3*time.Second, func() bool {
		_, body, err := d.req(key, "POST", "/provisioning/logs/local/sip", `{"filterPattern":"scaip","limit":50}`)
		return err == nil && strings.Contains(body, want[0]) && strings.Contains(body, want[1]) && strings.Contains(body, want[2])
	})
}

// TestSCAIPUnitVoiceCallBridged: with an event mapper whose alarmHandling
// asks for speech (callEmergencyCenter, a defaultVoiceDestination), the
// SCAIP unit's alarm is answered mre 1 (duplex, SS 91100), and the voice
// call it then places to the bridge's number (destinationMatch) is bridged
// to the ARC's speech line (SIPp answering), which is cleared when the unit
// hangs up. The speech line is tried first: the unit is answered only once
// the ARC has.
//
// With backupDefaultVoiceDestination, a busy voice destination makes the
// gateway call the backup one instead.
func TestSCAIPUnitVoiceCallBridged(t *testing.T) {
	for _, viaBackup := range []bool{false, true} {
		t.Run(map[bool]string{false: "voice destination", true: "backup voice destination"}[viaBackup], func(t *testing.T) {
			scaipVoiceCall(t, viaBackup)
		})
	}
}

func scaipVoiceCall(t *testing.T, viaBackup bool) {
	wd := t.TempDir()
	speech := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	const key = "scaip-admin-key-0123456789"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	voice := `"defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(speech.Port) + `"`
	if viaBackup {
		bwd := t.TempDir()
		busy := testkit.StartSIPp(t, bwd, true, "-sf", testkit.SIPpScenario(t, bwd, "uas_busy.xml"), "-m", "1")
		voice = `"defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(busy.Port) + `",` +
			`"backupEndpoint":{"backupDefaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(speech.Port) + `"}`
	}
	provision(t, d, key,
		[2]string{"/provisioning/device/local", `{"deviceId":"4711","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` +
			arc.Addr + `?transport=tcp",` + voice + `}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"units","name":"units","protocol":"scaip","protocolMode":"dtmf","destinationMatch":"^scaip$","alarmEventMapperId":"arc"}`},
		// SIPp places the unit's voice call as user "sipp": from a trusted network.
		[2]string{"/provisioning/trustednetwork/local", `{"id":"lan","network":"127.0.0.1/32"}`})

	if mrs := scaipUnit(t, d, "u1", "4711", "rvoice1", "ME"); !strings.Contains(mrs, "<mre>1</mre>") {
		t.Fatalf("<mrs> without mre 1 although the mapper asks for speech:\n%s", mrs)
	}
	if got := arc.Wait(1, 10*time.Second); len(got) != 1 {
		t.Fatalf("ARC got %d events, want the alarm", len(got))
	}
	uwd := t.TempDir()
	unit := testkit.StartSIPp(t, uwd, false, d.sipAddr(t), "-sf", testkit.SIPpScenario(t, uwd, "uac_pcap.xml",
		"PCAP_FILE", "/usr/share/sip-tester/dtmf_2833_1.pcap", "PAUSE_MS", "1500"), "-s", "scaip", "-m", "1")
	if err := unit.Wait(20 * time.Second); err != nil {
		t.Fatalf("the unit's voice call: %v\n%s\ndaemon:\n%s", err, unit.Report(), d.log())
	}
	if err := speech.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line did not get the call and its end: %v\n%s", err, speech.Report())
	}
}

// TestSCAIPUnitToldWhenTheARCCallsBack: a SCAIP bridge whose mapper has
// alarmHandling requestCallback answers the unit's alarm (SIPp, over real
// SIP) with cre, the mapper's waitForCallback in minutes, so the unit stays
// reachable for the ARC's call back; no voice call is offered (mre 0).
func TestSCAIPUnitToldWhenTheARCCallsBack(t *testing.T) {
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer cb.Close()
	const key = "scaip-admin-key-0123456789"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	provision(t, d, key,
		[2]string{"/provisioning/device/local", `{"deviceId":"4711","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"requestCallback","waitForCallback":5,` +
			`"targetEndpoint":{"protocol":"http","destAddr":"` + cb.URL + `"}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"units","name":"units","protocol":"scaip","protocolMode":"dtmf","destinationMatch":"^scaip$","alarmEventMapperId":"arc"}`})
	if mrs := scaipUnit(t, d, "u1", "4711", "cb1", "ME"); !strings.Contains(mrs, "<mre>0</mre><cre>5</cre>") {
		t.Fatalf("<mrs> without mre 0 and cre 5:\n%s", mrs)
	}
}
