package engine

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
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
	out := c.refuse([]byte(shedInvite), "overloaded: test")
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
		if out := c.refuse([]byte(req), "x"); out != nil {
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
		out := c.refuse(pkt, "overloaded")
		if out == nil {
			return
		}
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
