package engine

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/media"
)

const shedInvite = "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n" +
	"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0\r\n" +
	"f: \"Bench\" <sip:100@127.0.0.1>;tag=a1\r\n" +
	"To: <sip:1000@127.0.0.1:5060>\r\n" +
	"Call-ID: c1@127.0.0.1\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:100@127.0.0.1:5070>\r\n" +
	"Content-Length: 0\r\n\r\n"

// The stateless 503 of a plain new INVITE carries every Via in order, the
// From, the To with a tag of ours, Call-ID and CSeq, as sipgo reads them;
// requests it cannot read with certainty are left to sipgo.
func TestShedWireRefuse(t *testing.T) {
	c := newShedConn(&Engine{}, nil)
	c.e.shed.defaults()
	refuseRaw := func(pkt []byte, why string) []byte {
		h, ok := parseShedHeaders(pkt)
		if !ok {
			return nil
		}
		return c.refuse(h, h.key(), why)
	}
	out := refuseRaw([]byte(shedInvite), "overloaded: test")
	if out == nil {
		t.Fatal("a plain INVITE was not refused")
	}
	m, err := sip.ParseMessage(out)
	if err != nil {
		t.Fatalf("our 503 does not parse: %v\n%s", err, out)
	}
	res, ok := m.(*sip.Response)
	if !ok || res.StatusCode != 503 {
		t.Fatalf("not a 503:\n%s", out)
	}
	vias := res.GetHeaders("Via")
	if len(vias) != 2 || !strings.Contains(vias[0].Value(), "branch=z9hG4bK-1") || !strings.Contains(vias[1].Value(), "branch=z9hG4bK-0") {
		t.Errorf("Vias %v", vias)
	}
	if tag, _ := res.To().Params.Get("tag"); !strings.HasPrefix(tag, "shed") || res.CallID().Value() != "c1@127.0.0.1" ||
		res.CSeq().Value() != "1 INVITE" || res.From().DisplayName != "Bench" {
		t.Errorf("headers: To %s, Call-ID %s, CSeq %s, From %s", res.To().Value(), res.CallID().Value(), res.CSeq().Value(), res.From().Value())
	}
	if ra := res.GetHeader("Retry-After"); ra == nil || ra.Value() < "2" || ra.Value() > "5" {
		t.Errorf("Retry-After %v, want 2-5", ra)
	}
	if !strings.Contains(string(out), string(c.mark)) {
		t.Error("the To tag lacks the mark its ACK is dropped by")
	}
	for name, req := range map[string]string{
		"to tag":        strings.Replace(shedInvite, "To: <sip:1000@127.0.0.1:5060>", "To: <sip:1000@127.0.0.1:5060>;tag=x", 1),
		"folded":        strings.Replace(shedInvite, "CSeq: 1 INVITE\r\n", "CSeq: 1\r\n INVITE\r\n", 1),
		"two Call-IDs":  strings.Replace(shedInvite, "CSeq:", "i: other\r\nCSeq:", 1),
		"CSeq method":   strings.Replace(shedInvite, "CSeq: 1 INVITE", "CSeq: 1 BYE", 1),
		"no Via":        strings.NewReplacer("Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n", "", "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-0\r\n", "").Replace(shedInvite),
		"no end":        strings.TrimSuffix(shedInvite, "\r\n"),
		"not SIP/2.0":   strings.Replace(shedInvite, " SIP/2.0\r\n", " SIP/3.0\r\n", 1),
		"bare LF lines": strings.ReplaceAll(shedInvite, "\r\n", "\n"),
	} {
		if out := refuseRaw([]byte(req), "x"); out != nil {
			t.Errorf("%s: refused at the socket:\n%s", name, out)
		}
	}
}

