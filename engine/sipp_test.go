package engine

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// host:port of the engine as SIPp's remote host argument.
func target(e *Engine) string { return e.Addr() }

func TestSIPpRegistersWithDigest(t *testing.T) {
	dir := NewStaticDirectory()
	ha1, _ := HA1("MD5", "panel1", testDomain, "pw1")
	dir.PutDevice(testDomain, Device{DeviceID: "panel1", AuthType: "credentials", HA1: ha1})
	e := startEngine(t, WithDirectory(dir))
	wd := t.TempDir()
	sc := testkit.SIPpScenario(t, wd, "register_digest.xml")
	s := testkit.StartSIPp(t, wd, false, target(e), "-sf", sc, "-s", "panel1", "-au", "panel1", "-ap", "pw1", "-m", "1")
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	bs := e.Bindings(testDomain, "panel1")
	if len(bs) != 1 || !strings.Contains(bs[0].Contact, ":"+strconv.Itoa(s.Port)) || bs[0].UserAgent != "SIPp" {
		t.Fatalf("binding %+v, want SIPp's contact on port %d", bs, s.Port)
	}

	// The wrong password gets no binding: SIPp sees 401 again and fails.
	s2 := testkit.StartSIPp(t, wd, false, target(e), "-sf", sc, "-s", "panel1", "-au", "panel1", "-ap", "nope", "-m", "1", "-recv_timeout", "3s")
	if err := s2.Wait(20 * time.Second); err == nil {
		t.Fatalf("sipp registered with a wrong password\n%s", s2.Report())
	}
	if got := e.Stats().AuthFailures; got < 1 {
		t.Fatalf("auth failures %d, want >= 1", got)
	}
}

// digitHandler answers and collects the keys heard until the caller hangs up.
type digitHandler struct {
	mu     sync.Mutex
	keys   []byte
	calls  []*Call
	answer error
}

func (h *digitHandler) HandleCall(ctx context.Context, c *Call) {
	h.mu.Lock()
	h.calls = append(h.calls, c)
	h.mu.Unlock()
	if err := c.Answer(); err != nil {
		h.mu.Lock()
		h.answer = err
		h.mu.Unlock()
		return
	}
	s := c.Session()
	digits := s.Digits()
	pcm := make([]int16, 160)
	for {
		if err := s.ReadFrame(pcm); err != nil {
			return
		}
		_ = s.WriteFrame(make([]int16, 160))
		for more := true; more && digits != nil; {
			select {
			case ev := <-digits:
				h.mu.Lock()
				h.keys = append(h.keys, ev.Key)
				h.mu.Unlock()
			default:
				more = false
			}
		}
	}
}

func (h *digitHandler) got() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return string(h.keys)
}

func routeAll(name, dtmf string, h CallHandler) Option {
	re, _ := CompileMatch("/.*/")
	return WithRoutes(RouteSourceFunc(func(domain string) []Route {
		return []Route{{Name: name, Match: re, Handler: h, DTMF: dtmf, DataMode: true}}
	}))
}

