package engine

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
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

// keyOf is the key of suite in the SDP body.
func keyOf(t *testing.T, body []byte, suite string) string {
	t.Helper()
	s, err := sdp.Parse(body)
	if err == nil && len(s.Media) > 0 {
		for _, c := range s.Media[0].Crypto {
			if c.Suite == suite {
				return string(c.Key)
			}
		}
	}
	t.Fatalf("no %s key (%v) in\n%s", suite, err, body)
	return ""
}

// TestReInviteKeepsSRTPKey: hold, resume and a session refresh with the
// same a=crypto keep our key; a peer that rekeys gets a new one.
func TestReInviteKeepsSRTPKey(t *testing.T) {
	calls := make(chan *Call, 1)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/srtp", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
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
// says (here a provisioned device in a trusted network). A deviceid device
// outside a trusted network reaches no device at all.
func TestCalleeLegHeaders(t *testing.T) {
	dir := NewStaticDirectory()
	dir.PutDevice(testDomain, Device{DeviceID: "2001", AuthType: "credentials", Password: "pw-2001"})
	dir.PutDevice(testDomain, Device{DeviceID: "2002", AuthType: "deviceid"})
	dir.PutDevice(testDomain, Device{DeviceID: "2003", AuthType: "deviceid"})
	if err := dir.SetTrusted(testDomain, "127.0.0.1/32", "127.0.0.2/32"); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, WithDirectory(dir))
	callee := udpPeerAt(t, e, "127.0.0.2") // a deviceid device registers from a trusted network only
	contact := "sip:2002-a1b2@" + callee.addr() + ";ob"
	callee.registerTrusted("2002", "2002", contact)
	for _, tc := range []struct {
		caller, ip string
		pai        bool
	}{{"2001", "127.0.0.1", true}, {"2003", "127.0.0.2", true}} {
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
		}
		callee.refuse(inv, 486, "Busy Here")
		// The callee never rang: the caller hears no 180 either.
		for {
			r := caller.recv(true)
			if r.StatusCode == 180 || r.StatusCode == 183 {
				t.Fatalf("caller got %d though the callee never rang", r.StatusCode)
			}
			if r.StatusCode >= 200 {
				if r.StatusCode != 486 {
					t.Fatalf("caller got %d, want the callee's 486", r.StatusCode)
				}
				break
			}
		}
	}
	outside := udpPeerAt(t, e, "127.0.0.3")
	outside.inviteFrom("2003", "2002", "hdr-outside")
	if r := outside.recv(false); r.StatusCode != 403 || !strings.Contains(r.GetHeader("Reason").Value(), "alarm services only") {
		t.Fatalf("deviceid caller outside the trusted networks: %d %v, want 403 alarm services only", r.StatusCode, r.GetHeader("Reason"))
	}
}

// refuse answers the INVITE inv with code and waits for the ACK.
func (p *peer) refuse(inv *sip.Request, code int, reason string) {
	p.t.Helper()
	res := sip.NewResponseFromRequest(inv, code, reason, nil)
	res.To().Params.Add("tag", "refused")
	p.conn.WriteTo([]byte(res.String()), p.to)
	p.recvRequest("ACK", 5*time.Second)
}