// FuzzShedWire: whatever arrives, the socket's stateless refusal never
// panics, and what it sends is a 503 that parses with the Call-ID and
// CSeq of the request as sipgo reads it.
func FuzzShedWire(f *testing.F) {
	f.Add([]byte(shedInvite))
	f.Add([]byte(strings.Replace(shedInvite, "Call-ID", "i", 1)))
	f.Add([]byte("INVITE sip:x SIP/2.0\r\nv: a\r\nf: b\r\nt: c\r\ni: d\r\nCSeq: 1 INVITE\r\n\r\n"))
	c := newShedConn(&Engine{}, nil)
	c.e.shed.defaults()
	f.Fuzz(func(t *testing.T, pkt []byte) {
		h, ok := parseShedHeaders(pkt)
		if !ok {
			return
		}
		out := c.refuse(h, h.key(), "overloaded")
		m, err := sip.ParseMessage(out)
		if err != nil {
			// Our answer copies the request's lines; a request sipgo cannot
			// parse may give one sipgo cannot parse either, but then the
			// request must not parse as a request with these headers.
			if req, err := sip.ParseMessage(pkt); err == nil {
				if r, ok := req.(*sip.Request); ok && r.CallID() != nil && r.CSeq() != nil && r.Via() != nil && r.From() != nil && r.To() != nil {
					t.Fatalf("request parses but our 503 does not:\n%q\n%q", pkt, out)
				}
			}
			return
		}
		res, ok := m.(*sip.Response)
		if !ok || res.StatusCode != 503 {
			t.Fatalf("not a 503: %q", out)
		}
		if req, err := sip.ParseMessage(pkt); err == nil {
			if r, ok := req.(*sip.Request); ok && r.CallID() != nil && res.CallID() != nil && r.CallID().Value() != res.CallID().Value() {
				t.Fatalf("Call-ID %q answered as %q", r.CallID().Value(), res.CallID().Value())
			}
		}
	})
}

// The reader remembers what it did with each new INVITE: a retransmission
// of one it passed is passed again whatever the load (refusing it would
// fail a call taken), one it refused gets the same 503 again even once the
// load is gone, and what is older than inviteMemory is new again.
func TestShedConnRetransmissions(t *testing.T) {
	e, c, pc, caller := shedReaderRig(t, 40000)
	invite := func(callID string) string { return strings.ReplaceAll(shedInvite, "c1@127.0.0.1", callID) }
	buf := make([]byte, 1500)
	// read sends pkt then an OPTIONS, and says what the reader passed on.
	read := func(pkt string) string {
		t.Helper()
		for _, p := range []string{pkt, "OPTIONS sip:x SIP/2.0\r\n\r\n"} {
			if _, err := caller.WriteTo([]byte(p), pc.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); strings.HasPrefix(got, "OPTIONS") {
			return "" // pkt was not passed on
		} else if _, _, err := c.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		return "passed"
	}
	answer := func() string {
		t.Helper()
		_ = caller.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 1500)
		n, _, err := caller.ReadFrom(b)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return string(b[:n])
	}

	if got := read(invite("taken")); got != "passed" {
		t.Fatal("a new INVITE was not passed while admitting all")
	}
	refuseAll(e)
	if got := read(invite("taken")); got != "passed" {
		t.Error("the retransmission of an INVITE taken was refused")
	}
	if got := read(invite("refused")); got != "" {
		t.Fatal("a new INVITE was passed while the rate refuses all")
	}
	first := answer()
	if !strings.HasPrefix(first, "SIP/2.0 503") {
		t.Fatalf("answer %q, want 503", first)
	}
	e.shed.gate.limiting = false
	if got := read(invite("refused")); got != "" {
		t.Fatal("the retransmission of a refused INVITE was passed")
	}
	again := answer()
	tag := func(res string) string {
		_, after, _ := strings.Cut(res, string(c.mark))
		v, _, _ := strings.Cut(after, "\r\n")
		return v
	}
	retry := func(res string) string {
		_, after, _ := strings.Cut(res, "Retry-After: ")
		v, _, _ := strings.Cut(after, "\r\n")
		return v
	}
	if tag(first) == "" || tag(again) != tag(first) || retry(again) != retry(first) {
		t.Errorf("a retransmission got another 503: tag %q then %q, Retry-After %q then %q", tag(first), tag(again), retry(first), retry(again))
	}
	if got := e.shed.shed.Load(); got != 1 {
		t.Errorf("refusals counted %d, want 1 (a retransmission is no new INVITE)", got)
	}
	// Past inviteMemory the INVITE is new again.
	key := func(callID string) uint64 {
		h, ok := parseShedHeaders([]byte(invite(callID)))
		if !ok {
			t.Fatal("test INVITE does not parse")
		}
		return h.key()
	}
	now := time.Now()
	if got := c.seen.find(key("refused"), now.Add(inviteMemory)); got != inviteNew {
		t.Errorf("after inviteMemory: %v, want new", got)
	}
	if got := c.seen.find(key("taken"), now); got != invitePassed {
		t.Errorf("taken: %v, want passed", got)
	}
}

