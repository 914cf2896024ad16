package engine

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// The structured mutation fuzzer: valid requests and responses of every
// dialog state, with one mandatory header deleted, duplicated or corrupted
// (or the body spoiled), sent to a running engine that must then still
// answer OPTIONS. FuzzUA flips bytes, which almost never yields a message
// that parses yet lacks a Call-ID; this builds exactly those.

// mutHeaders are the headers RFC 3261 §8.1.1 makes mandatory, plus the
// ones that describe the body.
var mutHeaders = []string{"Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Length", "Content-Type"}

// corruptions are values put in place of a header's own, per header (the
// generic ones apply to all).
var (
	genericCorrupt = []string{"", "\x00\xff<>;;==,,\"", strings.Repeat("9", 3000)}
	headerCorrupt  = map[string][]string{
		"Via":            {"SIP/2.0/UDP", "SIP/2.0/XYZ h;branch=", "SIP/2.0/UDP 127.0.0.1:99999;branch=z9hG4bK;rport=x"},
		"From":           {"<sip:@>", "<>", "\"unterminated <sip:a@b>;tag=1", "sip:a@b;tag="},
		"To":             {"<sip:@>;tag=", "<>", "<sip:a@b>;tag=x;tag=y"},
		"Call-ID":        {"a b c", "@"},
		"CSeq":           {"99999999999999999999 INVITE", "-1 INVITE", "1", "1 BYE", "abc REGISTER"},
		"Contact":        {"*", "<sip:a@b>;expires=abc", "<garbage", "<sip:a@127.0.0.1:0>;expires=-1"},
		"Max-Forwards":   {"0", "-5", "abc"},
		"Content-Length": {"-1", "99999", "0", "abc"},
		"Content-Type":   {"application/sdp;;;", "text/plain", "multipart/mixed;boundary="},
	}
	badBodies = []string{"v=0\r\nm=audio x RTP/AVP\r\n", "\x00\x01\x02", "v=0\r\no=- 1 1 IN IP4 999.1.1.1\r\nc=IN IP6 ::zz\r\nm=audio 99999 RTP/SAVP 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!\r\n"}
)

// mutation is one change to a message: op 'd' deletes the header, 'u'
// duplicates it, 'c' replaces its value with val, 'b' replaces the body.
type mutation struct {
	op     byte
	header string
	val    string
}

func (m mutation) String() string {
	v := m.val
	if len(v) > 20 {
		v = v[:20] + "…"
	}
	return fmt.Sprintf("%c %s %q", m.op, m.header, v)
}

// allMutations lists every mutation the systematic test tries.
func allMutations() []mutation {
	var out []mutation
	for _, h := range mutHeaders {
		out = append(out, mutation{op: 'd', header: h}, mutation{op: 'u', header: h})
		for _, v := range append(append([]string(nil), genericCorrupt...), headerCorrupt[h]...) {
			out = append(out, mutation{op: 'c', header: h, val: v})
		}
	}
	for _, b := range badBodies {
		out = append(out, mutation{op: 'b', val: b})
	}
	return out
}

// apply changes msg (CRLF lines, header names in their full form).
func (m mutation) apply(msg string) string {
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if m.op == 'b' {
		for i, l := range lines {
			if strings.HasPrefix(strings.ToLower(l), "content-length:") {
				lines[i] = "Content-Length: " + strconv.Itoa(len(m.val))
			}
		}
		return strings.Join(lines, "\r\n") + "\r\n\r\n" + m.val
	}
	out := lines[:1:1]
	found := false
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		if !strings.EqualFold(strings.TrimSpace(name), m.header) || found {
			out = append(out, l)
			continue
		}
		found = true
		switch m.op {
		case 'd':
		case 'u':
			out = append(out, l, l)
		case 'c':
			out = append(out, m.header+": "+m.val)
		}
	}
	if !found && m.op == 'c' {
		out = append(out, m.header+": "+m.val)
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n" + body
}