// TestSRTPPolicyPerLeg: the offer to the callee follows the caller (SRTP
// required, offered, or none) unless the callee's srtp setting says
// otherwise; a caller who requires SRTP is refused with 488 and a Reason
// rather than carried in clear, and a device whose setting is mandatory
// cannot call in clear. Refusals come before the callee is rung.
func TestSRTPPolicyPerLeg(t *testing.T) {
	dir := NewStaticDirectory()
	for id, mode := range map[string]string{"4001": "", "4002": SRTPOff, "4003": SRTPMandatory, "4004": SRTPOptional} {
		dir.PutDevice(testDomain, Device{DeviceID: id, AuthType: "deviceid", SRTP: mode})
	}
	dir.PutDevice(testDomain, Device{DeviceID: "4100", AuthType: "deviceid"})
	dir.PutDevice(testDomain, Device{DeviceID: "4101", AuthType: "deviceid", SRTP: SRTPMandatory})
	dir.SetTrusted(testDomain, "127.0.0.0/8") // deviceid devices register and call from a trusted network only
	e := startEngine(t, WithDirectory(dir))
	callee := udpPeerAt(t, e, "127.0.0.2")
	for _, id := range []string{"4001", "4002", "4003", "4004"} {
		callee.registerTrusted(id, id, "sip:"+id+"@"+callee.addr())
	}
	key := "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyBh"[:40]
	savp := srtpSDP("1", "sendrecv", key)
	avpCrypto := strings.Replace(savp, "RTP/SAVP", "RTP/AVP", 1)
	for i, tc := range []struct {
		from, to, offer string
		proto           string // of the INVITE to the callee; "" when refused first
		crypto          bool
		code            int // to the caller
		reason          string
	}{
		{"4100", "4001", savp, "RTP/SAVP", true, 486, ""},
		{"4100", "4001", avpCrypto, "RTP/AVP", true, 486, ""},
		{"4100", "4001", testSDP, "RTP/AVP", false, 486, ""},
		{"4100", "4002", avpCrypto, "RTP/AVP", false, 486, ""},
		{"4100", "4002", savp, "", false, 488, "srtp setting is off"},
		{"4100", "4003", testSDP, "RTP/SAVP", true, 486, ""},
		{"4100", "4004", testSDP, "RTP/AVP", true, 486, ""},
		{"4100", "4004", savp, "RTP/SAVP", true, 486, ""},
		{"4101", "4001", testSDP, "", false, 488, "SRTP is required"},
		{"4100", "4001", savp, "RTP/SAVP", true, 488, "requires SRTP"}, // the callee cannot
	} {
		caller := udpPeerAt(t, e, "127.0.0.3")
		callID := "pol-" + strconv.Itoa(i)
		caller.inviteAs(tc.from, tc.to, callID, "", tc.offer)
		if tc.proto != "" {
			inv := callee.recvRequest("INVITE", 5*time.Second)
			s, err := sdp.Parse(inv.Body())
			if err != nil || len(s.Media) != 1 {
				t.Fatalf("case %d: offer to the callee: %v\n%s", i, err, inv.Body())
			}
			if m := s.Media[0]; m.Proto != tc.proto || (len(m.Crypto) > 0) != tc.crypto {
				t.Fatalf("case %d (%s to %s): callee offered %s with %d a=crypto, want %s crypto=%v", i, tc.from, tc.to, m.Proto, len(m.Crypto), tc.proto, tc.crypto)
			}
			if tc.code == 488 {
				callee.refuse(inv, 488, "Not Acceptable Here")
			} else {
				callee.refuse(inv, 486, "Busy Here")
			}
		}
		r := caller.recv(false)
		caller.ack(r)
		if r.StatusCode != tc.code {
			t.Fatalf("case %d: caller got %d, want %d", i, r.StatusCode, tc.code)
		}
		if tc.reason != "" {
			if h := r.GetHeader("Reason"); h == nil || !strings.Contains(h.Value(), tc.reason) {
				t.Fatalf("case %d: Reason %v, want one saying %q", i, h, tc.reason)
			}
		}
	}
}

// registerContact registers user at e with the Contact host:port (a SIPp
// callee standing in for the device), from a trusted loopback peer, as a
// deviceid device (one with a secret is always challenged).
func registerContact(t *testing.T, e *Engine, user string, port int) {
	t.Helper()
	if d, ok := e.dir.(*StaticDirectory); ok {
		if _, err := d.Device(testDomain, user); err != nil {
			d.PutDevice(testDomain, Device{DeviceID: user, AuthType: "deviceid"})
		}
	}
	newPeer(t, e).registerTrusted(user, user, "sip:"+user+"@127.0.0.1:"+strconv.Itoa(port))
}

