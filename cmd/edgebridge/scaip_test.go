package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/scaip"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// sippProc is one SIPp process (Debian sip-tester) run in its own directory
// with the scenarios of testdata/sipp.
type sippProc struct {
	cmd  *exec.Cmd
	dir  string
	out  bytes.Buffer
	done chan error
	port int
}

// sippScenario copies testdata/sipp/name into dir with the replacements.
func sippScenario(t *testing.T, dir, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, []byte(strings.NewReplacer(repl...).Replace(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// startSIPp runs sipp on 127.0.0.1 at a free UDP port and, when it plays a
// server (no remote host in args), waits until it listens.
func startSIPp(t *testing.T, dir string, server bool, args ...string) *sippProc {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not found: install the Debian package sip-tester (make deps)")
	}
	s := &sippProc{dir: dir, done: make(chan error, 1), port: freeUDP(t)}
	full := append([]string{"-i", "127.0.0.1", "-p", strconv.Itoa(s.port), "-mp", strconv.Itoa(freeUDP(t)),
		"-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-trace_msg"}, args...)
	s.cmd = exec.Command(bin, full...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	if server {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(s.port))
			if err != nil {
				break // SIPp holds it
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("sipp did not listen on %d:\n%s", s.port, s.report())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return s
}

func freeUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func (s *sippProc) wait(d time.Duration) error {
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(d):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("sipp still running after %v", d)
	}
}

func (s *sippProc) logs(pattern string) string {
	files, _ := filepath.Glob(filepath.Join(s.dir, pattern))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

func (s *sippProc) report() string { return s.out.String() + s.logs("*errors.log") }

// received returns the messages SIPp received, each as its text.
func (s *sippProc) received() []string {
	var out []string
	for _, m := range strings.Split(s.logs("*messages.log"), "-----------------------------------------------") {
		if strings.Contains(m, "message received") {
			out = append(out, m)
		}
	}
	return out
}

// scaipGateway is the outbound SCAIP path of the daemon built in-process:
// the engine, delivery with the "scaip" sender as newGateway wires it,
// and scaip.Inbound taking the ARC's <mrs>. holdWait shortens SS 91100's
// 5-20 s so that a test of the hold path stays short.
type scaipGateway struct {
	eng *engine.Engine
	dl  *delivery.Delivery

	mu  sync.Mutex
	log []engine.SIPMessage
}

func newSCAIPGateway(t testing.TB, mapper *alarm.EventMapper, holdWait time.Duration, opts ...delivery.Option) *scaipGateway {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(filepath.Join(t.TempDir(), "eb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sg := &scaipGateway{}
	g := &gateway{d: &daemon{log: log}}
	engOpt, _ := g.scaipOptions() // the daemon's MESSAGE handler (Replies first)
	base := delivery.SCAIPFactory(scaipClient{g}, g.scaip.replies, "", log)
	factory := func(ep delivery.Endpoint) (delivery.Sender, error) {
		s, err := base(ep)
		if err == nil {
			s.(*scaip.Sender).HoldWait = holdWait
			s.(*scaip.Sender).ReplyTimeout = 3 * time.Second
		}
		return s, err
	}
	resolve := func(ev alarm.Event) ([]delivery.Route, error) {
		r, err := delivery.MapperRoute(ev.Domain, mapper)
		return []delivery.Route{r}, err
	}
	sg.dl = delivery.New(db, resolve, append([]delivery.Option{delivery.WithLogger(log), delivery.WithSender("scaip", factory),
		delivery.WithBackoff(50*time.Millisecond, 200*time.Millisecond)}, opts...)...)
	sg.eng, err = engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "local", RTPPortMin: 33100, RTPPortMax: 33199},
		engine.WithLogger(log), engOpt,
		// Loopback untrusted: the SIPp ARC's <mrs> gets in only as an
		// awaited answer, as from an ARC out on the network.
		engine.WithLoopbackTrusted(false),
		engine.WithSIPLog(engine.SIPLogFunc(func(ms []engine.SIPMessage) error {
			sg.mu.Lock()
			sg.log = append(sg.log, ms...)
			sg.mu.Unlock()
			return nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	g.eng = sg.eng
	ctx, cancel := context.WithCancel(context.Background())
	if err := sg.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sg.dl.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); sg.eng.Close(); g.scaip.in.Wait(); sg.dl.Close() })
	return sg
}

func (sg *scaipGateway) waitStats(t *testing.T, what string, cond func(delivery.Stats) bool) delivery.Stats {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := sg.dl.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contactIDEvent(id string) alarm.Event {
	return alarm.Event{ID: id, Protocol: alarm.ProtoContactID, Domain: "local", Received: time.Now(),
		ControllerID: "1234", MapperID: "arc", Handling: alarm.HandlingDrop,
		ContactID: &alarm.ContactIDFields{Account: "1234", Qualifier: "1", Code: "130", Group: "01", Zone: "015"}}
}

var refRe = regexp.MustCompile(`<ref>([A-Za-z0-9]+)</ref>`)

// TestSCAIPDeliveryHoldThenAck: an event for a mapper whose targetEndpoint
// is protocol scaip goes to a SIPp ARC as a MESSAGE with digest; the ARC
// answers <mrs> snu 4 (hold), the gateway resends the same ref after the
// hold time, gets snu 0, and the event leaves the queue as delivered.
func TestSCAIPDeliveryHoldThenAck(t *testing.T) {
	wd := t.TempDir()
	arc := startSIPp(t, wd, true, "-sf", sippScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "1", "CHALLENGE", "yes", "AUTH_USER", "gw", "AUTH_PASS", "arcpw", "SNU", "0"), "-m", "2")
	mapper := &alarm.EventMapper{ID: "arc", AlarmHandling: alarm.HandlingDrop, TargetEndpoint: alarm.TargetEndpoint{
		Protocol: "scaip", DestAddr: "sip:arc@127.0.0.1:" + strconv.Itoa(arc.port), SipAuthUser: "gw", SipAuthPassword: "arcpw"}}
	const hold = 400 * time.Millisecond
	sg := newSCAIPGateway(t, mapper, hold)

	if err := sg.dl.Enqueue(context.Background(), contactIDEvent("ev-hold-1")); err != nil {
		t.Fatal(err)
	}
	st := sg.waitStats(t, "the event delivered", func(s delivery.Stats) bool { return s.Delivered == 1 && s.Queued == 0 })
	if st.Retries != 0 || st.Dead != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v: the hold must be waited out inside one attempt", st)
	}
	if err := arc.wait(10 * time.Second); err != nil {
		t.Fatalf("sipp ARC: %v\n%s", err, arc.report())
	}

	// On the wire (the gateway's SIP log): MESSAGE, 401, MESSAGE with
	// digest, 200, <mrs> snu 4 in; after the hold the same ref again.
	sg.eng.FlushSIPLog()
	sg.mu.Lock()
	wire := append([]engine.SIPMessage(nil), sg.log...)
	sg.mu.Unlock()
	var refs []string
	var holdAt, resendAt time.Time
	for _, m := range wire {
		first, _, _ := bytes.Cut(m.Data, []byte("\r\n"))
		isMsg := bytes.HasPrefix(first, []byte("MESSAGE "))
		switch {
		case m.Out && isMsg && bytes.Contains(m.Data, []byte("\r\nAuthorization: Digest username=\"gw\"")):
			refs = append(refs, refRe.FindStringSubmatch(string(m.Data))[1])
			if !holdAt.IsZero() && resendAt.IsZero() {
				resendAt = m.Time
			}
		case !m.Out && isMsg && bytes.Contains(m.Data, []byte("<snu>4</snu>")):
			holdAt = m.Time
		}
	}
	if len(refs) != 2 || refs[0] != refs[1] || refs[0] == "" {
		t.Fatalf("authenticated MESSAGEs carried refs %v, want the same ref twice", refs)
	}
	// The first hop of the second exchange (unauthenticated) leaves at
	// hold; its authenticated retry follows the 401.
	if gap := resendAt.Sub(holdAt); gap < hold {
		t.Fatalf("resent %v after the hold answer, want at least %v (SS 91100: resend after the hold time)", gap, hold)
	}
	// From the ARC's address only an <mrs> is taken: an <mrq> there would
	// be an alarm from a unit nobody authenticated.
	for _, c := range []struct {
		body string
		want int
	}{
		{`<?xml version="1.0"?><mrq xmlns="http://www.hi.se/2012/XScaipXML"><ref>x1</ref><cid>1234</cid><dty>0005</dty></mrq>`, 403},
		{`<?xml version="1.0"?><mrs xmlns="http://www.hi.se/2012/XScaipXML"><ref>late1</ref><snu>0</snu></mrs>`, 200},
	} {
		if code := rawMessage(t, sg.eng.Addr(), c.body); code != c.want {
			t.Fatalf("MESSAGE from the ARC's address with %.60s: %d, want %d", c.body, code, c.want)
		}
	}
	got := arc.received()
	if len(got) < 4 || !strings.Contains(got[1], "<cid>1234</cid>") || !strings.Contains(got[1], "<stt>Contact ID 1130 group 01 zone 015</stt>") {
		t.Fatalf("ARC received %d messages; the authenticated <mrq>:\n%v", len(got), got)
	}
}

// rawMessage sends a SCAIP MESSAGE from a fresh socket on 127.0.0.1 to the
// engine at addr and returns the status of the answer.
func rawMessage(t *testing.T, addr, body string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	me := c.LocalAddr().String()
	msg := "MESSAGE sip:edgebridge@" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + me + ";branch=z9hG4bKraw" + strconv.Itoa(len(body)) + "\r\n" +
		"From: <sip:arc@" + me + ">;tag=raw\r\nTo: <sip:edgebridge@" + addr + ">\r\n" +
		"Call-ID: raw-" + strconv.Itoa(len(body)) + "\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n" +
		"Content-Type: application/scaip+xml\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	if _, err := c.WriteTo([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	var code int
	if _, err := fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code); err != nil {
		t.Fatalf("not a response: %q", buf[:n])
	}
	return code
}

// TestSCAIPDeliveryRefusedGoesToDeadLetters: snu 3 (wrong content) cannot
// change by resending: the event is a dead letter, not retried forever.
func TestSCAIPDeliveryRefusedGoesToDeadLetters(t *testing.T) {
	wd := t.TempDir()
	arc := startSIPp(t, wd, true, "-sf", sippScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "0", "CHALLENGE", "no", "AUTH_USER", "x", "AUTH_PASS", "x", "SNU", "3"), "-m", "1")
	mapper := &alarm.EventMapper{ID: "arc", AlarmHandling: alarm.HandlingDrop, TargetEndpoint: alarm.TargetEndpoint{
		Protocol: "scaip", DestAddr: "sip:arc@127.0.0.1:" + strconv.Itoa(arc.port)}}
	sg := newSCAIPGateway(t, mapper, time.Second)
	if err := sg.dl.Enqueue(context.Background(), contactIDEvent("ev-refused-1")); err != nil {
		t.Fatal(err)
	}
	st := sg.waitStats(t, "the event in the dead letters", func(s delivery.Stats) bool { return s.Dead == 1 && s.Queued == 0 })
	if st.Delivered != 0 {
		t.Fatalf("stats %+v: a refused event counted as delivered", st)
	}
	if err := arc.wait(10 * time.Second); err != nil {
		t.Fatalf("sipp ARC: %v\n%s", err, arc.report())
	}
	if n := len(arc.received()); n != 2 { // the <mrq> and the 200 to the <mrs>
		t.Fatalf("ARC received %d messages, want 2 (no resend after snu 3)", n)
	}
}

// TestSCAIPDestinationMonitoring: with enableDestinationMonitoring the ARC
// path is probed with SCAIP heartbeats (PI) before any alarm; the ARC's
// <mrs> snu 0 marks the path up.
func TestSCAIPDestinationMonitoring(t *testing.T) {
	wd := t.TempDir()
	arc := startSIPp(t, wd, true, "-sf", sippScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "0", "CHALLENGE", "no", "AUTH_USER", "x", "AUTH_PASS", "x", "SNU", "0"), "-m", "100")
	mapper := &alarm.EventMapper{ID: "arc", AlarmHandling: alarm.HandlingDrop, EnableDestinationMonitoring: true,
		TargetEndpoint: alarm.TargetEndpoint{Protocol: "scaip", DestAddr: "sip:arc@127.0.0.1:" + strconv.Itoa(arc.port)}}
	sg := newSCAIPGateway(t, mapper, time.Second, delivery.WithMonitorInterval(200*time.Millisecond))
	r, err := delivery.MapperRoute("local", mapper)
	if err != nil {
		t.Fatal(err)
	}
	if err := sg.dl.Watch(r); err != nil {
		t.Fatal(err)
	}
	// Two probes answered: the ARC took the first one's 200 to its <mrs>.
	deadline := time.Now().Add(10 * time.Second)
	var rx []string
	for rx = arc.received(); len(rx) < 3 && time.Now().Before(deadline); rx = arc.received() {
		time.Sleep(20 * time.Millisecond)
	}
	if len(rx) < 3 || !strings.Contains(rx[0], "<mty>PI</mty>") || !strings.Contains(rx[0], "Content-Type: application/scaip+xml") ||
		!strings.Contains(rx[1], "\nSIP/2.0 200 OK") || !strings.Contains(rx[2], "<mty>PI</mty>") {
		t.Fatalf("ARC received %d messages, want PI, the 200 to its <mrs>, PI:\n%v", len(rx), rx)
	}
	st := sg.dl.Stats()
	if len(st.Destinations) != 1 || !st.Destinations[0].PrimaryUp || st.Supervision != 0 || st.Received != 0 {
		t.Fatalf("after answered probes: %+v", st)
	}
}

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
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", "33200-33299")
	provision(t, d, key,
		[2]string{"/provisioning/device/local", `{"deviceId":"4711","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/device/local", `{"deviceId":"4712","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"units","name":"units","protocol":"scaip","protocolMode":"dtmf","destinationMatch":"^scaip$","callbackBaseUrl":"` + cb.URL + `"}`})

	for _, tr := range []string{"u1", "t1"} {
		if mrs := scaipUnit(t, d, tr, "4711", "r4711"+tr, "ME"); !strings.Contains(mrs, "<mre>0</mre><hbi>5</hbi>") {
			t.Fatalf("%s: <mrs> without mre 0 and hbi 5 (defaultHeartbeatInterval 300000 ms):\n%s", tr, mrs)
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	time.Sleep(200 * time.Millisecond) // a queued event reaches the callback within milliseconds
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
	unit := startSIPp(t, wd, false, d.sipAddr(t), "-t", transport, "-sf", sippScenario(t, wd, "scaip_unit.xml", repl...),
		"-oocsf", sippScenario(t, wd, "scaip_unit_ooc.xml", repl...), "-s", "scaip", "-m", "1")
	if err := unit.wait(15 * time.Second); err != nil {
		t.Fatalf("%s: sipp unit: %v\n%s\ndaemon:\n%s", via, err, unit.report(), d.log())
	}
	// SIPp does not fail a call over its out-of-call part: check it here.
	if strings.Contains(unit.logs("*errors.log"), "Failed regexp") {
		t.Fatalf("%s: the unit's check of the <mrs> failed:\n%s", via, unit.report())
	}
	var mrs string
	for _, m := range unit.received() {
		if strings.Contains(m, "\nMESSAGE sip:"+cid+"@127.0.0.1:"+strconv.Itoa(unit.port)+uri+" SIP/2.0") {
			mrs = m
		}
	}
	if !strings.Contains(mrs, "<ref>"+ref+"</ref><snu>0</snu>") || !strings.Contains(mrs, "Content-Type: application/scaip+xml") {
		t.Fatalf("%s: the unit got no <mrs> snu 0 for %s at its source address:\n%s", via, ref, strings.Join(unit.received(), "\n"))
	}
	if msgs := unit.logs("*messages.log"); !regexp.MustCompile(`SIP/2.0 200 OK\r?\nVia: SIP/2.0/` + via + ` ` + regexp.QuoteMeta(d.sipAddr(t))).MatchString(msgs) {
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
	arc := startSIPp(t, wd, true, "-sf", sippScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "0", "CHALLENGE", "no", "AUTH_USER", "x", "AUTH_PASS", "x", "SNU", "0"), "-m", "1")

	const key = "scaip-admin-key-0123456789"
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--rtp-ports", "33300-33399")
	provision(t, d, key,
		[2]string{"/provisioning/device/local", `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"scaip","destAddr":"sip:arc@127.0.0.1:` + strconv.Itoa(arc.port) + `"}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`})

	var out, errb bytes.Buffer
	if code := run([]string{"simulate", "--to", "sip:5551@" + d.sipAddr(t), "--event", "1234,1,130,01,015", "--calls", "1"}, &out, &errb); code != 0 {
		t.Fatalf("simulate exit %d\n%s%s\ndaemon:\n%s", code, out.String(), errb.String(), d.log())
	}
	if err := arc.wait(15 * time.Second); err != nil {
		t.Fatalf("sipp ARC: %v\n%s\ndaemon:\n%s", err, arc.report(), d.log())
	}
	rx := arc.received()
	if len(rx) != 2 {
		t.Fatalf("ARC received %d messages, want the <mrq> and the 200 to its <mrs>:\n%v", len(rx), rx)
	}
	for _, want := range []string{"Content-Type: application/scaip+xml", "<mty>ME</mty>", "<cid>1234</cid>", "<dty>0000</dty>",
		"<stt>Contact ID 1130 group 01 zone 015</stt>", "From: <sip:edgebridge@" + d.sipAddr(t) + ">"} {
		if !strings.Contains(rx[0], want) {
			t.Fatalf("the ARC's <mrq> lacks %q:\n%s", want, rx[0])
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, d, key, "edgebridge_alarms_delivered_total") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not counted as delivered\ndaemon:\n%s", d.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if q := metricValue(t, d, key, "edgebridge_alarms_queued"); q != 0 {
		t.Fatalf("%v events still queued after the ARC's snu 0", q)
	}
	// Both MESSAGEs are in the SIP log like any other message.
	want := []string{`"requestUri":"sip:arc@127.0.0.1:` + strconv.Itoa(arc.port) + `"`, `"requestUri":"sip:edgebridge@` + d.sipAddr(t) + `"`, `"method":"MESSAGE"`}
	deadline = time.Now().Add(3 * time.Second)
	for {
		_, body, err := d.req(key, "POST", "/provisioning/logs/local/sip", `{"filterPattern":"scaip","limit":50}`)
		if err == nil && strings.Contains(body, want[0]) && strings.Contains(body, want[1]) && strings.Contains(body, want[2]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIP log lacks %q:\n%s", want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