// mutBed is an engine with a route that answers ("1…"), one that rings
// until cancelled ("2…"), one that refuses ("3…"), a
// device and a trunk, and a peer driving it.
type mutBed struct {
	t     testing.TB
	e     *Engine
	p     *peer
	seq   atomic.Int64
	calls chan *Call
}

func newMutBed(t testing.TB) *mutBed {
	dir := NewStaticDirectory()
	dir.PutDevice(testDomain, Device{DeviceID: "d1", AuthType: "credentials", Password: "p"})
	dir.SetTrusted(testDomain, "127.0.0.1")
	off := false
	dir.SetTrunks(testDomain, []Trunk{{TrunkID: "t", DestinationTarget: "127.0.0.1:9", DestinationTransport: "udp", DestinationMatch: "/^00/", KeepAlive: &off}})
	b := &mutBed{t: t, calls: make(chan *Call, 64)}
	answer, _ := CompileMatch("/^1/")
	ring, _ := CompileMatch("/^2/")
	reject, _ := CompileMatch("/^3/")
	b.e = startEngine(t, WithDirectory(dir), WithMessageHandler(func(ctx context.Context, domain, from, ct string, body []byte) int { return 200 }),
		WithRoutes(RouteSourceFunc(func(string) []Route {
			return []Route{
				{Name: "ms/answer", Match: answer, Handler: CallHandlerFunc(func(ctx context.Context, c *Call) {
					if c.Answer() == nil {
						<-ctx.Done()
					}
				})},
				{Name: "ms/reject", Match: reject, Handler: CallHandlerFunc(func(ctx context.Context, c *Call) {
					_ = c.Reject(486, "Busy Here", "test")
				})},
				{Name: "ms/ring", Match: ring, Handler: CallHandlerFunc(func(ctx context.Context, c *Call) {
					_ = c.Ring()
					<-ctx.Done()
				})},
			}
		})))
	b.p = newPeer(t, b.e)
	return b
}

// alive checks the engine still answers OPTIONS, skipping whatever else
// arrives (answers to the mutated message may echo its garbage).
func (b *mutBed) alive(after string) {
	b.t.Helper()
	id := "alive-" + strconv.FormatInt(b.seq.Add(1), 10)
	p := b.p
	p.send("OPTIONS sip:" + b.e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + id +
		"\nFrom: <sip:probe@127.0.0.1>;tag=x\nTo: <sip:" + b.e.Addr() + ">\nCall-ID: " + id +
		"\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n")
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.conn.SetReadDeadline(deadline)
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			b.t.Fatalf("no answer to OPTIONS after %s: %v", after, err)
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			continue
		}
		res, ok := m.(*sip.Response)
		if !ok || res.CallID() == nil {
			continue
		}
		if res.CallID().Value() == id {
			if res.StatusCode != 200 {
				b.t.Fatalf("OPTIONS after %s answered %d", after, res.StatusCode)
			}
			return
		}
		// Acknowledge a refused INVITE as a phone would, or the engine
		// keeps the call until Timer H.
		if res.StatusCode >= 300 && res.CSeq() != nil && res.CSeq().MethodName == sip.INVITE && res.From() != nil && res.To() != nil && res.Via() != nil {
			p.ack(res)
		}
	}
}

func (b *mutBed) raw(msg string) {
	b.t.Helper()
	if _, err := b.p.conn.WriteTo([]byte(msg), b.p.to); err != nil {
		b.t.Fatal(err)
	}
}