// TestEarlyMediaRelayed: the callee (SIPp) rings, then sends 183 with SDP
// and plays audio before it answers; the caller gets the 180 and a 183 with
// the gateway's SDP, and the callee's audio on its RTP port before the 200.
func TestEarlyMediaRelayed(t *testing.T) {
	wd := t.TempDir()
	// Its media ports (audio, RTCP, video) reserved, not just free a moment ago:
	// the later -mp wins over the harness's.
	mp, _ := testkit.PortRange(t, 4)
	uas := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_early.xml", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "EARLY_MS", "2000"),
		"-m", "1", "-mp", strconv.Itoa(mp))
	e := startEngine(t, WithDirectory(trustedLoopback(t)), WithStore(openStore(t)))
	registerContact(t, e, "3001", uas.Port)

	rtp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	var got atomic.Int64 // RTP packets with audio that is not silence
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := rtp.ReadFrom(buf)
			if err != nil {
				return
			}
			if n > 12 && buf[1]&0x7f == 8 && !silentALaw(buf[12:n]) {
				got.Add(1)
			}
		}
	}()
	port := rtp.LocalAddr().(*net.UDPAddr).Port
	caller := newPeer(t, e)
	caller.inviteSDP("3001", "early-1", "", strings.Replace(testSDP, "m=audio 40000", "m=audio "+strconv.Itoa(port), 1))
	var codes []int
	var early int64
	var out *Call
	for {
		res := caller.recv(true)
		codes = append(codes, res.StatusCode)
		if res.StatusCode == 183 && !strings.Contains(string(res.Body()), "m=audio") {
			t.Fatalf("183 without the gateway's SDP:\n%s", res)
		}
		if res.StatusCode >= 200 {
			early = got.Load()
			if res.StatusCode != 200 {
				t.Fatalf("responses %v", codes)
			}
			caller.ackOK(res, "3001")
			_, out = legs(t, e)
			caller.inDialog(res, "BYE", 2, "", "")
			break
		}
	}
	if !slices.Contains(codes, 180) || !slices.Contains(codes, 183) || slices.Index(codes, 180) > slices.Index(codes, 183) {
		t.Fatalf("responses %v: want the callee's 180, then its 183", codes)
	}
	// Nothing is sent to the caller before the answer but the relayed early
	// media: about 1.7 s of the callee's speech sample (some of it pauses).
	if early < 20 {
		t.Fatalf("%d audio packets reached the caller before the answer, want the callee's early media (callee leg received %d packets)\n%s",
			early, out.Session().Stats().PacketsReceived, uas.Report())
	}
	if err := uas.Wait(10 * time.Second); err != nil {
		t.Fatalf("sipp callee: %v\n%s", err, uas.Report())
	}
	// Both legs decode cleanly, the 183 with its SDP on each.
	for _, id := range []string{"early-1", out.ID} {
		if got := decodesClean(t, e, id, "sip.Status-Code", "sdp.media.proto"); !strings.Contains(got, "183\tRTP/AVP") {
			t.Fatalf("call %s as tshark reads it, want a 183 with SDP:\n%s", id, got)
		}
	}
}

// silentALaw says whether a PCMA payload is (near) silence.
func silentALaw(p []byte) bool {
	for _, b := range p {
		if v := b ^ 0x55; v&0x70 > 0x10 {
			return false
		}
	}
	return true
}

// keyBackHandler answers, waits for key want on the call and answers it
// with key back, keeping the stream going.
type keyBackHandler struct {
	want, back byte
	heard      chan byte
}

func (h *keyBackHandler) HandleCall(ctx context.Context, c *Call) {
	if c.Answer() != nil {
		return
	}
	s := c.Session()
	pcm := make([]int16, 160)
	sent := false
	for ctx.Err() == nil {
		if err := s.ReadFrame(pcm); err != nil {
			return
		}
		select {
		case ev := <-s.Digits():
			h.heard <- ev.Key
			if ev.Key == h.want && !sent {
				sent = true
				_ = s.SendDigit(h.back, 160)
			}
		default:
		}
		_ = s.WriteFrame(make([]int16, 160))
	}
}

