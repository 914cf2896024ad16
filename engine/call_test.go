package engine

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// inDialog sends a request inside the dialog the 200 OK res set up.
func (p *peer) inDialog(res *sip.Response, method string, cseq int, extra, body string) {
	p.t.Helper()
	msg := method + " sip:" + p.to.String() + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + method + strconv.Itoa(cseq) + "\n" +
		"From: " + res.From().Value() + "\n" +
		"To: " + res.To().Value() + "\n" +
		"Call-ID: " + res.CallID().Value() + "\n" +
		"CSeq: " + strconv.Itoa(cseq) + " " + method + "\n" +
		"Contact: <sip:100@" + p.addr() + ">\nMax-Forwards: 70\n" + extra
	body = strings.ReplaceAll(body, "\n", "\r\n")
	if body != "" {
		msg += "Content-Type: application/sdp\n"
	}
	msg += "Content-Length: " + strconv.Itoa(len(body)) + "\n\n"
	msg = strings.ReplaceAll(msg, "\n", "\r\n") + body
	if _, err := p.conn.WriteTo([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	started := make(chan *Call, 1)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/slow", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		started <- c
		<-ctx.Done() // never answers
	})))
	p := newPeer(t, e)
	p.invite("777", "cancel-1", "")
	c := <-started
	p.send(`
CANCEL sip:777@` + e.Addr() + ` SIP/2.0
Via: SIP/2.0/UDP ` + p.addr() + `;branch=z9hG4bKcancel-1
From: <sip:100@127.0.0.1>;tag=tcancel-1
To: <sip:777@` + e.Addr() + `>
Call-ID: cancel-1
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

`)
	codes := map[int]bool{}
	for !codes[487] {
		res := p.recv(false)
		codes[res.StatusCode] = true
		if res.StatusCode == 487 {
			p.ack(res)
		}
	}
	if !codes[200] {
		t.Fatalf("CANCEL not answered 200 (got %v)", codes)
	}
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("call not ended by CANCEL")
	}
	if c.Cause() != CauseCancelled {
		t.Fatalf("cause %q, want cancelled", c.Cause())
	}
}

func answeredCall(t *testing.T, e *Engine, p *peer, user, callID, extra string) *sip.Response {
	t.Helper()
	p.invite(user, callID, extra)
	res := p.recv(false)
	if res.StatusCode != 200 {
		t.Fatalf("INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	p.ackOK(res, user)
	return res
}

// ackOK acknowledges the 200 OK res to an INVITE for user.
func (p *peer) ackOK(res *sip.Response, user string) {
	p.t.Helper()
	p.send("ACK sip:" + user + "@" + p.to.String() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKack" + res.CallID().Value() +
		"\nFrom: " + res.From().Value() + "\nTo: " + res.To().Value() + "\nCall-ID: " + res.CallID().Value() +
		"\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n")
}

func TestHoldByReInviteAndSessionTimer(t *testing.T) {
	calls := make(chan *Call, 1)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/hold", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		if c.Answer() == nil {
			calls <- c
			<-ctx.Done()
		}
	})))
	p := newPeer(t, e)
	res := answeredCall(t, e, p, "800", "hold-1", "Supported: timer\nSession-Expires: 120;refresher=uac\n")
	if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "120;refresher=uac" || res.GetHeader("Require") == nil {
		t.Fatalf("200 OK session timer headers: %v %v (RFC 4028 §9)", se, res.GetHeader("Require"))
	}
	c := <-calls
	if d := c.Negotiated().Direction; d != sdp.SendRecv {
		t.Fatalf("direction before hold %v", d)
	}
	hold := strings.Replace(testSDP, "a=rtpmap:101", "a=sendonly\na=rtpmap:101", 1)
	hold = strings.Replace(hold, "o=- 1 1", "o=- 1 2", 1)
	p.inDialog(res, "INVITE", 2, "", hold)
	r2 := p.recv(false)
	if r2.StatusCode != 200 || !strings.Contains(string(r2.Body()), "a=recvonly") {
		t.Fatalf("hold re-INVITE: %d\n%s", r2.StatusCode, r2.Body())
	}
	if d := c.Negotiated().Direction; d != sdp.RecvOnly {
		t.Fatalf("direction on hold %v, want recvonly", d)
	}
	p.inDialog(res, "BYE", 3, "", "")
	if r := p.recv(false); r.StatusCode != 200 {
		t.Fatalf("BYE: %d", r.StatusCode)
	}
	<-c.Done()

	// Below Min-SE: 422 with our minimum (RFC 4028 §8.1).
	p.invite("801", "se-small", "Supported: timer\nSession-Expires: 30\n")
	r := p.recv(false)
	p.ack(r)
	if r.StatusCode != 422 || r.GetHeader("Min-SE") == nil || r.GetHeader("Min-SE").Value() != "90" {
		t.Fatalf("Session-Expires 30: %d %v, want 422 with Min-SE 90", r.StatusCode, r.GetHeader("Min-SE"))
	}
}

