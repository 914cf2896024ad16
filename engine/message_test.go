package engine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// inbox collects the MESSAGEs an engine's handler receives.
type inbox struct {
	mu   sync.Mutex
	got  []string // "domain|from|content-type|body"
	kick chan struct{}
}

func newInbox() *inbox { return &inbox{kick: make(chan struct{}, 16)} }

func (b *inbox) handle(ctx context.Context, domain, from, ct string, body []byte) int {
	b.mu.Lock()
	b.got = append(b.got, domain+"|"+from+"|"+ct+"|"+string(body))
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return 200
}

func (b *inbox) wait(t *testing.T, n int) []string {
	t.Helper()
	end := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		if len(b.got) >= n {
			out := append([]string(nil), b.got...)
			b.mu.Unlock()
			return out
		}
		b.mu.Unlock()
		select {
		case <-b.kick:
		case <-end:
			t.Fatalf("timed out waiting for %d MESSAGEs, have %v", n, b.got)
		}
	}
}

const testMRQ = `<?xml version="1.0" encoding="UTF-8"?><mrq xmlns="http://www.hi.se/2012/XScaipXML"><ref>REFX</ref><cid>4711</cid><dty>0005</dty></mrq>`

// TestSendMessageDigestToSIPp: SIPp plays a SCAIP ARC that challenges the
// MESSAGE; the engine answers with digest, gets 200, and SIPp's own MESSAGE
// (the <mrs>) reaches the engine's handler. Every message is in the SIP log.
func TestSendMessageDigestToSIPp(t *testing.T) {
	ib := newInbox()
	var logMu sync.Mutex
	var logged []SIPMessage
	sink := SIPLogFunc(func(ms []SIPMessage) error {
		logMu.Lock()
		logged = append(logged, ms...)
		logMu.Unlock()
		return nil
	})
	e := startEngine(t, WithDirectory(trustedLoopback(t)), WithMessageHandler(ib.handle), WithSIPLog(sink))
	wd := t.TempDir()
	sc := testkit.SIPpScenario(t, wd, "scaip_arc.xml", "HOLDS", "0", "CHALLENGE", "yes", "AUTH_USER", "gw", "AUTH_PASS", "arcpw", "SNU", "0")
	s := testkit.StartSIPp(t, wd, true, "-sf", sc, "-m", "1")
	arc := "sip:arc@127.0.0.1:" + strconv.Itoa(s.Port)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := e.SendMessage(ctx, OutMessage{To: arc, From: "gw", ContentType: "application/scaip+xml",
		Body: []byte(strings.Replace(testMRQ, "REFX", "r77", 1)), Username: "gw", Password: "arcpw"})
	if err != nil || code != 200 {
		t.Fatalf("SendMessage: %d %v\n%s", code, err, s.Report())
	}
	got := ib.wait(t, 1)
	if !strings.Contains(got[0], "|arc|application/scaip+xml|") || !strings.Contains(got[0], "<ref>r77</ref><snu>0</snu>") {
		t.Fatalf("handler got %q, want SIPp's <mrs> for r77 from user arc", got[0])
	}
	if err := s.Wait(10 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	// What SIPp saw: From is the gateway's user at its SIP address (the ARC
	// answers there), the digest is for the Request-URI.
	msgs := s.Logs("*messages.log")
	if !strings.Contains(msgs, "From: <sip:gw@"+e.Addr()+">") {
		t.Fatalf("From is not sip:gw@%s:\n%s", e.Addr(), msgs)
	}
	if !strings.Contains(msgs, `username="gw"`) || !strings.Contains(msgs, `uri="`+arc+`"`) {
		t.Fatalf("no digest for gw on %s:\n%s", arc, msgs)
	}

	// Each direction in order (the tracer sees a write after it returns,
	// so a quick answer may be logged before the request that caused it).
	var out, in []string
	testkit.WaitFor(t, "the 200 to SIPp's MESSAGE in the SIP log", 3*time.Second, func() bool {
		e.FlushSIPLog()
		logMu.Lock()
		defer logMu.Unlock()
		out, in = out[:0], in[:0]
		for _, m := range logged {
			first, _, _ := bytes.Cut(m.Data, []byte("\r\n"))
			line := string(first)
			if bytes.Contains(m.Data, []byte("\r\nAuthorization: Digest ")) {
				line += " +digest"
			}
			if m.Out {
				out = append(out, line)
			} else {
				in = append(in, line)
			}
		}
		return len(out)+len(in) >= 6
	})
	wantOut := []string{"MESSAGE " + arc + " SIP/2.0", "MESSAGE " + arc + " SIP/2.0 +digest", "SIP/2.0 200 OK"}
	wantIn := []string{"SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK", "MESSAGE sip:gw@" + e.Addr() + " SIP/2.0"}
	if strings.Join(out, "\n") != strings.Join(wantOut, "\n") || strings.Join(in, "\n") != strings.Join(wantIn, "\n") {
		t.Fatalf("SIP log out:\n%s\nin:\n%s\nwant out:\n%s\nin:\n%s", strings.Join(out, "\n"), strings.Join(in, "\n"),
			strings.Join(wantOut, "\n"), strings.Join(wantIn, "\n"))
	}
}

// TestSendMessageWrongPasswordIsAStatus: a refused digest is the far end's
// final answer (403 from SIPp), not a transport error.
func TestSendMessageWrongPasswordIsAStatus(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t)))
	wd := t.TempDir()
	sc := testkit.SIPpScenario(t, wd, "scaip_arc.xml", "HOLDS", "0", "CHALLENGE", "yes", "AUTH_USER", "gw", "AUTH_PASS", "arcpw", "SNU", "0")
	s := testkit.StartSIPp(t, wd, true, "-sf", sc, "-m", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, err := e.SendMessage(ctx, OutMessage{To: "sip:arc@127.0.0.1:" + strconv.Itoa(s.Port), ContentType: "application/scaip+xml",
		Body: []byte(testMRQ), Username: "gw", Password: "wrong"})
	if err != nil || code != 403 {
		t.Fatalf("SendMessage with a wrong password: %d %v, want 403 and no error", code, err)
	}
}