func TestSIPpCallWithRFC4733(t *testing.T) {
	db := openStore(t)
	h := &digitHandler{}
	e := startEngine(t, WithDirectory(trustedLoopback(t)), WithStore(db), routeAll("alarmbridge/ab1", "2833", h))
	wd := t.TempDir()
	sc := testkit.SIPpScenario(t, wd, "uac_pcap.xml", "PCAP_FILE", "/usr/share/sip-tester/dtmf_2833_1.pcap", "PAUSE_MS", "1500")
	s := testkit.StartSIPp(t, wd, false, target(e), "-sf", sc, "-s", "5551", "-m", "1")
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	testkit.WaitFor(t, "the call to end", 3*time.Second, func() bool { return e.Calls() == 0 })
	if got := h.got(); got != "1" {
		t.Fatalf("digits heard %q, want \"1\" (RFC 4733 event from dtmf_2833_1.pcap)", got)
	}
	c := h.calls[0]
	if c.Cause() != CauseRemoteBye || c.Called != "5551" || c.Caller != "1000" || c.Route != "alarmbridge/ab1" {
		t.Fatalf("call %+v ended %q", c, c.Cause())
	}
	if n := c.Negotiated(); n.Codec != "PCMA" || !n.Events || n.EventPT != 101 {
		t.Fatalf("negotiated %+v, want PCMA with telephone-event 101", n)
	}
	// The call record and the SIP log are in the store.
	testkit.WaitFor(t, "the call record", 3*time.Second, func() bool {
		r, err := db.Call(testDomain, c.ID)
		return err == nil && r.Result == "answered" && !r.End.IsZero() && r.Kind == "alarm"
	})
	e.FlushSIPLog()
	msgs, err := db.QuerySIP(testDomain, store.SIPQuery{CallID: c.ID, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, m := range msgs {
		seen = append(seen, m.Direction+" "+strings.SplitN(m.Raw, "\r\n", 2)[0])
	}
	joined := strings.Join(seen, "\n")
	for _, want := range []string{"in INVITE", "out SIP/2.0 100", "out SIP/2.0 200", "in ACK", "in BYE"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("SIP log of the call lacks %q:\n%s", want, joined)
		}
	}
	// The call exports as a pcap that tshark reads as SIP.
	pcapPath := filepath.Join(wd, "call.pcap")
	f, err := os.Create(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteCallPcap(f, testDomain, c.ID); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := testkit.TsharkCmd(t, "-r", pcapPath, "-Y", "sip", "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	// The tracer sees a write after it completed, so an answer and the
	// peer's next request may be logged either way round: compare as sets.
	got := strings.Fields(string(out))
	sort.Strings(got)
	if strings.Join(got, " ") != "100 200 200 ACK BYE INVITE" {
		t.Fatalf("tshark read the exported call as %q", got)
	}
}

func TestSIPpCallWithInbandDTMF(t *testing.T) {
	h := &digitHandler{}
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("alarmbridge/ab2", "inaudio", h))
	wd := t.TempDir()
	pcap := wd + "/inband.pcap"
	writeDTMFPcap(t, pcap, "159#")
	sc := testkit.SIPpScenario(t, wd, "uac_pcap.xml", "PCAP_FILE", pcap, "PAUSE_MS", "2500")
	s := testkit.StartSIPp(t, wd, false, target(e), "-sf", sc, "-s", "5552", "-m", "1")
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	testkit.WaitFor(t, "the call to end", 3*time.Second, func() bool { return e.Calls() == 0 })
	if got := h.got(); got != "159#" {
		t.Fatalf("in-band digits heard %q, want \"159#\"", got)
	}
}

func TestSIPpTrunkRegistersWithDigest(t *testing.T) {
	wd := t.TempDir()
	sc := testkit.SIPpScenario(t, wd, "trunk_registrar.xml")
	s := testkit.StartSIPp(t, wd, true, "-sf", sc, "-m", "1")
	off := false
	e := startEngine(t, WithDirectory(sippTrunk(s, Trunk{
		TrunkID: "up1", DestinationMatch: "/^00/", UserName: "gw", Realm: "trunk.test", Password: "trunkpw", KeepAlive: &off,
	})))
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp registrar: %v\n%s", err, s.Report())
	}
	testkit.WaitFor(t, "trunk registered", 3*time.Second, func() bool {
		st := e.TrunkStatus()
		return len(st) == 1 && st[0].Registered && st[0].Registration == "registered"
	})
}

func TestSIPpTrunkKeepAliveMarksUpAndDown(t *testing.T) {
	wd := t.TempDir()
	sc := testkit.SIPpScenario(t, wd, "options_uas.xml")
	s := testkit.StartSIPp(t, wd, true, "-sf", sc, "-m", "2")
	off := false
	e := startEngine(t, WithDirectory(sippTrunk(s, Trunk{
		TrunkID: "ka", DestinationMatch: "/^00/", Register: &off, KeepAliveInterval: 1,
	})))
	// SIPp answers two OPTIONS and exits; the next ones go unanswered.
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	if st := e.TrunkStatus(); len(st) != 1 || !st[0].Up {
		t.Fatalf("after answered keep-alives: %+v, want up", st)
	}
	testkit.WaitFor(t, "trunk down", 10*time.Second, func() bool { return !e.TrunkStatus()[0].Up })
	// A call for the trunk now gets 503.
	_, err := e.Dial(context.Background(), DialOptions{To: "00123"})
	if de, ok := err.(*DialError); !ok || de.Code != 503 {
		t.Fatalf("dial over a down trunk: %v, want 503", err)
	}
}

func TestSIPpOutboundThroughTrunk(t *testing.T) {
	wd := t.TempDir()
	uas := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	off := false
	e := startEngine(t, WithDirectory(sippTrunk(uas, Trunk{
		TrunkID: "out", DestinationMatch: "/^00/", DestinationRewrite: "/^00/+/", RewriteAnumber: "4687654321",
		KeepAlive: &off, Concurrency: 1, TrunksideCodec: "PCMA", LocalCodec: "PCMU", Transcode: true,
	})))
	testkit.WaitFor(t, "trunk loaded", 2*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
	uac := testkit.StartSIPp(t, wd, false, target(e), "-sn", "uac", "-s", "0046701234", "-m", "1", "-d", "1000")
	if err := uac.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp uac: %v\n%s", err, uac.Report())
	}
	if err := uas.Wait(10 * time.Second); err != nil {
		t.Fatalf("sipp uas: %v\n%s", err, uas.Report())
	}
	var invite string
	for _, m := range e.Messages("") {
		if m.Out && strings.HasPrefix(string(m.Data), "INVITE ") {
			invite = string(m.Data)
		}
	}
	if !strings.HasPrefix(invite, "INVITE sip:+46701234@127.0.0.1:"+strconv.Itoa(uas.Port)) || !strings.Contains(invite, "From: <sip:4687654321@") {
		t.Fatalf("trunk rules (destinationRewrite, rewriteAnumber) not applied to:\n%s", invite)
	}
	if !strings.Contains(invite, "RTP/AVP 8 101") || strings.Contains(invite, "PCMU") {
		t.Fatalf("trunk leg should offer only the trunksideCodec PCMA:\n%s", invite)
	}
	testkit.WaitFor(t, "calls cleared", 3*time.Second, func() bool { return e.Calls() == 0 && e.TrunkStatus()[0].ActiveCalls == 0 })
}

func TestSIPpBusyCalleeGets486WithReason(t *testing.T) {
	wd := t.TempDir()
	uas := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_busy.xml"), "-m", "1")
	off := false
	e := startEngine(t, WithDirectory(sippTrunk(uas, Trunk{
		TrunkID: "busy", DestinationMatch: "/^9/", KeepAlive: &off,
	})))
	testkit.WaitFor(t, "trunk loaded", 2*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
	p := newPeer(t, e)
	p.invite("9123", "busy-1", "")
	res := p.recv(false)
	if res.StatusCode != 486 {
		t.Fatalf("busy callee: %d, want 486", res.StatusCode)
	}
	p.ack(res)
	if r := res.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=486") {
		t.Fatalf("486 without Reason: %v", r)
	}
	if err := uas.Wait(10 * time.Second); err != nil {
		t.Fatalf("sipp uas: %v\n%s", err, uas.Report())
	}
}

func TestSIPpCallOverTCP(t *testing.T) {
	h := &digitHandler{}
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("alarmbridge/tcp", "2833", h))
	wd := t.TempDir()
	s := testkit.StartSIPp(t, wd, false, target(e), "-sn", "uac", "-t", "t1", "-s", "5553", "-m", "3", "-d", "300")
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp over TCP: %v\n%s", err, s.Report())
	}
	testkit.WaitFor(t, "calls to end", 3*time.Second, func() bool { return e.Calls() == 0 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) != 3 || h.calls[0].Transport != "TCP" || h.calls[2].Cause() != CauseRemoteBye {
		t.Fatalf("calls over TCP: %d, transport %q", len(h.calls), h.calls[0].Transport)
	}
	// The SIP log frames the TCP stream into whole messages.
	var seen []string
	for _, m := range e.Messages(h.calls[1].ID) {
		if m.Transport != "TCP" {
			t.Fatalf("message logged with transport %q", m.Transport)
		}
		seen = append(seen, strings.SplitN(string(m.Data), " ", 2)[0])
	}
	sort.Strings(seen)
	if strings.Join(seen, " ") != "ACK BYE INVITE SIP/2.0 SIP/2.0 SIP/2.0" {
		t.Fatalf("SIP log of a TCP call: %v", seen)
	}
}

// sippTrunk is a directory with the one trunk tr, reached over UDP at the
// SIPp s.
func sippTrunk(s *testkit.SIPp, tr Trunk) *StaticDirectory {
	tr.DestinationTarget = "127.0.0.1:" + strconv.Itoa(s.Port)
	tr.DestinationTransport = "udp"
	dir := NewStaticDirectory()
	dir.SetTrunks(testDomain, []Trunk{tr})
	dir.SetTrusted(testDomain, "127.0.0.1/32") // the SIPp caller plays a PBX
	return dir
}