// request builds a valid request of method in a dialog given by the fields
// (toTag "" for out of dialog).
func (b *mutBed) request(method, user, callID, fromTag, toTag string, cseq int, body string) string {
	p := b.p
	h := p.to.String()
	to := "<sip:" + user + "@" + h + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	msg := method + " sip:" + user + "@" + h + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + callID + method + strconv.Itoa(cseq) + "\r\n" +
		"From: <sip:100@127.0.0.1>;tag=" + fromTag + "\r\n" +
		"To: " + to + "\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: " + strconv.Itoa(cseq) + " " + method + "\r\n" +
		"Contact: <sip:100@" + p.addr() + ">\r\n" +
		"Max-Forwards: 70\r\n"
	ct := "application/sdp"
	if method == "MESSAGE" {
		ct = "text/plain"
	}
	if body != "" {
		msg += "Content-Type: " + ct + "\r\n"
	}
	return msg + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

var mutSDP = strings.ReplaceAll(testSDP, "\n", "\r\n")

// dialog sets up a call to user (answered for "1…", ringing for "2…") and
// returns its Call-ID, From tag and To tag ("" while ringing).
func (b *mutBed) dialog(user string) (callID, fromTag, toTag string) {
	b.t.Helper()
	callID = "mut-" + strconv.FormatInt(b.seq.Add(1), 10)
	fromTag = "f" + callID
	b.raw(b.request("INVITE", user, callID, fromTag, "", 1, mutSDP))
	want := 200
	if user[0] == '2' {
		want = 180
	}
	for {
		res := b.p.recv(true)
		if res.CallID() == nil || res.CallID().Value() != callID {
			continue
		}
		if res.StatusCode == want {
			if want == 200 {
				toTag, _ = res.To().Params.Get("tag")
				b.raw(b.request("ACK", user, callID, fromTag, toTag, 1, ""))
			}
			return callID, fromTag, toTag
		}
		if res.StatusCode >= 200 {
			b.t.Fatalf("dialog setup to %s: %d %s", user, res.StatusCode, res.Reason)
		}
	}
}

// hangup ends a dialog with a valid BYE or CANCEL (ignoring the answer:
// the mutation may already have ended it).
func (b *mutBed) hangup(user, callID, fromTag, toTag string) {
	if toTag == "" {
		b.raw(strings.Replace(b.request("CANCEL", user, callID, fromTag, "", 1, ""), "CANCEL1", "INVITE1", 1))
		return
	}
	b.raw(b.request("BYE", user, callID, fromTag, toTag, 99, ""))
}

// states are the dialog states a mutated request is sent in; each returns
// the valid request to mutate and a cleanup.
type mutState struct {
	name string
	send func(b *mutBed, m mutation)
}

func outOfDialog(method, user, body string) mutState {
	return mutState{"no dialog/" + method, func(b *mutBed, m mutation) {
		id := "ood-" + strconv.FormatInt(b.seq.Add(1), 10)
		b.raw(m.apply(b.request(method, user, id, "f"+id, "", 1, body)))
	}}
}

func inDialog(state, user, method string, cseq int, body string) mutState {
	return mutState{state + "/" + method, func(b *mutBed, m mutation) {
		callID, fromTag, toTag := b.dialog(user)
		msg := b.request(method, user, callID, fromTag, toTag, cseq, body)
		if method == "CANCEL" {
			msg = strings.Replace(msg, "CANCEL1", "INVITE1", 1) // a CANCEL shares its INVITE's branch
		}
		b.raw(m.apply(msg))
		b.alive(state + "/" + method + " " + m.String())
		b.hangup(user, callID, fromTag, toTag)
	}}
}

// outboundResponse has the engine call the peer, which answers with a
// mutated response of code and then a valid 486, so that the call ends
// whichever of the two the engine took.
func outboundResponse(code int) mutState {
	return mutState{"outbound/" + strconv.Itoa(code), func(b *mutBed, m mutation) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			if c, err := b.e.Dial(ctx, DialOptions{To: "sip:900@" + b.p.addr()}); err == nil {
				c.Hangup()
			}
		}()
		req := b.p.recvRequest("INVITE", 3*time.Second)
		res := sip.NewResponseFromRequest(req, code, "X", nil)
		if code == 200 {
			res.To().Params.Add("tag", "mut"+strconv.FormatInt(b.seq.Add(1), 10))
			res.AppendHeader(sip.NewHeader("Contact", "<sip:900@"+b.p.addr()+">"))
			res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			res.SetBody([]byte(mutSDP))
		}
		b.raw(m.apply(res.String()))
		b.raw(sip.NewResponseFromRequest(req, 486, "Busy Here", nil).String())
		// Answer the BYE of a call the mutated 200 set up.
		buf := make([]byte, 65535)
		for {
			select {
			case <-done:
				return
			default:
			}
			b.p.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, _, err := b.p.conn.ReadFrom(buf)
			if err != nil {
				continue
			}
			if msg, err := sip.ParseMessage(buf[:n]); err == nil {
				if r, ok := msg.(*sip.Request); ok && r.Method == sip.BYE {
					b.p.okTo(r)
				}
			}
		}
	}}
}