// TestINFODTMFTranslated: a caller (SIPp) sends key 5 as SIP INFO; the
// gateway passes it on as RFC 4733 through a trunk to a second engine, whose
// answer key 7 comes back to the caller as an INFO.
func TestINFODTMFTranslated(t *testing.T) {
	h := &keyBackHandler{want: '5', back: '7', heard: make(chan byte, 8)}
	far := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/keys", "2833", h))
	dir := trustedLoopback(t)
	f := false
	dir.SetTrunks(testDomain, []Trunk{{TrunkID: "far", DestinationTarget: far.Addr(), DestinationTransport: "udp",
		DestinationMatch: "^5", KeepAlive: &f}})
	e := startEngine(t, WithDirectory(dir), WithStore(openStore(t)))
	wd := t.TempDir()
	uac := testkit.StartSIPp(t, wd, false, target(e), "-sf", testkit.SIPpScenario(t, wd, "uac_info.xml"), "-s", "5100", "-m", "1")
	select {
	case k := <-h.heard:
		if k != '5' {
			t.Fatalf("far end heard %q, want the INFO key 5 as RFC 4733", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the INFO key never reached the far end\n%s", uac.Report())
	}
	if n := h.heard; len(n) > 0 {
		t.Fatalf("far end heard more keys: %d", len(n))
	}
	if err := uac.Wait(15 * time.Second); err != nil {
		t.Fatalf("sipp caller (expects key 7 back as INFO): %v\n%s", err, uac.Report())
	}
	// The INFOs both ways decode cleanly. sipgo hands the engine a message
	// it sent only once the write has returned, and the log is written in
	// batches: on a loaded machine SIPp may be done before the gateway's
	// INFO is logged, so wait for both.
	var msgs []store.SIPMessage
	testkit.WaitFor(t, "the INFOs both ways in the SIP log", 5*time.Second, func() bool {
		e.FlushSIPLog()
		var err error
		msgs, err = e.db.QuerySIP(testDomain, store.SIPQuery{Pattern: "INFO sip:", Limit: 10})
		return err == nil && len(msgs) >= 2
	})
	if msgs[0].CallID != msgs[1].CallID {
		t.Fatalf("the INFOs are in calls %s and %s, want both in the caller's", msgs[0].CallID, msgs[1].CallID)
	}
	if got := decodesClean(t, e, msgs[0].CallID, "sip.Method", "sip.msg_body"); strings.Count(got, "INFO") < 2 {
		t.Fatalf("the caller's leg as tshark reads it, want INFO both ways:\n%s", got)
	}
}

// answerWith answers the INVITE inv with 200 and body (SDP), tag as To tag.
func (p *peer) answerWith(inv *sip.Request, tag, body string) {
	p.t.Helper()
	body = strings.ReplaceAll(body, "\n", "\r\n")
	res := sip.NewResponseFromRequest(inv, 200, "OK", []byte(body))
	if _, ok := res.To().Params.Get("tag"); !ok {
		res.To().Params.Add("tag", tag)
	}
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "b", Host: "127.0.0.2", Port: p.conn.LocalAddr().(*net.UDPAddr).Port}})
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	p.conn.WriteTo([]byte(res.String()), p.to)
}

