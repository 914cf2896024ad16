package main

import (
	"fmt"
	"net"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// nowipAlarmData is a BS 8521 message: C D TT GGGGGGGG RRRR EEE LL P SS,
// controller 00000042, unit 0001, personal trigger (019), bedroom 1 (07),
// priority 1.
const nowipAlarmData = "010200000042000101907101"

// TestNOWIPUnitThroughDaemon: SIPp plays a BS 8521-2 (NOW-IP) alarm unit
// against the daemon process. Its alarm MESSAGE is answered 200 (once the
// event is queued) and acknowledged with the gateway's own MESSAGE of type A
// carrying the same data; the event reaches both the alarmbridge's HTTP
// callback and a DC-09 receiver that replies like real ones, exactly once,
// even though the unit sends the same <ATM> a second time. A heartbeat is
// acknowledged and marks its device online without being an event. Malformed
// MESSAGEs are answered 400 and an unknown unit 403, without an
// acknowledgement, and the daemon carries on.
func TestNOWIPUnitThroughDaemon(t *testing.T) {
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

	const key = "nowip-admin-key-0123456789"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	provision(t, d, key,
		[2]string{"/provisioning/trustednetwork/local", `{"network":"127.0.0.1/32"}`},
		[2]string{"/provisioning/device/local", `{"deviceId":"00000042:0001","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/device/local", `{"deviceId":"00000043","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arcAddr + `?transport=tcp"}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"nowip","name":"NOW-IP units","protocol":"nowip","protocolMode":"dtmf","destinationMatch":"^nowip$","alarmEventMapperId":"arc","callbackBaseUrl":"` + cbSrv.URL + `"}`})

	// The alarm, over UDP, then the same <ATM> again over TCP (a unit that
	// missed the acknowledgement): one event.
	var timing []string
	for _, tr := range []string{"u1", "t1"} {
		final, ack := nowipUnit(t, d, tr, "unit42", "1", nowipAlarmData, "", "20261207120000", 200, true)
		timing = append(timing, fmt.Sprintf("%s: 200 after %v, acknowledgement after %v", tr, final, ack))
	}
	testkit.WaitFor(t, "the event at the callback and the DC-09 receiver", 10*time.Second, func() bool {
		arcMu.Lock()
		defer arcMu.Unlock()
		return len(cb.all()) >= 1 && len(arcGot) >= 1
	})
	// Anything else would have arrived by now: a second alarm proves the
	// queue is flowing, and it is the only other event.
	nowipUnit(t, d, "u1", "unit42", "1", "010200000042000102107101", "", "20261207120100", 200, true)
	testkit.WaitFor(t, "the second alarm delivered", 10*time.Second, func() bool {
		arcMu.Lock()
		defer arcMu.Unlock()
		return len(cb.all()) >= 2 && len(arcGot) >= 2
	})
	evs := cb.all()
	arcMu.Lock()
	got := append([]dc09.Message(nil), arcGot...)
	arcMu.Unlock()
	if len(evs) != 2 || len(got) != 2 {
		t.Fatalf("callback got %d events, DC-09 receiver %d; want 2 each (the repeat is one event)\ndaemon:\n%s", len(evs), len(got), d.log())
	}
	ev := evs[0]
	for k, want := range map[string]any{"protocol": "nowip", "controllerId": "00000042", "deviceId": "0001", "statusCode": "0019",
		"location": "07", "alarmBridgeId": "nowip", "deviceKey": "00000042:0001"} {
		if ev[k] != want {
			t.Fatalf("callback event %s = %v, want %v\n%v", k, ev[k], want, ev)
		}
	}
	if got[0].Data != "#00000042|Nri0/QA07" || got[1].Data != "#00000042|Nri0/MA07" {
		t.Fatalf("DC-09 receiver got %q and %q, want QA then MA (fall) for account 00000042 zone 07", got[0].Data, got[1].Data)
	}

	// A heartbeat with the 12-digit identity: acknowledged, the device is
	// online, no event.
	nowipUnit(t, d, "u1", "unit43", "0", "000000430001", "", "20261207120200", 200, true)
	if code, body, err := d.req(key, "GET", "/provisioning/device/local/00000043", ""); err != nil || code != 200 || !strings.Contains(body, `"heartbeatStatus":"online"`) {
		t.Fatalf("device after its heartbeat: %d %s %v", code, body, err)
	}

	// Malformed and refused MESSAGEs: no acknowledgement, no event, and the
	// daemon still takes the next one.
	for _, c := range []struct {
		name, typ, data, extra string
		code                   int
	}{
		{"not XML", "1", nowipAlarmData, "<", 400},
		{"data of 5 digits", "1", "01020", "", 400},
		{"bad checksum", "1", nowipAlarmData + "00", "", 400},
		{"type Z", "Z", nowipAlarmData, "", 400},
		{"unknown unit", "1", "010200000099000101907101", "", 403},
		{"a command from a unit", "2", "20025", "", 403},
	} {
		t.Log(c.name)
		nowipUnit(t, d, "u1", "unit42", c.typ, c.data, c.extra, "20261207120300", c.code, false)
	}
	nowipUnit(t, d, "u1", "unit42", "1", nowipAlarmData, "", "20261207120400", 200, true)
	byProto := func() map[any]int {
		n := map[any]int{}
		for _, ev := range cb.all() {
			n[ev["protocol"]]++
		}
		return n
	}
	testkit.WaitFor(t, "the alarm after the malformed ones", 10*time.Second, func() bool { return byProto()["nowip"] == 3 })
	// The unknown unit is reported once, as every protocol's are.
	testkit.WaitFor(t, "the unknown unit's supervision event", 10*time.Second, func() bool { return byProto()["supervision"] == 1 })
	if n := byProto(); len(n) != 2 || n["nowip"] != 3 {
		t.Fatalf("events at the callback by protocol: %v, want 3 nowip and 1 supervision", n)
	}
	t.Logf("the alarm MESSAGE (then its repeat), from SIPp's time stamps: %s", strings.Join(timing, "; "))
}

// nowipUnit runs the SIPp NOW-IP unit once: its MESSAGE (type, data, the
// extra text after the data, time) must get code; when acked, the gateway's
// acknowledgement (type A, the same data) must reach it at its source address
// and be answered 200, else none may come.
func nowipUnit(t *testing.T, d *daemonProc, transport, user, typ, data, extra, tm string, code int, acked bool) (final, acknowledged time.Duration) {
	t.Helper()
	via := "UDP"
	if transport == "t1" {
		via = "TCP"
	}
	wd := t.TempDir()
	pause := "0"
	if acked {
		pause = "300"
	}
	repl := []string{"UNIT", user, "TYPE", typ, "ATM_DATA", data, "BODY_EXTRA", extra, "TIME", tm, "CODE", fmt.Sprint(code), "PAUSE_MS", pause}
	unit := testkit.StartSIPp(t, wd, false, d.sipAddr(t), "-t", transport, "-sf", testkit.SIPpScenario(t, wd, "nowip_unit.xml", repl...),
		"-oocsf", testkit.SIPpScenario(t, wd, "nowip_unit_ooc.xml", repl...), "-s", "nowip", "-m", "1")
	if err := unit.Wait(15 * time.Second); err != nil {
		t.Fatalf("%s %s: sipp unit: %v\n%s\ndaemon:\n%s", via, data, err, unit.Report(), d.log())
	}
	if strings.Contains(unit.Logs("*errors.log"), "Failed regexp") {
		t.Fatalf("%s: the unit's check of the acknowledgement failed:\n%s", via, unit.Report())
	}
	var ack string
	for _, m := range unit.Received() {
		if strings.Contains(m, "\nMESSAGE sip:"+user+"@127.0.0.1:") {
			ack = m
		}
	}
	if !acked {
		if ack != "" {
			t.Fatalf("%s: a MESSAGE answered %d was acknowledged:\n%s", via, code, ack)
		}
		return 0, 0
	}
	if !strings.Contains(ack, "<type>A</type><data>"+data+"</data>") || !strings.Contains(ack, "Content-Type: text/plain") {
		t.Fatalf("%s: the unit got no acknowledgement of %s at its source address:\n%s", via, data, strings.Join(unit.Received(), "\n"))
	}
	if msgs := unit.Logs("*messages.log"); !regexp.MustCompile(`SIP/2.0 200 OK\r?\nVia: SIP/2.0/` + via + ` ` + regexp.QuoteMeta(d.sipAddr(t))).MatchString(msgs) {
		t.Fatalf("%s: the unit did not answer the gateway's acknowledgement:\n%s", via, msgs)
	}
	// SIPp stamps each message it logs: the 200 and the acknowledgement,
	// after the unit's MESSAGE.
	logs := unit.Logs("*messages.log")
	sent := sippStamp(t, logs, "message sent", "MESSAGE sip:nowip@")
	return sippStamp(t, logs, "message received", "SIP/2.0 200 OK").Sub(sent), sippStamp(t, logs, "message received", "MESSAGE sip:"+user+"@").Sub(sent)
}

// sippStamp is the time SIPp logged the first message of its messages.log
// that it sent or received (dir) and that contains want.
func sippStamp(t *testing.T, logs, dir, want string) time.Time {
	t.Helper()
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}`)
	for _, m := range strings.Split(logs, "-----------------------------------------------") {
		if !strings.Contains(m, dir) || !strings.Contains(m, want) {
			continue
		}
		if at, err := time.ParseInLocation("2006-01-02 15:04:05.000000", stamp.FindString(m), time.Local); err == nil {
			return at
		}
	}
	t.Fatalf("no %s %q with a time stamp in SIPp's messages.log:\n%s", dir, want, logs)
	return time.Time{}
}

// TestNOWIPUnitVoiceCallBridged: a NOW-IP unit whose mapper asks for speech
// (callEmergencyCenter with a voice destination) sends its alarm, gets the
// acknowledgement, then calls the bridge's number: the call is bridged to
// the ARC's speech line (SIPp), which sees it and its end.
func TestNOWIPUnitVoiceCallBridged(t *testing.T) {
	wd := t.TempDir()
	speech := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	const key = "nowip-admin-key-0123456789"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	provision(t, d, key,
		[2]string{"/provisioning/trustednetwork/local", `{"network":"127.0.0.1/32"}`},
		[2]string{"/provisioning/device/local", `{"deviceId":"00000042:0001","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` +
			arc.Addr + `?transport=tcp","defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(speech.Port) + `"}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"nowip","name":"NOW-IP units","protocol":"nowip","protocolMode":"dtmf","destinationMatch":"^nowip$","alarmEventMapperId":"arc"}`})
	nowipUnit(t, d, "u1", "unit42", "1", nowipAlarmData, "", "20261207130000", 200, true)
	if got := arc.Wait(1, 10*time.Second); len(got) != 1 {
		t.Fatalf("ARC got %d events, want the alarm", len(got))
	}
	uwd := t.TempDir()
	unit := testkit.StartSIPp(t, uwd, false, d.sipAddr(t), "-sf", testkit.SIPpScenario(t, uwd, "uac_pcap.xml",
		"PCAP_FILE", "/usr/share/sip-tester/dtmf_2833_1.pcap", "PAUSE_MS", "1500"), "-s", "nowip", "-m", "1")
	if err := unit.Wait(20 * time.Second); err != nil {
		t.Fatalf("the unit's voice call: %v\n%s\ndaemon:\n%s", err, unit.Report(), d.log())
	}
	if err := speech.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line did not get the call and its end: %v\n%s", err, speech.Report())
	}
}