var mutStates = []mutState{
	outOfDialog("INVITE", "300", mutSDP),
	outOfDialog("INVITE", "400", mutSDP), // no route: 404
	outOfDialog("REGISTER", "d1", ""),
	outOfDialog("OPTIONS", "100", ""),
	outOfDialog("MESSAGE", "100", "hello"),
	outOfDialog("NOTIFY", "100", ""),
	outOfDialog("INFO", "100", ""),
	outOfDialog("BYE", "100", ""),
	outOfDialog("ACK", "100", ""),
	outOfDialog("CANCEL", "100", ""),
	inDialog("early", "200", "CANCEL", 1, ""),
	inDialog("early", "200", "BYE", 2, ""),
	inDialog("early", "200", "INVITE", 1, mutSDP),
	inDialog("confirmed", "100", "INVITE", 2, mutSDP),
	inDialog("confirmed", "100", "BYE", 2, ""),
	inDialog("confirmed", "100", "ACK", 1, ""),
	inDialog("confirmed", "100", "INFO", 2, ""),
	inDialog("confirmed", "100", "UPDATE", 2, ""),
	inDialog("confirmed", "100", "MESSAGE", 2, "hi"),
	inDialog("confirmed", "100", "NOTIFY", 2, ""),
	outboundResponse(180),
	outboundResponse(200),
}

// TestHeaderMutationsInEveryDialogState sends every mutation in every state;
// the engine must answer OPTIONS after each.
func TestHeaderMutationsInEveryDialogState(t *testing.T) {
	b := newMutBed(t)
	muts := allMutations()
	for _, st := range mutStates {
		t.Run(st.name, func(t *testing.T) {
			b.t, b.p.t = t, t
			for _, m := range muts {
				if testing.Short() && m.op == 'c' {
					continue
				}
				st.send(b, m)
				b.alive(st.name + " " + m.String())
			}
		})
	}
	b.t, b.p.t = t, t
	testkit.WaitFor(t, "every call to end", 5*time.Second, func() bool { return b.e.Calls() == 0 })
}

// TestInviteWithoutCallIDIsRefused is the one datagram that stopped the
// daemon: sipgo hands a request without Call-ID to the handlers.
func TestInviteWithoutCallIDIsRefused(t *testing.T) {
	b := newMutBed(t)
	b.raw(mutation{op: 'd', header: "Call-ID"}.apply(b.request("INVITE", "100", "x", "fx", "", 1, mutSDP)))
	res := b.p.recv(false)
	if res.StatusCode != 400 {
		t.Fatalf("INVITE without Call-ID answered %d, want 400", res.StatusCode)
	}
	b.alive("INVITE without Call-ID")
	if s := b.e.Stats(); s.Malformed != 1 {
		t.Fatalf("malformed counted %d, want 1", s.Malformed)
	}
}

