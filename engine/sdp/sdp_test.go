package sdp

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// An offer as Asterisk/Linphone-style phones send it: G.729 first, video.
const phoneOffer = "v=0\r\n" +
	"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n" +
	"s=call\r\n" +
	"c=IN IP4 192.0.2.10\r\n" +
	"t=0 0\r\n" +
	"m=audio 49170 RTP/AVP 18 0 8 101\r\n" +
	"a=rtpmap:18 G729/8000\r\n" +
	"a=fmtp:18 annexb=no\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=fmtp:101 0-16\r\n" +
	"a=ptime:20\r\n" +
	"a=sendrecv\r\n" +
	"m=video 51372 RTP/AVP 96\r\n" +
	"a=rtpmap:96 H264/90000\r\n"

func caps() Capabilities {
	return Capabilities{Addr: netip.MustParseAddr("127.0.0.1"), Port: 10000, TelephoneEvent: true}
}

func TestParsePhoneOffer(t *testing.T) {
	s, err := Parse([]byte(phoneOffer))
	if err != nil {
		t.Fatal(err)
	}
	if s.Origin.Username != "alice" || s.Origin.SessionID != 2890844526 || s.Conn != netip.MustParseAddr("192.0.2.10") {
		t.Errorf("origin/conn: %+v %v", s.Origin, s.Conn)
	}
	if len(s.Media) != 2 {
		t.Fatalf("media: %d", len(s.Media))
	}
	m := s.Media[0]
	if m.Port != 49170 || m.Proto != "RTP/AVP" || strings.Join(m.Formats, ",") != "18,0,8,101" {
		t.Errorf("m=: %+v", m)
	}
	if m.Ptime != 20 || m.Direction != SendRecv || m.FMTP[101] != "0-16" || m.FMTP[18] != "annexb=no" {
		t.Errorf("attributes: ptime %d dir %v fmtp %v", m.Ptime, m.Direction, m.FMTP)
	}
	if r, ok := m.RTPMapFor(101); !ok || r.Name != "telephone-event" || r.Rate != 8000 {
		t.Errorf("rtpmap 101: %+v", r)
	}
}

func TestAnswerPicksOffererOrderAndDeclinesVideo(t *testing.T) {
	offer, _ := Parse([]byte(phoneOffer))
	ans, neg, err := Answer(offer, caps())
	if err != nil {
		t.Fatal(err)
	}
	// G.729 is not ours; the offerer prefers PCMU over PCMA.
	if neg.Codec != PCMU || neg.PT != 0 || !neg.Events || neg.EventPT != 101 {
		t.Errorf("negotiated %+v", neg)
	}
	if neg.Remote != netip.MustParseAddrPort("192.0.2.10:49170") || neg.RemoteRTCP != netip.MustParseAddrPort("192.0.2.10:49171") {
		t.Errorf("remote %v rtcp %v", neg.Remote, neg.RemoteRTCP)
	}
	if len(ans.Media) != 2 || ans.Media[1].Port != 0 || ans.Media[1].Type != "video" {
		t.Fatalf("video must be declined with port 0 (RFC 3264 §6): %+v", ans.Media)
	}
	out := string(ans.Marshal())
	for _, want := range []string{"m=audio 10000 RTP/AVP 0 101\r\n", "a=rtpmap:101 telephone-event/8000\r\n", "a=fmtp:101 0-16\r\n", "m=video 0 RTP/AVP 96\r\n", "c=IN IP4 127.0.0.1\r\n", "a=sendrecv\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("answer lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "G729") {
		t.Errorf("answer must not list G729:\n%s", out)
	}
	// The answer parses back to the same thing.
	back, err := Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Marshal(), ans.Marshal()) {
		t.Errorf("marshal round trip differs:\n%s\n%s", back.Marshal(), out)
	}
}

func TestAnswerRestrictedCodec(t *testing.T) {
	offer, _ := Parse([]byte(phoneOffer))
	c := caps()
	c.Codecs = []string{PCMA} // trunksideCodec
	_, neg, err := Answer(offer, c)
	if err != nil || neg.Codec != PCMA || neg.PT != 8 {
		t.Fatalf("got %+v %v", neg, err)
	}
}

