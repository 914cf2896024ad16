package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

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
	g := &Gateway{log: log}
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
	lo, hi := testkit.PortRange(t, 100)
	sg.eng, err = engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "local", RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(log), engOpt,
		// Loopback untrusted: the SIPp ARC's <mrs> gets in only as an
		// awaited answer, as from an ARC out on the network.
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
	arc := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "1", "CHALLENGE", "yes", "AUTH_USER", "gw", "AUTH_PASS", "arcpw", "SNU", "0"), "-m", "2")
	mapper := &alarm.EventMapper{ID: "arc", AlarmHandling: alarm.HandlingDrop, TargetEndpoint: alarm.TargetEndpoint{
		Protocol: "scaip", DestAddr: "sip:arc@127.0.0.1:" + strconv.Itoa(arc.Port), SipAuthUser: "gw", SipAuthPassword: "arcpw"}}
	const hold = 400 * time.Millisecond
	sg := newSCAIPGateway(t, mapper, hold)

	if err := sg.dl.Enqueue(context.Background(), contactIDEvent("ev-hold-1")); err != nil {
		t.Fatal(err)
	}
	st := sg.waitStats(t, "the event delivered", func(s delivery.Stats) bool { return s.Delivered == 1 && s.Queued == 0 })
	if st.Retries != 0 || st.Dead != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v: the hold must be waited out inside one attempt", st)
	}
	if err := arc.Wait(10 * time.Second); err != nil {
		t.Fatalf("sipp ARC: %v\n%s", err, arc.Report())
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
	got := arc.Received()
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
	arc := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "0", "CHALLENGE", "no", "AUTH_USER", "x", "AUTH_PASS", "x", "SNU", "3"), "-m", "1")
	mapper := &alarm.EventMapper{ID: "arc", AlarmHandling: alarm.HandlingDrop, TargetEndpoint: alarm.TargetEndpoint{
		Protocol: "scaip", DestAddr: "sip:arc@127.0.0.1:" + strconv.Itoa(arc.Port)}}
	sg := newSCAIPGateway(t, mapper, time.Second)
	if err := sg.dl.Enqueue(context.Background(), contactIDEvent("ev-refused-1")); err != nil {
		t.Fatal(err)
	}
	st := sg.waitStats(t, "the event in the dead letters", func(s delivery.Stats) bool { return s.Dead == 1 && s.Queued == 0 })
	if st.Delivered != 0 {
		t.Fatalf("stats %+v: a refused event counted as delivered", st)
	}
	if err := arc.Wait(10 * time.Second); err != nil {
		t.Fatalf("sipp ARC: %v\n%s", err, arc.Report())
	}
	if n := len(arc.Received()); n != 2 { // the <mrq> and the 200 to the <mrs>
		t.Fatalf("ARC received %d messages, want 2 (no resend after snu 3)", n)
	}
}

// TestSCAIPDestinationMonitoring: with enableDestinationMonitoring the ARC
// path is probed with SCAIP heartbeats (PI) before any alarm; the ARC's
// <mrs> snu 0 marks the path up.
func TestSCAIPDestinationMonitoring(t *testing.T) {
	wd := t.TempDir()
	arc := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "scaip_arc.xml",
		"HOLDS", "0", "CHALLENGE", "no", "AUTH_USER", "x", "AUTH_PASS", "x", "SNU", "0"), "-m", "100")
	mapper := &alarm.EventMapper{ID: "arc", AlarmHandling: alarm.HandlingDrop, EnableDestinationMonitoring: true,
		TargetEndpoint: alarm.TargetEndpoint{Protocol: "scaip", DestAddr: "sip:arc@127.0.0.1:" + strconv.Itoa(arc.Port)}}
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
	for rx = arc.Received(); len(rx) < 3 && time.Now().Before(deadline); rx = arc.Received() {
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