// FuzzHeaderMutations picks a state and a mutation from the fuzzer's bytes.
func FuzzHeaderMutations(f *testing.F) {
	f.Add(uint8(0), uint8(3), uint8(0), "")
	f.Add(uint8(13), uint8(4), uint8(1), "")
	f.Add(uint8(21), uint8(0), uint8(2), "SIP/2.0/UDP")
	f.Add(uint8(10), uint8(4), uint8(2), "1 BYE")
	b := newMutBed(f)
	f.Fuzz(func(t *testing.T, state, header, op uint8, val string) {
		b.t, b.p.t = t, t
		m := mutation{op: "duc"[int(op)%3], header: mutHeaders[int(header)%len(mutHeaders)], val: val}
		if op%4 == 3 {
			m = mutation{op: 'b', val: val}
		}
		st := mutStates[int(state)%len(mutStates)]
		st.send(b, m)
		b.alive(st.name + " " + m.String())
	})
}

// TestHandlerPanicCostsOneRequest: a handler that panics is answered 500,
// counted, and the gateway keeps serving.
func TestHandlerPanicCostsOneRequest(t *testing.T) {
	dir := NewStaticDirectory()
	dir.SetTrusted(testDomain, "127.0.0.1")
	e := startEngine(t, WithDirectory(dir), WithMessageHandler(func(ctx context.Context, domain, from, ct string, body []byte) int {
		panic("test: handler bug")
	}))
	b := &mutBed{t: t, e: e, p: newPeer(t, e)}
	b.raw(b.request("MESSAGE", "100", "boom", "fb", "", 1, "hi"))
	if res := b.p.recv(false); res.StatusCode != 500 {
		t.Fatalf("MESSAGE whose handler panicked answered %d, want 500", res.StatusCode)
	}
	b.alive("a handler panic")
	if s := e.Stats(); s.Panics != 1 {
		t.Fatalf("panics counted %d, want 1", s.Panics)
	}
}

// TestMalformedCountedAndLogLimited sends datagrams that do not parse,
// requests without Via (sipgo refuses those itself) and requests without
// Call-ID (refused by guard): each is counted, and the log gets a few
// short lines per second, not one line with the whole datagram per input.
func TestMalformedCountedAndLogLimited(t *testing.T) {
	var logs testkit.Buffer
	e := startEngine(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	b := &mutBed{t: t, e: e, p: newPeer(t, e)}
	const n = 300
	start := time.Now()
	for i := range n {
		valid := b.request("OPTIONS", "100", "m"+strconv.Itoa(i), "fm", "", 1, "") // own branch: no retransmission
		var msg string
		switch i % 3 {
		case 0:
			msg = "INVITE sip:x SIP/2.0\r\nVia: \x00\x01garbage" + strings.Repeat("A", 1000) + "\r\n\r\n"
		case 1:
			msg = mutation{op: 'd', header: "Via"}.apply(valid)
		case 2:
			msg = mutation{op: 'd', header: "Call-ID"}.apply(valid)
		}
		b.raw(msg)
		if i%20 == 19 {
			b.alive("malformed input") // pace: a burst would overflow the socket buffer
		}
	}
	end := time.Now().Add(5 * time.Second)
	for e.Stats().Malformed < n && time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond)
	}
	b.alive("the malformed flood")
	elapsed := time.Since(start)
	if got := e.Stats().Malformed; got != n {
		t.Fatalf("malformed counted %d, want %d\n%s", got, n, logs.String())
	}
	out := logs.String()
	ls := strings.Split(strings.TrimSpace(out), "\n")
	if limit := 5 * (int(elapsed/time.Second) + 2); len(ls) > limit {
		t.Fatalf("%d log lines for %d bad inputs in %v, want at most %d:\n%s", len(ls), n, elapsed, limit, out)
	}
	for _, l := range ls {
		if len(l) > 1000 {
			t.Fatalf("a log line of %d bytes quotes the datagram: %.200s…", len(l), l)
		}
	}
}