func TestAnswerNotAcceptableSaysWhy(t *testing.T) {
	offer, _ := Parse([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\na=rtpmap:9 G722/8000\r\n"))
	_, _, err := Answer(offer, caps())
	if !errors.Is(err, ErrNotAcceptable) {
		t.Fatalf("want ErrNotAcceptable, got %v", err)
	}
	for _, want := range []string{"G729/8000", "G722/8000", "PCMA, PCMU"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestHoldDirections(t *testing.T) {
	for _, tc := range []struct {
		offerDir string
		want     Direction
	}{
		{"a=sendonly\r\n", RecvOnly},
		{"a=recvonly\r\n", SendOnly},
		{"a=inactive\r\n", Inactive},
		{"", SendRecv},
	} {
		offer, err := Parse([]byte("v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n" + tc.offerDir))
		if err != nil {
			t.Fatal(err)
		}
		ans, neg, err := Answer(offer, caps())
		if err != nil {
			t.Fatal(err)
		}
		if neg.Direction != tc.want || ans.Media[0].Direction != tc.want {
			t.Errorf("offer %q: answer direction %v, want %v", tc.offerDir, neg.Direction, tc.want)
		}
	}
	// A session-level attribute applies to streams without their own.
	offer, err := Parse([]byte("v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=sendonly\r\nm=audio 4000 RTP/AVP 8\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, neg, err := Answer(offer, caps()); err != nil || neg.Direction != RecvOnly {
		t.Errorf("session-level sendonly: %v %v", neg.Direction, err)
	}
	// RFC 2543 hold: c=0.0.0.0 means we must not send.
	offer, _ = Parse([]byte("v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"))
	_, neg, err := Answer(offer, caps())
	if err != nil || neg.Direction.Sends() {
		t.Errorf("c=0.0.0.0 hold: direction %v err %v", neg.Direction, err)
	}
	// We put the far end on hold.
	c := caps()
	c.Direction = SendOnly
	off, _ := Offer(c)
	if !strings.Contains(string(off.Marshal()), "a=sendonly\r\n") {
		t.Errorf("hold offer lacks a=sendonly:\n%s", off.Marshal())
	}
}

func TestSRTPOfferAnswerNegotiate(t *testing.T) {
	for _, suite := range Suites {
		c := caps()
		c.SRTP = SRTPRequired
		c.Suites = []string{suite}
		offer, err := Offer(c)
		if err != nil {
			t.Fatal(err)
		}
		wire := offer.Marshal()
		if !strings.Contains(string(wire), "m=audio 10000 RTP/SAVP 8 0 101\r\n") || !strings.Contains(string(wire), "a=crypto:1 "+suite+" inline:") {
			t.Fatalf("offer:\n%s", wire)
		}
		parsed, err := Parse(wire)
		if err != nil {
			t.Fatal(err)
		}
		b := caps()
		b.Port = 20000
		b.SRTP = SRTPOptional
		ans, negB, err := Answer(parsed, b)
		if err != nil {
			t.Fatal(err)
		}
		if negB.SRTP == nil || negB.SRTP.Suite != suite || len(negB.SRTP.LocalKey) != KeyLen(suite) {
			t.Fatalf("answerer keys %+v", negB.SRTP)
		}
		ansParsed, err := Parse(ans.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		negA, err := Negotiate(offer, ansParsed)
		if err != nil {
			t.Fatal(err)
		}
		// Each side decrypts with the other's encryption key.
		if !bytes.Equal(negA.SRTP.LocalKey, negB.SRTP.RemoteKey) || !bytes.Equal(negA.SRTP.RemoteKey, negB.SRTP.LocalKey) {
			t.Errorf("%s: keys do not cross", suite)
		}
		if bytes.Equal(negA.SRTP.LocalKey, negA.SRTP.RemoteKey) {
			t.Errorf("%s: both directions use one key", suite)
		}
		if negA.Codec != PCMA || negA.Remote.Port() != 20000 || !negA.Events {
			t.Errorf("offerer negotiated %+v", negA)
		}
	}
}

func TestSRTPPolicies(t *testing.T) {
	plain := "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
	savp := "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 8\r\n" +
		"a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:" + strings.Repeat("A", 62) + "==\r\n" +
		"a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n" +
		"a=crypto:5 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20\r\n"
	p, _ := Parse([]byte(plain))
	c := caps()
	c.SRTP = SRTPRequired
	if _, _, err := Answer(p, c); !errors.Is(err, ErrNotAcceptable) || !strings.Contains(err.Error(), "SRTP is required") {
		t.Errorf("plain offer to SRTP-required: %v", err)
	}
	s, err := Parse([]byte(savp))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Answer(s, caps()); !errors.Is(err, ErrNotAcceptable) || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("SAVP offer to SRTP-off: %v", err)
	}
	c.SRTP = SRTPOptional
	ans, neg, err := Answer(s, c)
	if err != nil {
		t.Fatal(err)
	}
	// Tag 3 is AES-256 (not ours), tag 4 has an MKI: tag 5 is taken.
	if neg.SRTP == nil || ans.Media[0].Crypto[0].Tag != 5 || neg.SRTP.Suite != SuiteAES128SHA1_32 {
		t.Errorf("picked %+v", ans.Media[0].Crypto)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no v= line"},
		{"v=1\r\n", "v="},
		{"x=0\r\n", "first line must be v="},
		{"v=0\r\no=a b\r\n", "o= needs 6 fields"},
		{"v=0\r\nc=IN IP4 nonsense\r\n", "c= address"},
		{"v=0\r\nc=IN IP4 ::1\r\n", "does not match IP4"},
		{"v=0\r\nm=audio 99999 RTP/AVP 0\r\n", "m= port"},
		{"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:300 X/8000\r\n", "a=rtpmap payload type"},
		{"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/zero\r\n", "clock rate"},
		{"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=ptime:-1\r\n", "a=ptime"},
		{"v=0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n", "key is 3 bytes, want 30"},
		{"v=0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 key:AAAA\r\n", "inline"},
		{"v=0\r\ngarbage\r\n", "not type=value"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
}

func TestCapabilitiesValidated(t *testing.T) {
	c := caps()
	c.Codecs = []string{"G729"}
	if _, err := Offer(c); err == nil || !strings.Contains(err.Error(), "Codecs") {
		t.Errorf("bad codec: %v", err)
	}
	c = caps()
	c.Port = 0
	if _, err := Offer(c); err == nil || !strings.Contains(err.Error(), "Port") {
		t.Errorf("bad port: %v", err)
	}
	c = caps()
	c.Addr = netip.MustParseAddr("0.0.0.0")
	if _, err := Offer(c); err == nil || !strings.Contains(err.Error(), "unspecified") {
		t.Errorf("0.0.0.0: %v", err)
	}
}

func TestNegotiateRejectsForeignAnswer(t *testing.T) {
	offer, _ := Offer(caps())
	ans, _ := Parse([]byte("v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"))
	if _, err := Negotiate(offer, ans); !errors.Is(err, ErrNotAcceptable) {
		t.Errorf("G729 answer: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(phoneOffer))
	f.Add([]byte("v=0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			return
		}
		// What parses must marshal and parse again, and answering must not panic.
		if _, err := Parse(s.Marshal()); err != nil {
			t.Fatalf("re-parse of marshalled description: %v\n%s", err, s.Marshal())
		}
		c := caps()
		c.SRTP = SRTPOptional
		if ans, _, err := Answer(s, c); err == nil {
			if _, err := Parse(ans.Marshal()); err != nil {
				t.Fatalf("answer does not parse: %v", err)
			}
		}
	})
}

func TestAnswerAcceptsRedundantEventsOnly(t *testing.T) {
	base := "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 101 100\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=rtpmap:100 red/8000\r\n"
	offer, _ := Parse([]byte(base + "a=fmtp:100 101/101/101\r\n"))
	ans, neg, err := Answer(offer, caps())
	if err != nil || !neg.Red || neg.RedPT != 100 {
		t.Fatalf("red of events: %+v %v", neg, err)
	}
	if out := string(ans.Marshal()); !strings.Contains(out, "a=rtpmap:100 red/8000\r\na=fmtp:100 101/101/101\r\n") {
		t.Errorf("answer:\n%s", out)
	}
	// Redundant audio is declined (only the codec and events are answered).
	offer, _ = Parse([]byte(base + "a=fmtp:100 8/101\r\n"))
	ans, neg, err = Answer(offer, caps())
	if err != nil || neg.Red || strings.Contains(string(ans.Marshal()), "red") {
		t.Errorf("red of audio accepted: %+v %v", neg, err)
	}
}

// FuzzNegotiate feeds arbitrary answers to an offer we made: whatever is
// accepted must be usable by the RTP session.
func FuzzNegotiate(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n"))
	f.Add([]byte("v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n" +
		"a=crypto:2 AEAD_AES_128_GCM inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3OA==\r\n"))
	c := caps()
	c.SRTP = SRTPOptional
	offer, err := Offer(c)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ans, err := Parse(b)
		if err != nil {
			return
		}
		neg, err := Negotiate(offer, ans)
		if err != nil {
			if !errors.Is(err, ErrNotAcceptable) {
				t.Fatalf("error not ErrNotAcceptable: %v", err)
			}
			return
		}
		if neg.Codec != PCMA && neg.Codec != PCMU {
			t.Fatalf("codec %q", neg.Codec)
		}
		if !neg.Remote.Addr().IsValid() {
			t.Fatalf("remote %v", neg.Remote)
		}
		if k := neg.SRTP; k != nil && (len(k.LocalKey) != KeyLen(k.Suite) || len(k.RemoteKey) != KeyLen(k.Suite)) {
			t.Fatalf("SRTP %s keys %d/%d bytes", k.Suite, len(k.LocalKey), len(k.RemoteKey))
		}
	})
}

// TestSRTPKeyKeptAcrossReoffers: a re-offer with the same a=crypto (hold,
// resume, a session refresh) is answered with the same key; a peer that
// changes its key or tag gets a new one, and our own re-offer keeps ours.
func TestSRTPKeyKeptAcrossReoffers(t *testing.T) {
	a := caps()
	a.SRTP = SRTPRequired
	first, err := Offer(a)
	if err != nil {
		t.Fatal(err)
	}
	b := caps()
	b.SRTP = SRTPOptional
	_, neg, err := Answer(first, b)
	if err != nil {
		t.Fatal(err)
	}
	b.Keys = neg.SRTP
	hold := *first
	hold.Media = []Media{first.Media[0]}
	hold.Media[0].Direction = SendOnly
	_, neg2, err := Answer(&hold, b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(neg2.SRTP.LocalKey, neg.SRTP.LocalKey) || neg2.Direction != RecvOnly {
		t.Fatalf("hold re-offer with the same crypto: key changed (%x -> %x) or direction %v", neg.SRTP.LocalKey, neg2.SRTP.LocalKey, neg2.Direction)
	}
	// The peer rekeys: so do we.
	rekey := hold
	rekey.Media = []Media{hold.Media[0]}
	rekey.Media[0].Crypto = []Crypto{{Tag: 1, Suite: SuiteAES128SHA1_80, Key: bytes.Repeat([]byte{7}, 30)}}
	_, neg3, err := Answer(&rekey, b)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(neg3.SRTP.LocalKey, neg.SRTP.LocalKey) || !bytes.Equal(neg3.SRTP.RemoteKey, rekey.Media[0].Crypto[0].Key) {
		t.Fatal("the peer changed its key and ours stayed the same")
	}
	// Same key under another tag is a new line (RFC 4568 §7.1.4): new key.
	retag := hold
	retag.Media = []Media{hold.Media[0]}
	retag.Media[0].Crypto = []Crypto{first.Media[0].Crypto[0]}
	retag.Media[0].Crypto[0].Tag = 9
	if _, n, _ := Answer(&retag, b); bytes.Equal(n.SRTP.LocalKey, neg.SRTP.LocalKey) {
		t.Fatal("a new tag kept the old key")
	}
	// Our own re-offer keeps our key for the negotiated suite only.
	a.Keys = &SRTPKeys{Tag: 1, Suite: SuiteAES128SHA1_80, LocalKey: first.Media[0].Crypto[0].Key}
	re, err := Offer(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range re.Media[0].Crypto {
		if same := bytes.Equal(c.Key, a.Keys.LocalKey); same != (c.Suite == SuiteAES128SHA1_80) {
			t.Fatalf("re-offer %s kept key: %v", c.Suite, same)
		}
	}
}