func TestRTPTimeoutHangsUpWithReason(t *testing.T) {
	calls := make(chan *Call, 1)
	re, _ := CompileMatch("/.*/")
	e := startEngine(t, WithDirectory(trustedLoopback(t)), WithRoutes(RouteSourceFunc(func(string) []Route {
		return []Route{{Name: "alarmbridge/t", Match: re, RTPTimeout: 700 * time.Millisecond, Handler: CallHandlerFunc(func(ctx context.Context, c *Call) {
			if c.Answer() == nil {
				calls <- c
				<-ctx.Done()
			}
		})}}
	})))
	p := newPeer(t, e)
	answeredCall(t, e, p, "900", "rtp-to", "")
	c := <-calls
	bye := p.recvRequest("BYE", 5*time.Second)
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "RTP timeout") {
		t.Fatalf("BYE after RTP timeout without Reason: %v", r)
	}
	p.okTo(bye)
	<-c.Done()
	if c.Cause() != CauseRTPTimeout {
		t.Fatalf("cause %q, want rtp-timeout", c.Cause())
	}
}

func TestUnsupportedCodecGets488(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/x", "2833", answerAndWait))
	p := newPeer(t, e)
	body := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
	p.send("INVITE sip:1@" + p.to.String() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKg729\nFrom: <sip:100@127.0.0.1>;tag=g\nTo: <sip:1@" +
		p.to.String() + ">\nCall-ID: g729\nCSeq: 1 INVITE\nContact: <sip:100@" + p.addr() + ">\nContent-Type: application/sdp\nContent-Length: " +
		strconv.Itoa(len(body)) + "\n\n" + strings.ReplaceAll(body, "\r\n", "\n"))
	res := p.recv(false)
	p.ack(res)
	if res.StatusCode != 488 || res.GetHeader("Warning") == nil || !strings.Contains(res.GetHeader("Warning").Value(), "G729") {
		t.Fatalf("G.729-only offer: %d, Warning %v; want 488 naming what was offered", res.StatusCode, res.GetHeader("Warning"))
	}
}

func TestCallToRegisteredDevice(t *testing.T) {
	wd := t.TempDir()
	uas := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	e := startEngine(t, WithDirectory(trustedLoopback(t, "200")))
	// The device registers with SIPp's address as its Contact (trusted loopback).
	p := newPeer(t, e)
	p.send("REGISTER sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKdev\nFrom: <sip:200@127.0.0.1>;tag=d\nTo: <sip:200@127.0.0.1>\nCall-ID: dev-reg\nCSeq: 1 REGISTER\nContact: <sip:200@127.0.0.1:" +
		strconv.Itoa(uas.Port) + ">\nExpires: 600\nContent-Length: 0\n\n")
	if res := p.recv(false); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	caller := newPeer(t, e)
	res := answeredCall(t, e, caller, "200", "to-device", "")
	if !strings.Contains(string(res.Body()), "m=audio") {
		t.Fatalf("200 OK without SDP:\n%s", res.Body())
	}
	caller.inDialog(res, "BYE", 2, "", "")
	if r := caller.recv(false); r.StatusCode != 200 {
		t.Fatalf("BYE: %d", r.StatusCode)
	}
	if err := uas.Wait(10 * time.Second); err != nil {
		t.Fatalf("the registered device (SIPp uas) did not see the whole call: %v\n%s", err, uas.Report())
	}
}

// okTo answers a request from the engine with 200 OK.
func (p *peer) okTo(req *sip.Request) {
	p.t.Helper()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if _, err := p.conn.WriteTo([]byte(res.String()), p.to); err != nil {
		p.t.Fatal(err)
	}
}

func TestInboundFromTrunkHonoursDIDsAndLimit(t *testing.T) {
	calls := make(chan *Call, 4)
	p0 := testkit.FreeUDP(t)
	off := false
	dir := NewStaticDirectory()
	dir.SetTrunks(testDomain, []Trunk{{TrunkID: "in", DestinationTarget: "127.0.0.1:" + strconv.Itoa(p0), DestinationTransport: "udp",
		DestinationMatch: "/^00/", SourceNetworks: []string{"127.0.0.0/8"}, DIDNumbers: "5000-5009", Concurrency: 1, KeepAlive: &off}})
	e := startEngine(t, WithDirectory(dir), routeAll("alarmbridge/did", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		if c.Answer() == nil {
			calls <- c
			<-ctx.Done()
		}
	})))
	testkit.WaitFor(t, "trunk", 2*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
	p := newPeer(t, e)
	// From the trunk's network no digest is asked, even with loopback untrusted.
	res := answeredCall(t, e, p, "5001", "did-1", "")
	c := <-calls
	if c.Trunk != "in" {
		t.Fatalf("call not attributed to the trunk: %q", c.Trunk)
	}
	p2 := newPeer(t, e)
	p2.invite("5002", "did-2", "")
	if r := p2.recv(false); r.StatusCode != 503 {
		t.Fatalf("second call over concurrency 1: %d, want 503", r.StatusCode)
	} else {
		p2.ack(r)
	}
	p3 := newPeer(t, e)
	p3.invite("6000", "did-3", "")
	if r := p3.recv(false); r.StatusCode != 404 {
		t.Fatalf("call to a number outside the DIDs: %d, want 404", r.StatusCode)
	} else {
		p3.ack(r)
	}
	p.inDialog(res, "BYE", 2, "", "")
	p.recv(false)
}

