package engine

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/sdp"
)

// srtpSDP is testSDP offering SDES SRTP with key (base64, 30 bytes).
func srtpSDP(version, dir, key string) string {
	s := strings.Replace(testSDP, "RTP/AVP", "RTP/SAVP", 1)
	s = strings.Replace(s, "o=- 1 1", "o=- 1 "+version, 1)
	return s + "a=" + dir + "\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key + "\n"
}

func answerCrypto(t *testing.T, body []byte) string {
	t.Helper()
	s, err := sdp.Parse(body)
	if err != nil || len(s.Media) == 0 || len(s.Media[0].Crypto) != 1 {
		t.Fatalf("answer without one a=crypto (%v):\n%s", err, body)
	}
	return s.Media[0].Crypto[0].String()
}

// TestReInviteKeepsSRTPKey: hold, resume and a session refresh with the
// same a=crypto keep our key; a peer that rekeys gets a new one.
func TestReInviteKeepsSRTPKey(t *testing.T) {
	calls := make(chan *Call, 1)
	e := startEngine(t, routeAll("ms/srtp", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		if c.Answer() == nil {
			calls <- c
			<-ctx.Done()
		}
	})))
	p := newPeer(t, e)
	key1 := "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyBh"[:40]
	key2 := "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn"[:40]
	p.inviteSDP("900", "srtp-keep", "", srtpSDP("1", "sendrecv", key1))
	res := p.recv(false)
	if res.StatusCode != 200 {
		t.Fatalf("SRTP INVITE: %d", res.StatusCode)
	}
	p.ackOK(res, "900")
	c := <-calls
	ours := answerCrypto(t, res.Body())
	cseq := 2
	for _, step := range []struct{ dir, key string }{{"sendonly", key1}, {"sendrecv", key1}, {"sendrecv", key1}} {
		p.inDialog(res, "INVITE", cseq, "", srtpSDP(strconv.Itoa(cseq), step.dir, step.key))
		r := p.recv(false)
		if r.StatusCode != 200 {
			t.Fatalf("re-INVITE %s: %d", step.dir, r.StatusCode)
		}
		if got := answerCrypto(t, r.Body()); got != ours {
			t.Fatalf("re-INVITE %s with the same crypto: our key changed\n%s\n%s", step.dir, ours, got)
		}
		cseq++
	}
	p.inDialog(res, "INVITE", cseq, "", srtpSDP(strconv.Itoa(cseq), "sendrecv", key2))
	r := p.recv(false)
	if r.StatusCode != 200 || answerCrypto(t, r.Body()) == ours {
		t.Fatalf("the peer rekeyed and we kept our key (%d)", r.StatusCode)
	}
	if k := c.Negotiated().SRTP; k == nil || string(k.RemoteKey) == "" {
		t.Fatalf("negotiated %+v", k)
	}
}

// TestCalleeLegHeaders: the INVITE to a registered device goes to its
// Contact with the address of record as To, the caller's number in the
// domain as From, and P-Asserted-Identity for a caller known to be who it
// says (here a provisioned device in a trusted network).
func TestCalleeLegHeaders(t *testing.T) {
	dir := NewStaticDirectory()
	dir.PutDevice(testDomain, Device{DeviceID: "2001", AuthType: "credentials", Password: "pw-2001"})
	dir.PutDevice(testDomain, Device{DeviceID: "2002", AuthType: "deviceid"})
	dir.PutDevice(testDomain, Device{DeviceID: "2003", AuthType: "deviceid"})
	if err := dir.SetTrusted(testDomain, "127.0.0.1/32"); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, WithDirectory(dir), WithLoopbackTrusted(false))
	callee := udpPeerAt(t, e, "127.0.0.2")
	contact := "sip:2002-a1b2@" + callee.addr() + ";ob"
	callee.send("REGISTER sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + callee.addr() + ";branch=z9hG4bKreg2002\nFrom: <sip:2002@" + testDomain +
		">;tag=r\nTo: <sip:2002@" + testDomain + ">\nCall-ID: reg-2002\nCSeq: 1 REGISTER\nContact: <" + contact + ">\nExpires: 600\nContent-Length: 0\n\n")
	if r := callee.recv(false); r.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", r.StatusCode)
	}
	for _, tc := range []struct {
		caller, ip string
		pai        bool
	}{{"2001", "127.0.0.1", true}, {"2003", "127.0.0.3", false}} {
		caller := udpPeerAt(t, e, tc.ip)
		caller.inviteFrom(tc.caller, "2002", "hdr-"+tc.caller)
		inv := callee.recvRequest("INVITE", 5*time.Second)
		if got := inv.Recipient.String(); got != contact {
			t.Errorf("Request-URI %s, want the binding's Contact %s", got, contact)
		}
		if got := inv.To().Address.String(); got != "sip:2002@"+testDomain {
			t.Errorf("To %s, want the address of record sip:2002@%s", got, testDomain)
		}
		if f := inv.From().Address; f.User != tc.caller || f.Host != testDomain {
			t.Errorf("From %s, want sip:%s@%s", f.String(), tc.caller, testDomain)
		}
		pai := inv.GetHeader("P-Asserted-Identity")
		switch {
		case tc.pai && (pai == nil || pai.Value() != "<sip:"+tc.caller+"@"+testDomain+">"):
			t.Errorf("caller %s: P-Asserted-Identity %v, want <sip:%s@%s>", tc.caller, pai, tc.caller, testDomain)
		case !tc.pai && pai != nil:
			t.Errorf("caller %s (deviceid, not authenticated): P-Asserted-Identity %s", tc.caller, pai.Value())
		}
		busy := sip.NewResponseFromRequest(inv, 486, "Busy Here", nil)
		busy.To().Params.Add("tag", "busy"+tc.caller)
		callee.conn.WriteTo([]byte(busy.String()), callee.to)
		callee.recvRequest("ACK", 5*time.Second)
		if r := caller.recv(false); r.StatusCode != 486 {
			t.Fatalf("caller got %d, want the callee's 486", r.StatusCode)
		}
	}
}