// TestMessageReplyFollowsTheAnswer: a handler that answers a unit with a
// MESSAGE of its own at once (SCAIP <mrs>) must not overtake the 200 of
// the unit's request, and MessageReplyURI reaches the unit where it sent
// from.
func TestMessageReplyFollowsTheAnswer(t *testing.T) {
	var eng atomic.Pointer[Engine] // set once started; read by the handler
	replied := make(chan error, 1)
	h := func(ctx context.Context, domain, from, ct string, body []byte) int {
		to, ok := MessageReplyURI(ctx)
		if !ok {
			replied <- errors.New("no reply URI in the handler's ctx")
			return 200
		}
		go func() {
			code, err := eng.Load().SendMessage(ctx, OutMessage{To: to, Domain: domain, ContentType: ct, Body: []byte("<mrs>answer</mrs>")})
			if err == nil && code != 200 {
				err = errors.New("status " + strconv.Itoa(code))
			}
			replied <- err
		}()
		time.Sleep(50 * time.Millisecond) // give the reply every chance to overtake
		return 200
	}
	e := startEngine(t, WithDirectory(trustedLoopback(t)), WithMessageHandler(h))
	eng.Store(e)
	p := newPeer(t, e)
	p.send("MESSAGE sip:scaip@" + e.Addr() + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKm1\n" +
		"From: <sip:4711@127.0.0.1>;tag=u1\n" +
		"To: <sip:scaip@" + e.Addr() + ">\n" +
		"Call-ID: unit-m1\nCSeq: 1 MESSAGE\nMax-Forwards: 70\n" +
		"Content-Type: application/scaip+xml\nContent-Length: 11\n\n<mrq></mrq>")

	buf := make([]byte, 4096)
	read := func() *sip.Request {
		t.Helper()
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			t.Fatal(err)
		}
		if res, ok := m.(*sip.Response); ok {
			if res.StatusCode != 200 || res.CallID().Value() != "unit-m1" {
				t.Fatalf("first message %d for %s, want the 200 of unit-m1", res.StatusCode, res.CallID().Value())
			}
			return nil
		}
		return m.(*sip.Request)
	}
	if r := read(); r != nil {
		t.Fatalf("the reply MESSAGE came before the 200:\n%s", r)
	}
	r := read()
	if r == nil || r.Method != sip.MESSAGE {
		t.Fatalf("want the reply MESSAGE, got %v", r)
	}
	if want := "sip:4711@" + p.addr(); r.Recipient.String() != want {
		t.Fatalf("reply to %s, want %s (the unit's user at its source address)", r.Recipient.String(), want)
	}
	if string(r.Body()) != "<mrs>answer</mrs>" || r.CallID().Value() == "unit-m1" || r.From().Address.Port != portOf(t, e.Addr()) {
		t.Fatalf("reply %s", r)
	}
	res := sip.NewResponseFromRequest(r, 200, "OK", nil)
	if _, err := p.conn.WriteTo([]byte(res.String()), p.to); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-replied:
		if err != nil {
			t.Fatalf("reply: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SendMessage did not return after the unit's 200")
	}
}

