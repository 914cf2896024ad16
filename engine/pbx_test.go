package engine

import (
	"context"
	"strconv"
	"strings"
	"testing"

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