// shortTimers lets a test run RFC 4028 timers in seconds.
func shortTimers(t *testing.T) {
	old := minSE
	minSE = time.Second
	t.Cleanup(func() { minSE = old })
}

func TestSessionTimerExpiresWithoutRefresh(t *testing.T) {
	shortTimers(t)
	calls := make(chan *Call, 1)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/st", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		if c.Answer() == nil {
			calls <- c
			<-ctx.Done()
		}
	})))
	p := newPeer(t, e)
	answeredCall(t, e, p, "810", "st-exp", "Supported: timer\nSession-Expires: 3;refresher=uac\n")
	c := <-calls
	start := time.Now()
	bye := p.recvRequest("BYE", 6*time.Second)
	p.okTo(bye)
	// RFC 4028 §10: the BYE comes before the interval is over.
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("BYE after %v, past the 3 s session interval", el)
	}
	if r := bye.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "session expired") {
		t.Fatalf("BYE Reason %v", r)
	}
	<-c.Done()
	if c.Cause() != CauseSessionExp {
		t.Fatalf("cause %q", c.Cause())
	}
}

func TestSessionTimerRefreshedByEngineAsUAS(t *testing.T) {
	shortTimers(t)
	calls := make(chan *Call, 1)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/st2", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		if c.Answer() == nil {
			calls <- c
			<-ctx.Done()
		}
	})))
	p := newPeer(t, e)
	// Session-Expires without Supported: timer: the UAS must refresh (§9).
	res := answeredCall(t, e, p, "811", "st-ref", "Session-Expires: 4\n")
	if se := res.GetHeader("Session-Expires"); se == nil || se.Value() != "4;refresher=uas" {
		t.Fatalf("200 OK Session-Expires %v, want 4;refresher=uas", se)
	}
	c := <-calls
	re := p.recvRequest("INVITE", 5*time.Second)
	if !strings.Contains(string(re.Body()), "m=audio") || re.CSeq().SeqNo < 1 {
		t.Fatalf("refresh re-INVITE without our SDP:\n%s", re.Body())
	}
	ok := sip.NewResponseFromRequest(re, 200, "OK", []byte(testSDP))
	ok.To().Params.Add("tag", "t"+"st-ref")
	if _, err := p.conn.WriteTo([]byte(ok.String()), p.to); err != nil {
		t.Fatal(err)
	}
	p.recvRequest("ACK", 3*time.Second)
	select {
	case <-c.Done():
		t.Fatalf("call ended (%s) although refreshed", c.Cause())
	case <-time.After(500 * time.Millisecond):
	}
	p.inDialog(res, "BYE", 2, "", "")
	<-c.Done()
}

func TestLateOfferAnsweredInACK(t *testing.T) {
	calls := make(chan *Call, 1)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/late", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		if c.Answer() == nil {
			calls <- c
			<-ctx.Done()
		}
	})))
	p := newPeer(t, e)
	h := p.to.String()
	p.send("INVITE sip:820@" + h + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKlate\nFrom: <sip:100@127.0.0.1>;tag=late\nTo: <sip:820@" + h +
		">\nCall-ID: late-1\nCSeq: 1 INVITE\nContact: <sip:100@" + p.addr() + ">\nMax-Forwards: 70\nContent-Length: 0\n\n")
	res := p.recv(false)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=rtpmap:8 PCMA/8000") {
		t.Fatalf("INVITE without SDP: %d, want 200 carrying our offer:\n%s", res.StatusCode, res.Body())
	}
	body := strings.ReplaceAll(strings.Replace(testSDP, "RTP/AVP 8 101", "RTP/AVP 0", 1), "\n", "\r\n")
	body = strings.Replace(body, "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n", "a=rtpmap:0 PCMU/8000\r\n", 1)
	msg := strings.ReplaceAll("ACK sip:820@"+h+" SIP/2.0\nVia: SIP/2.0/UDP "+p.addr()+";branch=z9hG4bKlateack\nFrom: "+res.From().Value()+"\nTo: "+res.To().Value()+
		"\nCall-ID: late-1\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Type: application/sdp\nContent-Length: "+strconv.Itoa(len(body))+"\n\n", "\n", "\r\n") + body
	p.conn.WriteTo([]byte(msg), p.to)
	c := <-calls
	testkit.WaitFor(t, "answer from the ACK applied", 2*time.Second, func() bool { return c.Negotiated().Codec == "PCMU" })
	p.inDialog(res, "BYE", 2, "", "")
	<-c.Done()
}