// TestHoldRelayedWithStableKeys: the caller puts an SRTP call on hold and
// resumes it; each time the callee gets a re-INVITE with the same direction
// (sendonly, then sendrecv) and the same key as before.
func TestHoldRelayedWithStableKeys(t *testing.T) {
	dir := trustedLoopback(t, "5001")
	dir.SetTrusted(testDomain, "127.0.0.0/8") // the callee registers from 127.0.0.2
	e := startEngine(t, WithDirectory(dir))
	callee := udpPeerAt(t, e, "127.0.0.2")
	callee.registerTrusted("5001", "5001", "sip:5001@"+callee.addr())
	keyA := "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyBh"[:40]
	keyB := "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn"[:40]
	caller := newPeer(t, e)
	caller.inviteSDP("5001", "hold-relay", "", srtpSDP("1", "sendrecv", keyA))
	inv := callee.recvRequest("INVITE", 5*time.Second)
	offerKey := keyOf(t, inv.Body(), sdp.SuiteAES128SHA1_80)
	bSDP := func(v, dir string) string {
		return strings.Replace(strings.Replace(srtpSDP(v, dir, keyB), "40000", "41000", 1), "127.0.0.1", "127.0.0.2", -1)
	}
	callee.answerWith(inv, "b1", bSDP("1", "sendrecv"))
	callee.recvRequest("ACK", 5*time.Second)
	res := caller.recv(false)
	if res.StatusCode != 200 {
		t.Fatalf("call: %d", res.StatusCode)
	}
	caller.ackOK(res, "5001")
	for i, step := range []struct{ dir, want, bAns string }{
		{"sendonly", "a=sendonly", "recvonly"},
		{"sendrecv", "a=sendrecv", "sendrecv"},
	} {
		caller.inDialog(res, "INVITE", 2+i, "", srtpSDP(strconv.Itoa(2+i), step.dir, keyA))
		if r := caller.recv(false); r.StatusCode != 200 {
			t.Fatalf("%s re-INVITE: %d", step.dir, r.StatusCode)
		}
		re := callee.recvRequest("INVITE", 5*time.Second)
		if !strings.Contains(string(re.Body()), step.want) {
			t.Fatalf("%s not relayed: callee's re-INVITE\n%s", step.dir, re.Body())
		}
		if k := keyOf(t, re.Body(), sdp.SuiteAES128SHA1_80); k != offerKey {
			t.Fatalf("%s: the callee leg's key changed\n%s\n%s", step.dir, offerKey, k)
		}
		callee.answerWith(re, "b1", bSDP(strconv.Itoa(2+i), step.bAns))
		ack := callee.recvRequest("ACK", 5*time.Second)
		if ack.CSeq().SeqNo != re.CSeq().SeqNo {
			t.Fatalf("ACK CSeq %d for re-INVITE %d", ack.CSeq().SeqNo, re.CSeq().SeqNo)
		}
	}
}

func TestParseInfoDTMF(t *testing.T) {
	for _, tc := range []struct {
		ctype, body string
		key         byte
		ms          int
		ok          bool
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160, true},
		{"Application/DTMF-Relay; charset=x", "signal= #\nduration=250", '#', 250, true},
		{"application/dtmf-relay", "Signal=10\r\n", '*', 100, true},
		{"application/dtmf-relay", "Signal=d\r\nDuration=99999", 'D', 5000, true},
		{"application/dtmf", "7", '7', 100, true},
		{"application/dtmf-relay", "Signal=55\r\n", 0, 0, false},
		{"application/dtmf-relay", "Duration=160", 0, 0, false},
		{"application/sdp", "Signal=5", 0, 0, false},
		{"application/dtmf", "x", 0, 0, false},
	} {
		k, ms, ok := parseInfoDTMF(tc.ctype, []byte(tc.body))
		if k != tc.key || ms != tc.ms || ok != tc.ok {
			t.Errorf("%q %q: %q %d %v, want %q %d %v", tc.ctype, tc.body, k, ms, ok, tc.key, tc.ms, tc.ok)
		}
	}
}

func FuzzParseInfoDTMF(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		k, ms, ok := parseInfoDTMF(ctype, body)
		if ok && (ms <= 0 || ms > 5000 || !strings.ContainsRune("0123456789*#ABCD", rune(k))) {
			t.Fatalf("%q %q: key %q %d ms", ctype, body, k, ms)
		}
	})
}