// The memo's buckets hold four: a fifth INVITE pushes out the oldest
// refusal before any INVITE passed on, and a forgotten one first of all.
func TestInviteMemoBucket(t *testing.T) {
	var m inviteMemo
	now := time.Unix(1000, 0)
	const base = uint64(0xabcd) << 32 // one bucket: the bucket is chosen by bits 32 up
	for i := range uint64(5) {
		m.add(base|i<<4, i%2 == 1, now.Add(time.Duration(i)*time.Millisecond))
	}
	if got := m.find(base|1<<4, now); got != inviteNew {
		t.Errorf("oldest refusal of five: %v, want pushed out", got)
	}
	if got := m.find(base, now); got != invitePassed {
		t.Errorf("oldest passed on: %v, want kept", got)
	}
	if got := m.find(base|3<<4, now); got != inviteRefused {
		t.Errorf("newer refusal: %v, want kept", got)
	}
	if got := m.find(base|4<<4, now); got != invitePassed {
		t.Errorf("newest: %v, want passed", got)
	}
	later := now.Add(inviteMemory + 3*time.Millisecond) // the first three forgotten
	m.add(base|5<<4, true, later)
	if got := m.find(base|4<<4, later); got != invitePassed {
		t.Errorf("after a forgotten slot was reused, the newest: %v, want kept", got)
	}
}

// An INVITE the socket's reader cannot read with certainty (a folded CSeq)
// goes to sipgo, and then meets the admission rate in admitInvite: written
// to be unreadable, it does not slip past a rate that refuses all.
func TestUnreadableInviteMeetsTheRate(t *testing.T) {
	e, c, pc, caller := shedReaderRig(t, 40010)
	refuseAll(e)
	folded := strings.Replace(shedInvite, "CSeq: 1 INVITE\r\n", "CSeq: 1\r\n INVITE\r\n", 1)
	if _, err := caller.WriteTo([]byte(folded), pc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, _, err := c.ReadFrom(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "INVITE") {
		t.Fatalf("the unreadable INVITE was not passed on to sipgo: %v %q", err, buf[:n])
	}
	if ok, why := e.shed.admit(e.freePairs(), e.shed.takeUnrated(), time.Now()); ok {
		t.Fatal("the unreadable UDP INVITE was admitted past a rate that refuses all")
	} else if !strings.Contains(why, "calls/s") {
		t.Errorf("refused for %q, want the rate", why)
	}
	// Owed once: the next UDP INVITE (read and rated at the socket) is not
	// rated again.
	if e.shed.takeUnrated() {
		t.Error("the rate is owed twice for one unreadable INVITE")
	}
	// A re-INVITE (a To tag) is passed on too, and owes nothing: it is no
	// new call, and admitInvite never sees it.
	reinvite := strings.Replace(shedInvite, "To: <sip:1000@127.0.0.1:5060>", "To: <sip:1000@127.0.0.1:5060>;tag=x", 1)
	if _, err := caller.WriteTo([]byte(reinvite), pc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.ReadFrom(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "INVITE") {
		t.Fatalf("the re-INVITE was not passed on: %v %q", err, buf[:n])
	}
	if e.shed.takeUnrated() {
		t.Error("a re-INVITE made the next new INVITE meet the rate twice")
	}
	for range 2 * maxUnrated {
		e.shed.passUnrated()
	}
	owed := 0
	for e.shed.takeUnrated() {
		owed++
	}
	if owed != maxUnrated {
		t.Errorf("owed the rate %d times, want at most %d", owed, maxUnrated)
	}
}

// shedReaderRig is a socket reader (shedConn) on a loopback socket pc of an
// engine with ten RTP port pairs from lo, and a caller's socket.
func shedReaderRig(t *testing.T, lo int) (e *Engine, c *shedConn, pc, caller net.PacketConn) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	e = &Engine{log: slog.New(slog.DiscardHandler)}
	if e.ports, err = media.NewPortPool(lo, lo+9); err != nil {
		t.Fatal(err)
	}
	e.shed.defaults()
	caller, err = net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	c = newShedConn(e, pc)
	t.Cleanup(func() {
		if c.raw != nil {
			c.raw.close()
		}
	})
	return e, c, pc, caller
}

// refuseAll sets e's admission rate to refuse every new INVITE for an hour.
func refuseAll(e *Engine) {
	e.shed.gate.limiting, e.shed.gate.rate, e.shed.gate.tokens, e.shed.gate.at = true, minRate, 0, time.Now().Add(time.Hour)
}