func portOf(t *testing.T, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestSendMessageRefusesBadInput: each bad field is named and nothing goes
// on the wire.
func TestSendMessageRefusesBadInput(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t)))
	big := bytes.Repeat([]byte("x"), 1300)
	for _, c := range []struct {
		m    OutMessage
		want string
	}{
		{OutMessage{ContentType: "text/plain"}, "without a To"},
		{OutMessage{To: "sip:arc@127.0.0.1:9", Body: []byte("x")}, "Content-Type"},
		{OutMessage{To: "sip:arc@127.0.0.1:9;transport=sctp", ContentType: "text/plain"}, `transport "SCTP"`},
		{OutMessage{To: "sip:arc@127.0.0.1:9", From: "a b@c", ContentType: "text/plain"}, "From"},
		{OutMessage{To: "sip:arc@127.0.0.1:9", ContentType: "text/plain", Body: big}, "RFC 3428"},
		{OutMessage{To: "nobody", ContentType: "text/plain"}, "no binding for nobody"},
	} {
		_, err := e.SendMessage(context.Background(), c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want one naming %q", c.m.To, err, c.want)
		}
	}
	var de *DialError
	if _, err := e.SendMessage(context.Background(), OutMessage{To: "nobody", ContentType: "text/plain"}); !errors.As(err, &de) || de.Code != 404 {
		t.Errorf("unknown user: %v, want a 404 DialError", err)
	}
	if ms := e.Messages(""); len(ms) != 0 {
		t.Fatalf("%d messages went out for refused input", len(ms))
	}
}

// TestSendMessageToRegisteredUnit: a bare user is the device registered
// here; the MESSAGE goes to its binding.
func TestSendMessageToRegisteredUnit(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t, "unit9")))
	p := newPeer(t, e)
	if res := p.register("unit9", "unit9", "reg-u9", 1, "", 300); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	r, code := messageAnswered(t, e, p, OutMessage{To: "unit9", Domain: testDomain, ContentType: "text/plain", Body: []byte("hi")}, 202, "Accepted")
	if r.Recipient.User != "unit9" || string(r.Body()) != "hi" {
		t.Fatalf("unit got %v", r)
	}
	if code != 202 {
		t.Fatalf("status %d, want the unit's 202", code)
	}
}

// messageAnswered sends m with e to peer p, which answers code; it returns
// the MESSAGE p got and the status SendMessage returned.
func messageAnswered(t *testing.T, e *Engine, p *peer, m OutMessage, code int, reason string) (*sip.Request, int) {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		c, err := e.SendMessage(context.Background(), m)
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	r := p.recvRequest("MESSAGE", 5*time.Second)
	p.conn.WriteTo([]byte(sip.NewResponseFromRequest(r, code, reason, nil).String()), p.to)
	return r, <-done
}

func (p *peer) message(callID, fromUser string) {
	p.t.Helper()
	p.send("MESSAGE sip:edgebridge@" + p.to.String() + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + callID + "\n" +
		"From: <sip:" + fromUser + "@" + p.addr() + ">;tag=t" + callID + "\n" +
		"To: <sip:edgebridge@" + p.to.String() + ">\n" +
		"Call-ID: " + callID + "\nCSeq: 1 MESSAGE\nMax-Forwards: 70\n" +
		"Content-Type: application/scaip+xml\nContent-Length: 7\n\n<mrs/>\n")
}

// TestAnswerFromMessagedPeerSkipsDigest: with no trusted network, a MESSAGE
// from the address the engine just sent an AwaitAnswer MESSAGE to (the
// ARC's <mrs>) is let in and marked as an answer; one from elsewhere, or
// from a peer messaged without AwaitAnswer, is refused as an unknown caller.
func TestAnswerFromMessagedPeerSkipsDigest(t *testing.T) {
	type seen struct {
		from   string
		answer bool
	}
	got := make(chan seen, 4)
	e := startEngine(t, WithMessageHandler(func(ctx context.Context, domain, from, ct string, body []byte) int {
		got <- seen{from, MessageIsAnswer(ctx)}
		return 200
	}))
	arc := udpPeerAt(t, e, "127.0.0.1")
	other := udpPeerAt(t, e, "127.0.0.2")

	// Before any MESSAGE went out, nobody is awaited.
	arc.message("early", "arc")
	if res := arc.recv(false); res.StatusCode != 401 {
		t.Fatalf("unawaited MESSAGE: %d, want 401", res.StatusCode)
	}
	sendTo := func(p *peer, await bool) {
		t.Helper()
		if _, code := messageAnswered(t, e, p, OutMessage{To: "sip:arc@" + p.addr(), ContentType: "application/scaip+xml", Body: []byte("<mrq/>"), AwaitAnswer: await}, 200, "OK"); code != 200 {
			t.Fatalf("SendMessage: %d", code)
		}
	}
	sendTo(other, false)
	other.message("o1", "arc")
	if res := other.recv(false); res.StatusCode != 401 {
		t.Fatalf("MESSAGE from a peer messaged without AwaitAnswer: %d, want 401", res.StatusCode)
	}
	sendTo(arc, true)
	arc.message("a1", "arc")
	if res := arc.recv(false); res.StatusCode != 200 {
		t.Fatalf("the awaited answer: %d, want 200", res.StatusCode)
	}
	if s := <-got; s.from != "arc" || !s.answer {
		t.Fatalf("handler saw %+v, want an answer from arc", s)
	}
	other.message("o2", "arc")
	if res := other.recv(false); res.StatusCode != 401 {
		t.Fatalf("MESSAGE from another address: %d, want 401", res.StatusCode)
	}
	select {
	case s := <-got:
		t.Fatalf("handler called for a refused MESSAGE: %+v", s)
	default:
	}
}