func TestOutboundTrunkRefusalsCarryTheirCode(t *testing.T) {
	off := false
	dir := NewStaticDirectory()
	dir.SetTrunks(testDomain, []Trunk{{TrunkID: "full", DestinationTarget: "127.0.0.1:9", DestinationTransport: "udp",
		DestinationMatch: "/^00/", BlacklistPattern: "/^00900/", Concurrency: 1, KeepAlive: &off}})
	dir.SetTrusted(testDomain, "127.0.0.1/32")
	e := startEngine(t, WithDirectory(dir))
	testkit.WaitFor(t, "trunk", 2*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
	p := newPeer(t, e)
	p.invite("00900123", "bl-1", "")
	if r := p.recv(false); r.StatusCode != 403 || !strings.Contains(r.GetHeader("Reason").Value(), "blacklistPattern") {
		t.Fatalf("blacklisted destination: %d %v, want 403 naming blacklistPattern", r.StatusCode, r.GetHeader("Reason"))
	} else {
		p.ack(r)
	}
	e.trunks.mu.RLock()
	tr := e.trunks.trunks[testDomain][0]
	e.trunks.mu.RUnlock()
	tr.acquire() // the one call the trunk allows is up
	p.invite("0046123", "full-1", "")
	if r := p.recv(false); r.StatusCode != 503 || r.GetHeader("Retry-After") == nil {
		t.Fatalf("trunk at its limit: %d, want 503 with Retry-After", r.StatusCode)
	} else {
		p.ack(r)
	}
	tr.release()
}

// TestCallToDeviceBehindNAT: the device registered a Contact it cannot be
// reached at (a private address); the INVITE, the ACK and the BYE all go to
// the address its REGISTER came from.
func TestCallToDeviceBehindNAT(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t, "300")))
	dev := newPeer(t, e)
	dev.send("REGISTER sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP 10.99.99.99:5060;branch=z9hG4bKnat;rport\nFrom: <sip:300@127.0.0.1>;tag=n\nTo: <sip:300@127.0.0.1>\nCall-ID: nat-reg\nCSeq: 1 REGISTER\nContact: <sip:300@10.99.99.99:5060>\nExpires: 600\nContent-Length: 0\n\n")
	if res := dev.recv(false); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	caller := newPeer(t, e)
	caller.invite("300", "nat-call", "")
	inv := dev.recvRequest("INVITE", 5*time.Second)
	ok := sip.NewResponseFromRequest(inv, 200, "OK", []byte(strings.ReplaceAll(testSDP, "\n", "\r\n")))
	ok.To().Params.Add("tag", "devtag")
	ok.AppendHeader(sip.NewHeader("Contact", "<sip:300@10.99.99.99:5060>"))
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if _, err := dev.conn.WriteTo([]byte(ok.String()), dev.to); err != nil {
		t.Fatal(err)
	}
	dev.recvRequest("ACK", 5*time.Second)
	res := caller.recv(false)
	if res.StatusCode != 200 {
		t.Fatalf("caller got %d", res.StatusCode)
	}
	caller.send("ACK sip:300@" + caller.to.String() + " SIP/2.0\nVia: SIP/2.0/UDP " + caller.addr() + ";branch=z9hG4bKnatack\nFrom: " + res.From().Value() +
		"\nTo: " + res.To().Value() + "\nCall-ID: nat-call\nCSeq: 1 ACK\nContent-Length: 0\n\n")
	caller.inDialog(res, "BYE", 2, "", "")
	bye := dev.recvRequest("BYE", 5*time.Second)
	dev.okTo(bye)
	testkit.WaitFor(t, "calls to end", 3*time.Second, func() bool { return e.Calls() == 0 })
}

// TestCloseIsPromptWithSilentPeers: calls whose far end never answers the
// BYE still let Close return well within serve's 2 s shutdown budget.
func TestCloseIsPromptWithSilentPeers(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/hold", "2833", answerAndWait))
	for i := range 3 {
		p := newPeer(t, e)
		answeredCall(t, e, p, "900", "silent-"+strconv.Itoa(i), "")
	}
	testkit.WaitFor(t, "3 calls up", time.Second, func() bool { return e.Calls() == 3 })
	start := time.Now()
	e.Close()
	if el := time.Since(start); el > 1800*time.Millisecond {
		t.Fatalf("Close took %v with 3 calls up", el)
	}
}
