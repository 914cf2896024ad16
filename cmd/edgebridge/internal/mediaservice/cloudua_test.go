package mediaservice

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/pcap"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// uaRig is a rig with a cloud SIP UA (destinationMatch "^ua") written over
// REST, its callbacks signed with key.
type uaRig struct {
	*rig
	key *rsa.PrivateKey
}

func newUARig(t *testing.T) *uaRig {
	r := &uaRig{rig: newRig(t)}
	var err error
	if r.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(r.key)})
	doc, _ := json.Marshal(map[string]any{
		"name": "UA", "destinationMatch": "^ua", "callbackBaseUrl": r.app.srv.URL + "/ivr", "callbackTimeout": 5000,
		"restAuthentication": []any{map[string]any{"type": "RS256", "secret": string(keyPEM), "sub": "gateway"}},
	})
	if st, body := r.rest("PUT", "/provisioning/cloudsipua/"+testDomain+"/ua1", "application/json", doc); st != 200 {
		t.Fatalf("cloudsipua PUT: %d %v", st, body)
	}
	return r
}

func (r *uaRig) verifyJWT(auth string) error {
	tok, _ := strings.CutPrefix(auth, "Bearer ")
	_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &r.key.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"}))
	return err
}

// waitCallback waits for the n-th callback named name and returns its body.
func (r *rig) waitCallback(name string, n int) map[string]any {
	r.t.Helper()
	if !testkit.Eventually(10*time.Second, func() bool { return len(r.app.got(name)) >= n }) {
		r.app.mu.Lock()
		defer r.app.mu.Unlock()
		r.t.Fatalf("no %s #%d; the application got %+v", name, n, r.app.reqs)
	}
	return r.app.got(name)[n-1].body
}

// rtpPeer is the application's RTP endpoint: it sends a tone and hears
// what comes back, over SRTP when given keys.
type rtpPeer struct {
	t     *testing.T
	conn  *net.UDPConn
	pt    uint8 // 8 PCMA, 0 PCMU
	tx    *srtp.Context
	rx    *srtp.Context
	mu    sync.Mutex
	heard []int16
	bad   int // packets that did not decrypt or parse
}

func newRTPPeer(t *testing.T, pt uint8) *rtpPeer {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &rtpPeer{t: t, conn: c, pt: pt}
	t.Cleanup(func() { c.Close() })
	go p.recv()
	return p
}

func (p *rtpPeer) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func srtpContext(t *testing.T, key []byte) *srtp.Context {
	c, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *rtpPeer) recv() {
	buf := make([]byte, 1500)
	pcm := make([]int16, 160)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		p.mu.Lock()
		if p.rx != nil {
			if pkt, err = p.rx.DecryptRTP(nil, pkt, nil); err != nil {
				p.bad++
				p.mu.Unlock()
				continue
			}
		}
		var r rtp.Packet
		if r.Unmarshal(pkt) != nil || r.PayloadType != p.pt || len(r.Payload) > len(pcm) {
			if r.PayloadType < 96 {
				p.bad++
			}
			p.mu.Unlock()
			continue
		}
		if p.pt == 0 {
			dsp.UlawDecode(pcm, r.Payload)
		} else {
			dsp.AlawDecode(pcm, r.Payload)
		}
		p.heard = append(p.heard, pcm[:len(r.Payload)]...)
		p.mu.Unlock()
	}
}

// sendTone sends ms of a freq Hz tone to dst, paced at 20 ms a packet.
func (p *rtpPeer) sendTone(dst netip.AddrPort, freq float64, ms int) {
	pcm, pay := make([]int16, 160), make([]byte, 160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range ms / 20 {
		for j := range pcm {
			pcm[j] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i*160+j)/8000))
		}
		if p.pt == 0 {
			dsp.UlawEncode(pay, pcm)
		} else {
			dsp.AlawEncode(pay, pcm)
		}
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.pt, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 0x5eed}, Payload: pay}
		b, _ := pkt.Marshal()
		if p.tx != nil {
			var err error
			if b, err = p.tx.EncryptRTP(nil, b, nil); err != nil {
				p.t.Error(err)
				return
			}
		}
		p.conn.WriteToUDPAddrPort(b, dst)
		<-tick.C
	}
}

// toneMs is how long freq Hz was heard so far.
func (p *rtpPeer) toneMs(freq float64) int64 {
	p.mu.Lock()
	pcm := append([]int16(nil), p.heard...)
	p.mu.Unlock()
	d, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "tone", Freq1: freq})
	if err != nil {
		p.t.Fatal(err)
	}
	var total int64
	emit := func(e dsp.ToneEvent) {
		if !e.On {
			total += e.DurationMs()
		}
	}
	d.Process(pcm, emit)
	d.Flush(emit)
	return total
}

// roundTrip sends a 1 kHz tone from the application's endpoint to the
// gateway's relay address and waits until most of it came back (the SIP
// party runs SIPp's -rtp_echo).
func (p *rtpPeer) roundTrip(t *testing.T, relayIP string, relayPort float64) {
	t.Helper()
	dst := netip.AddrPortFrom(netip.MustParseAddr(relayIP), uint16(relayPort))
	p.sendTone(dst, 1000, 2000)
	// Most of it: a loaded machine may lose a few packets on the way.
	if !testkit.Eventually(10*time.Second, func() bool { return p.toneMs(1000) >= 800 }) {
		p.mu.Lock()
		heard, bad := len(p.heard), p.bad
		p.mu.Unlock()
		t.Fatalf("the 2 s tone came back for %d ms (%d ms of audio heard, %d packets unusable)", p.toneMs(1000), heard/8, bad)
	}
}

// srtpTonePcap writes a pcap of 2 s of a 1 kHz tone in PCMA, SRTP
// (AES_CM_128_HMAC_SHA1_80) under key, for SIPp's play_pcap_audio.
func srtpTonePcap(t *testing.T, path string, key []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcap.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx := srtpContext(t, key)
	src, dst := netip.MustParseAddrPort("127.0.0.1:30000"), netip.MustParseAddrPort("127.0.0.1:6000")
	pcm, pay := make([]int16, 160), make([]byte, 160)
	at := time.Unix(1700000000, 0)
	for i := range 100 {
		for j := range pcm {
			pcm[j] = int16(8000 * math.Sin(2*math.Pi*1000*float64(i*160+j)/8000))
		}
		dsp.AlawEncode(pay, pcm)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(100 + i),
			Timestamp: uint32(1000 + 160*i), SSRC: 0x1234abcd, Marker: i == 0}, Payload: pay}
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if b, err = ctx.EncryptRTP(nil, b, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(at.Add(time.Duration(i)*20*time.Millisecond), src, dst, b); err != nil {
			t.Fatal(err)
		}
	}
}

func numOf(v any) float64 { f, _ := v.(float64); return f }

// An inbound call to a cloud SIP UA: SIPp calls ua100; newRemoteCall (signed,
// every field); sendremotecallringback gives SIPp its 180;
// answerremotecall with the application's endpoint (PCMU while SIPp sends
// PCMA) gives it the 200; a tone the application sends comes back through
// SIPp's echo; hangupcall sends SIPp the BYE; sessionCompleted follows and
// the replyId is dead.
func TestRemoteCallInbound(t *testing.T) {
	r := newUARig(t)
	wd := t.TempDir()
	r.app.script = func(name string, body map[string]any) (int, any) {
		if name == "newRemoteCall" {
			return 200, map[string]any{"sessionReferenceId": "ref-7"}
		}
		return 200, map[string]any{}
	}
	caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_remote.xml", "PROTO", "RTP/AVP", "CRYPTO", "", "RING", "false", "PLAY", ""),
		"-s", "ua100", "-m", "1", "-rtp_echo", r.eng.Addr())
	nc := r.waitCallback("newRemoteCall", 1)
	if err := r.verifyJWT(r.app.got("newRemoteCall")[0].auth); err != nil {
		t.Errorf("newRemoteCall not signed with the cloud SIP UA's key: %v", err)
	}
	if nc["codec"] != "PCMA" || numOf(nc["telephoneEventPayloadType"]) != 101 || nc["sourceUser"] != "2000" || nc["domain"] != testDomain ||
		!strings.HasPrefix(nc["destinationUri"].(string), "sip:ua100@") || nc["callId"] == "" || nc["sessionId"] == "" || nc["replyId"] == "" ||
		nc["traceId"] == "" || nc["httpTransactionId"] == "" || nc["ivrServer"] != "127.0.0.1" || nc["remoteRtpIp"] != "127.0.0.1" || numOf(nc["remoteRtpPort"]) == 0 {
		t.Errorf("newRemoteCall body %v", nc)
	}
	if _, ok := nc["crypto"]; ok {
		t.Errorf("crypto offered for a plain RTP call: %v", nc["crypto"])
	}
	reply := nc["replyId"].(string)
	if st, b := r.command("sendremotecallringbackjwt", map[string]any{"replyId": reply}); st != 200 {
		t.Fatalf("sendremotecallringbackjwt: %d %v", st, b)
	}
	peer := newRTPPeer(t, 0)
	if st, b := r.command("answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": peer.port(),
		"codec": "PCMU", "telephoneEventPayloadType": 101}); st != 200 || b["success"] != true {
		t.Fatalf("answerremotecall: %d %v", st, b)
	}
	for _, cmd := range []string{"answerremotecall", "sendremotecallringback"} {
		if st, b := r.command(cmd, map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": peer.port()}); st != 409 {
			t.Errorf("%s after the answer: %d %v, want 409", cmd, st, b)
		}
	}
	if st, b := r.command("startrecording", map[string]any{"replyId": reply, "connectionId": "x"}); st != 409 {
		t.Errorf("startrecording with a cloud SIP UA replyId: %d %v, want 409", st, b)
	}
	peer.roundTrip(t, nc["remoteRtpIp"].(string), numOf(nc["remoteRtpPort"]))
	if st, b := r.command("hangupcall", map[string]any{"replyId": reply}); st != 200 {
		t.Fatalf("hangupcall: %d %v", st, b)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (180, 200, BYE expected): %v\n%s", err, caller.Report())
	}
	var ok200 string
	for _, m := range caller.Received() {
		if strings.Contains(m, "SIP/2.0 200 OK") && strings.Contains(m, "INVITE") {
			ok200 = m
		}
	}
	if !strings.Contains(ok200, "m=audio") || strings.Contains(ok200, "a=crypto") {
		t.Errorf("SIPp's 200 OK: %s", ok200)
	}
	sc := r.waitCallback("sessionCompleted", 1)
	if sc["sessionId"] != nc["sessionId"] || sc["reason"] != "hangupcall" || sc["sessionReferenceId"] != "ref-7" || sc["traceId"] != nc["traceId"] {
		t.Errorf("sessionCompleted %v", sc)
	}
	if st, b := r.command("hangupcall", map[string]any{"replyId": reply}); st != 404 {
		t.Errorf("hangupcall after the end: %d %v, want 404", st, b)
	}
	select {
	case a := <-r.alarms:
		t.Errorf("service alarm %+v", a)
	default:
	}
}

// An SRTP caller: newRemoteCall offers the application a key of ours
// (AES_CM_128_HMAC_SHA1_80); answers that do not answer that offer are
// refused 400 naming the crypto field; the right one answers SIPp with
// SRTP (a=crypto in the 200's SDP); SIPp's SRTP tone reaches the
// application's endpoint as SRTP under the offered key.
func TestRemoteCallInboundSRTP(t *testing.T) {
	r := newUARig(t)
	wd := t.TempDir()
	sippKey := make([]byte, 30)
	rand.Read(sippKey)
	// SIPp cannot encrypt: it plays a pcap of SRTP made here with the key
	// its INVITE offers.
	pcapFile := filepath.Join(wd, "srtp-tone.pcap")
	srtpTonePcap(t, pcapFile, sippKey)
	caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_remote.xml", "PROTO", "RTP/SAVP",
		"CRYPTO", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"+base64.StdEncoding.EncodeToString(sippKey), "RING", "true",
		"PLAY", `<nop><action><exec play_pcap_audio="`+pcapFile+`"/></action></nop>`),
		"-s", "ua200", "-m", "1", r.eng.Addr())
	nc := r.waitCallback("newRemoteCall", 1)
	cr, _ := nc["crypto"].([]any)
	if len(cr) != 1 {
		t.Fatalf("newRemoteCall crypto %v, want one offer", nc["crypto"])
	}
	offer := cr[0].(map[string]any)
	cfg, _ := offer["config"].(string)
	ourKey, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(cfg, "inline:"))
	if offer["suite"] != "AES_CM_128_HMAC_SHA1_80" || numOf(offer["id"]) != 1 || err != nil || len(ourKey) != 30 {
		t.Fatalf("crypto offer %v", offer)
	}
	reply := nc["replyId"].(string)
	appKey := make([]byte, 30)
	rand.Read(appKey)
	good := map[string]any{"suite": "AES_CM_128_HMAC_SHA1_80", "id": 1, "config": "inline:" + base64.StdEncoding.EncodeToString(appKey)}
	peer := newRTPPeer(t, 8)
	answer := func(crypto any) (int, map[string]any) {
		body := map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": peer.port()}
		if crypto != nil {
			body["crypto"] = crypto
		}
		return r.command("answerremotecall", body)
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name   string
		crypto any
		reason string
	}{
		{"no crypto", nil, "crypto: the call is SRTP"},
		{"two entries", []any{good, good}, "crypto: the call is SRTP"},
		{"not an array", "x", "crypto: must be an array"},
		{"wrong id", []any{with("id", 2)}, "crypto[0]: id 2 suite AES_CM_128_HMAC_SHA1_80 answers no offer"},
		{"other suite", []any{with("suite", "AES_CM_128_HMAC_SHA1_32")}, "crypto[0]: id 1 suite AES_CM_128_HMAC_SHA1_32 answers no offer"},
		{"unknown suite", []any{with("suite", "F8_128_HMAC_SHA1_80")}, "crypto[0].suite: \"F8_128_HMAC_SHA1_80\" is not supported"},
		{"short key", []any{with("config", "inline:"+base64.StdEncoding.EncodeToString(appKey[:20]))}, "crypto[0].config: a=crypto AES_CM_128_HMAC_SHA1_80 key is 20 bytes, want 30"},
		{"not base64", []any{with("config", "inline:!!!")}, "crypto[0].config: a=crypto inline key is not base64"},
		{"not inline", []any{with("config", "uri:x")}, "crypto[0].config: a=crypto key method must be inline:"},
		{"MKI", []any{with("config", good["config"].(string)+"|2^20|1:4")}, "crypto[0].config: a key with an MKI is not supported"},
		{"session params", []any{with("config", good["config"].(string)+" UNENCRYPTED_SRTP")}, "crypto[0].config: want inline:KEY"},
		{"id out of range", []any{with("id", -1)}, "crypto[0].id: want a tag 0-999999999"},
	} {
		st, b := answer(tc.crypto)
		if st != 400 || !strings.Contains(b["reason"].(string), tc.reason) {
			t.Errorf("%s: %d %v, want 400 with %q", tc.name, st, b, tc.reason)
		}
	}
	peer.mu.Lock()
	peer.rx = srtpContext(t, ourKey)
	peer.mu.Unlock()
	if st, b := answer([]any{good}); st != 200 {
		t.Fatalf("answerremotecall: %d %v", st, b)
	}
	// SIPp's SRTP tone, decrypted with its key, comes out of the relay in
	// SRTP with the key newRemoteCall offered.
	if !testkit.Eventually(10*time.Second, func() bool { return peer.toneMs(1000) >= 800 }) {
		peer.mu.Lock()
		bad := peer.bad
		peer.mu.Unlock()
		t.Fatalf("the caller's 2 s SRTP tone reached the application for %d ms (%d packets unusable)", peer.toneMs(1000), bad)
	}
	peer.tx = srtpContext(t, appKey)
	peer.sendTone(netip.AddrPortFrom(netip.MustParseAddr(nc["remoteRtpIp"].(string)), uint16(numOf(nc["remoteRtpPort"]))), 1000, 400)
	if st, b := r.command("hangupcall", map[string]any{"replyId": reply}); st != 200 {
		t.Fatalf("hangupcall: %d %v", st, b)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp: %v\n%s", err, caller.Report())
	}
	var ok200 string
	for _, m := range caller.Received() {
		if strings.Contains(m, "SIP/2.0 200 OK") && strings.Contains(m, "INVITE") {
			ok200 = m
		}
	}
	if !strings.Contains(ok200, "RTP/SAVP") || !strings.Contains(ok200, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") {
		t.Errorf("SIPp's 200 OK does not answer with SRTP: %s", ok200)
	}
	if sc := r.waitCallback("sessionCompleted", 1); sc["reason"] != "hangupcall" {
		t.Errorf("sessionCompleted %v", sc)
	}
}

// Calls a cloud SIP UA does not answer: hangupcall before the answer is a
// busy (486 at SIPp), no answerremotecall in time is 480 with the
// sessionExpired alarm, an application that fails newRemoteCall is 503;
// bad commands on a waiting call are 4xx.
func TestRemoteCallRefused(t *testing.T) {
	r := newUARig(t)
	r.svc.cfg.RemoteAnswerTimeout = 1500 * time.Millisecond
	wd := t.TempDir()
	fail := false
	r.app.script = func(name string, body map[string]any) (int, any) {
		if name == "newRemoteCall" && fail {
			return 400, map[string]any{}
		}
		return 200, "" // an empty answer is fine: the call waits
	}
	call := func(status string) *testkit.SIPp {
		return testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_refused.xml", "STATUS", status), "-s", "ua300", "-m", "1", r.eng.Addr())
	}

	// hangupcall while it waits: busy.
	caller := call("486")
	nc := r.waitCallback("newRemoteCall", 1)
	reply := nc["replyId"].(string)
	other := r.svc.tokens.issue("other.example", nc["sessionId"].(string))
	for _, tc := range []struct {
		cmd    string
		body   map[string]any
		status int
		reason string
	}{
		{"answerremotecall", map[string]any{}, 400, "replyId: required"},
		{"answerremotecall", map[string]any{"replyId": "x.y"}, 400, "replyId: not a replyId this gateway issued"},
		{"answerremotecall", map[string]any{"replyId": other, "receiveIp": "127.0.0.1", "receivePort": 4000}, 404, "replyId: no session"},
		{"sendremotecallringback", map[string]any{"replyId": other}, 404, "replyId: no session"},
		{"answerremotecall", map[string]any{"replyId": reply}, 400, "receiveIp: required"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "localhost", "receivePort": 4000}, 400, "receiveIp: want a unicast IP address"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "0.0.0.0", "receivePort": 4000}, 400, "receiveIp: want a unicast IP address"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "224.0.0.1", "receivePort": 4000}, 400, "receiveIp: want a unicast IP address"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1"}, 400, "receivePort: required"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": 65535}, 400, "receivePort: required, 1-65534"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": 70000}, 400, "receivePort: must be <= 65535"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": 4000, "codec": "GSM"}, 400, "codec: must be one of PCMA, PCMU"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": 4000, "telephoneEventPayloadType": 8}, 400, "telephoneEventPayloadType: want a dynamic payload type 96-127"},
		{"answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": 4000,
			"crypto": []any{map[string]any{"suite": "AES_CM_128_HMAC_SHA1_80", "id": 1, "config": "inline:" + base64.StdEncoding.EncodeToString(make([]byte, 30))}}},
			400, "crypto: newRemoteCall offered none"},
		{"hangupparticipant", map[string]any{"replyId": reply, "participantId": "p"}, 409, "replyId names a call of the cloud SIP UA"},
	} {
		st, b := r.command(tc.cmd, tc.body)
		if st != tc.status || !strings.Contains(b["reason"].(string), tc.reason) {
			t.Errorf("%s %v: %d %v, want %d with %q", tc.cmd, tc.body, st, b, tc.status, tc.reason)
		}
	}
	if st, b := r.rest("POST", "/mediaservice/other.example/answerremotecall", "application/json", []byte(`{"replyId":"`+reply+`","receiveIp":"127.0.0.1","receivePort":4000}`)); st != 404 {
		t.Errorf("answerremotecall on another domain's path: %d %v, want 404", st, b)
	}
	if st, b := r.command("hangupcall", map[string]any{"replyId": reply}); st != 200 {
		t.Fatalf("hangupcall: %d %v", st, b)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (486 expected): %v\n%s", err, caller.Report())
	}
	if sc := r.waitCallback("sessionCompleted", 1); sc["reason"] != "hangupcall" {
		t.Errorf("sessionCompleted %v", sc)
	}
	if st, b := r.command("answerremotecall", map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": 4000}); st != 404 {
		t.Errorf("answerremotecall after the busy: %d %v, want 404", st, b)
	}

	// No answer in time.
	caller = call("480")
	r.waitCallback("newRemoteCall", 2)
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (480 expected): %v\n%s", err, caller.Report())
	}
	select {
	case a := <-r.alarms:
		if a.Type != "sessionError" || a.Error != "sessionExpired" {
			t.Errorf("alarm %+v, want sessionError sessionExpired", a)
		}
	case <-time.After(5 * time.Second):
		t.Error("no sessionExpired alarm")
	}
	if sc := r.waitCallback("sessionCompleted", 2); sc["reason"] != "sessionExpired" {
		t.Errorf("sessionCompleted %v", sc)
	}

	// The application refuses newRemoteCall.
	fail = true
	caller = call("503")
	if err := caller.Wait(20 * time.Second); err != nil {
		t.Fatalf("SIPp (503 expected): %v\n%s", err, caller.Report())
	}
	select {
	case a := <-r.alarms:
		if a.Type != "newCallEventError" {
			t.Errorf("alarm %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Error("no alarm for the failed newRemoteCall")
	}
}

// placeremotecall: bad bodies refused 4xx; a call to a SIPp callee that
// echoes its audio: callAnswered (every field), the tone round trip in
// PCMU, hangupcall sends SIPp its BYE; a busy callee: callEvent
// calledPartyFailure 486.
func TestPlaceRemoteCall(t *testing.T) {
	r := newUARig(t).rig
	if st, b := r.rest("POST", "/mediaservice/other.example/placeremotecall", "application/json",
		[]byte(`{"destinationUri":"sip:x@127.0.0.1","receiveIp":"127.0.0.1","receivePort":4000}`)); st != 404 ||
		!strings.Contains(b["reason"].(string), "no cloud SIP UA in domain other.example") {
		t.Errorf("placeremotecall in a domain without a cloud SIP UA: %d %v", st, b)
	}
	wd := t.TempDir()
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1", "-rtp_echo")
	dest := "sip:agent@127.0.0.1:" + strconv.Itoa(callee.Port)
	peer := newRTPPeer(t, 8)
	ok := map[string]any{"destinationUri": dest, "receiveIp": "127.0.0.1", "receivePort": peer.port(), "codec": "PCMA",
		"sourceUser": "4711", "telephoneEventPayloadType": 101, "sessionReferenceId": "place-1"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range ok {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		body   map[string]any
		reason string
	}{
		{with("destinationUri", nil), "destinationUri: required"},
		{with("destinationUri", "sip:a b@x"), "destinationUri: want a SIP URI"},
		{with("destinationUri", "sip:a@x\r\nX: y"), "destinationUri: want a SIP URI"},
		{with("sourceUser", "a@b"), "sourceUser: want a SIP user part"},
		{with("codec", "GSM"), "codec: GSM is not supported by this gateway"},
		{with("codec", "G729"), "codec: must be one of PCMA, PCMU, GSM"},
		{with("receiveIp", nil), "receiveIp: required"},
		{with("receivePort", 0), "receivePort: must be >= 1"},
		{with("callbackBaseUrl", "http://10.1.2.3/x"), "callbackBaseUrl: http:// only to a loopback host"},
		{with("callbackBaseUrl", "ftp://x"), "callbackBaseUrl: must be a URL starting with http:// or https://"},
		{with("crypto", []any{map[string]any{"suite": "NULL", "id": 1, "config": "inline:x"}}), "crypto[0].suite"},
		{with("crypto", []any{1}), "crypto[0]: must be an object"},
	} {
		st, b := r.command("placeremotecall", tc.body)
		if st != 400 || !strings.Contains(b["reason"].(string), tc.reason) {
			t.Errorf("placeremotecall %v: %d %v, want 400 with %q", tc.body, st, b, tc.reason)
		}
	}
	if st, b := r.command("placeremotecall", ok); st != 200 || b["success"] != true {
		t.Fatalf("placeremotecall: %d %v", st, b)
	}
	ca := r.waitCallback("callAnswered", 1)
	if ca["callingPartyNumber"] != "4711" || ca["remotePartyNumber"] != "agent" || ca["codec"] != "PCMA" || ca["remoteRtpIp"] != "127.0.0.1" ||
		numOf(ca["remoteRtpPort"]) == 0 || ca["replyId"] == "" || ca["connectionId"] == "" || ca["sessionReferenceId"] != "place-1" ||
		ca["callerParticipantId"] == "" || ca["calleeParticipantId"] == "" || ca["traceId"] == "" || ca["httpTransactionId"] == "" {
		t.Errorf("callAnswered %v", ca)
	}
	if _, has := ca["crypto"]; has {
		t.Errorf("callAnswered has crypto for a plain call: %v", ca["crypto"])
	}
	peer.roundTrip(t, ca["remoteRtpIp"].(string), numOf(ca["remoteRtpPort"]))
	for _, cmd := range []string{"answerremotecall", "sendremotecallringback"} {
		if st, b := r.command(cmd, map[string]any{"replyId": ca["replyId"], "receiveIp": "127.0.0.1", "receivePort": 4000}); st != 409 {
			t.Errorf("%s on a placed call: %d %v, want 409", cmd, st, b)
		}
	}
	if st, b := r.command("hangupcall", map[string]any{"replyId": ca["replyId"]}); st != 200 {
		t.Fatalf("hangupcall: %d %v", st, b)
	}
	if err := callee.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp callee (BYE expected): %v\n%s", err, callee.Report())
	}
	var invite string
	for _, m := range callee.Received() {
		if strings.Contains(m, "INVITE sip:agent@") {
			invite = m
		}
	}
	if !strings.Contains(invite, "sip:4711@") || !strings.Contains(invite, "RTP/AVP 8") || strings.Contains(invite, "PCMU") || strings.Contains(invite, "a=crypto") {
		t.Errorf("the INVITE SIPp got (From 4711, PCMA only, no SRTP): %s", invite)
	}
	if sc := r.waitCallback("sessionCompleted", 1); sc["reason"] != "hangupcall" || sc["sessionReferenceId"] != "place-1" {
		t.Errorf("sessionCompleted %v", sc)
	}

	// A busy callee.
	busy := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_busy.xml"), "-m", "1")
	if st, b := r.command("placeremotecall", with("destinationUri", "sip:busy@127.0.0.1:"+strconv.Itoa(busy.Port))); st != 200 {
		t.Fatalf("placeremotecall: %d %v", st, b)
	}
	ev := r.waitCallback("callEvent", 1)
	if ev["event"] != "calledPartyFailure" || numOf(ev["sipResponseCode"]) != 486 || ev["remoteUser"] != "busy" {
		t.Errorf("callEvent %v", ev)
	}
	if sc := r.waitCallback("sessionCompleted", 2); sc["reason"] != "calledPartyFailure" {
		t.Errorf("sessionCompleted %v", sc)
	}
	if err := busy.Wait(10 * time.Second); err != nil {
		t.Errorf("SIPp busy callee: %v\n%s", err, busy.Report())
	}
}

// placeremotecall with crypto: the SIP leg is SRTP (SIPp answers the
// gateway's a=crypto with the same key and echoes the SRTP it gets), the
// relay leg SRTP with the application's key one way and the gateway's
// (given in callAnswered) the other: the tone makes the whole round trip.
func TestPlaceRemoteCallSRTP(t *testing.T) {
	r := newUARig(t)
	wd := t.TempDir()
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_srtp.xml"), "-m", "1", "-rtp_echo")
	peer := newRTPPeer(t, 8)
	appKey := make([]byte, 30)
	rand.Read(appKey)
	if st, b := r.command("placeremotecall", map[string]any{"destinationUri": "sip:secure@127.0.0.1:" + strconv.Itoa(callee.Port),
		"receiveIp": "127.0.0.1", "receivePort": peer.port(), "telephoneEventPayloadType": 101,
		"crypto": []any{map[string]any{"suite": "AES_CM_128_HMAC_SHA1_80", "id": 3, "config": "inline:" + base64.StdEncoding.EncodeToString(appKey) + "|2^31"}}}); st != 200 {
		t.Fatalf("placeremotecall: %d %v", st, b)
	}
	ca := r.waitCallback("callAnswered", 1)
	cr, _ := ca["crypto"].([]any)
	if len(cr) != 1 {
		t.Fatalf("callAnswered crypto %v", ca["crypto"])
	}
	ans := cr[0].(map[string]any)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(ans["config"].(string), "inline:"))
	if ans["suite"] != "AES_CM_128_HMAC_SHA1_80" || numOf(ans["id"]) != 3 || err != nil || len(key) != 30 {
		t.Fatalf("callAnswered crypto %v", ans)
	}
	peer.tx, peer.rx = srtpContext(t, appKey), srtpContext(t, key)
	peer.roundTrip(t, ca["remoteRtpIp"].(string), numOf(ca["remoteRtpPort"]))
	if st, b := r.command("hangupcall", map[string]any{"replyId": ca["replyId"]}); st != 200 {
		t.Fatalf("hangupcall: %d %v", st, b)
	}
	if err := callee.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp callee: %v\n%s", err, callee.Report())
	}
	var invite string
	for _, m := range callee.Received() {
		if strings.Contains(m, "INVITE sip:secure@") {
			invite = m
		}
	}
	if !strings.Contains(invite, "RTP/SAVP") {
		t.Errorf("the INVITE does not offer SRTP: %s", invite)
	}
}

// The cloudsipua document: written over REST, checked by the loader's own
// Validate (a negative callbackTimeout the schema lets through is refused
// naming the field), and what the API stored the stage routes.
func TestCloudUADocument(t *testing.T) {
	r := newUARig(t)
	bad := `{"name":"UA","destinationMatch":"^ub","callbackBaseUrl":"https://app.example/x","callbackTimeout":-5}`
	if st, b := r.rest("PUT", "/provisioning/cloudsipua/"+testDomain+"/ua2", "application/json", []byte(bad)); st != 400 || b["reason"] != "callbackTimeout: must not be negative" {
		t.Errorf("negative callbackTimeout: %d %v", st, b)
	}
	routes := r.svc.RemoteRoutes(testDomain)
	if len(routes) != 1 || routes[0].Name != "cloudsipua/ua1" || !routes[0].Match.MatchString("ua55") || routes[0].Match.MatchString("ivr1") {
		t.Errorf("routes %+v", routes)
	}
	st, b := r.rest("GET", "/provisioning/cloudsipua/"+testDomain+"/ua1", "", nil)
	doc, _ := b["cloudsipua"].(map[string]any)
	auth, _ := doc["restAuthentication"].([]any)
	if st != 200 || len(auth) != 1 || auth[0].(map[string]any)["secret"] != nil {
		t.Errorf("GET cloudsipua: %d %v (the secret must not come back)", st, b)
	}
	if err := r.svc.CheckDocument("cloudsipua", []byte(`{"destinationMatch":"(","callbackBaseUrl":"https://x"}`)); err == nil || !strings.HasPrefix(err.Error(), "destinationMatch: ") {
		t.Errorf("CheckDocument bad regex: %v", err)
	}
	ctx := context.Background()
	if _, err := r.svc.MediaCommand(ctx, testDomain, "placeremotecall", map[string]any{}); err == nil {
		t.Error("placeremotecall without destinationUri accepted")
	}
}

// A placed call the callee ends (SIPp's BYE): callEvent calledPartyDrop and
// sessionCompleted; hangupcall while the callee still rings (its replyId
// from callNotify ringing): SIPp gets the CANCEL, the application callEvent calledPartyFailure 487 and
// sessionCompleted hangupcall. The CORS preflight of placeremotecall(jwt).
func TestPlaceRemoteCallEnds(t *testing.T) {
	r := newUARig(t).rig
	wd := t.TempDir()
	for _, cmd := range []string{"placeremotecall", "placeremotecalljwt"} {
		req, _ := http.NewRequest("OPTIONS", r.api+"/mediaservice/"+testDomain+"/"+cmd, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("OPTIONS %s: %d %v", cmd, resp.StatusCode, resp.Header)
		}
	}
	peer := newRTPPeer(t, 8)
	place := func(dest string) {
		t.Helper()
		if st, b := r.command("placeremotecalljwt", map[string]any{"destinationUri": dest, "receiveIp": "127.0.0.1", "receivePort": peer.port()}); st != 200 {
			t.Fatalf("placeremotecalljwt: %d %v", st, b)
		}
	}
	// It rings 300 ms: its callNotify is checked below, and a 200 right
	// behind the 180 may overtake it in the SIP stack.
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_bye.xml", "PAUSE_MS", "500"), "-m", "1", "-d", "300")
	place("sip:agent@127.0.0.1:" + strconv.Itoa(callee.Port))
	ca := r.waitCallback("callAnswered", 1)
	ev := r.waitCallback("callEvent", 1)
	if ev["event"] != "calledPartyDrop" || ev["sessionId"] != ca["callerParticipantId"] || ev["participantId"] != ca["calleeParticipantId"] || ev["replyId"] != ca["replyId"] {
		t.Errorf("callEvent %v after callAnswered %v", ev, ca)
	}
	if sc := r.waitCallback("sessionCompleted", 1); sc["reason"] != "calledPartyDrop" {
		t.Errorf("sessionCompleted %v", sc)
	}
	if err := callee.Wait(10 * time.Second); err != nil {
		t.Errorf("SIPp callee: %v\n%s", err, callee.Report())
	}

	ringing := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_ring.xml"), "-m", "1")
	place("sip:ringing@127.0.0.1:" + strconv.Itoa(ringing.Port))
	// The callee's 180 brings callNotify ringing with the replyId (the
	// first call's 180 brought the first).
	if cn := r.waitCallback("callNotify", 1); cn["remoteUser"] != "agent" || cn["replyId"] != ca["replyId"] {
		t.Errorf("callNotify of the first call %v", cn)
	}
	cn := r.waitCallback("callNotify", 2)
	if cn["event"] != "ringing" || cn["remoteUser"] != "ringing" || cn["sessionId"] == "" || cn["replyId"] == "" || cn["traceId"] == "" {
		t.Errorf("callNotify %v", cn)
	}
	// sipCallId is the Call-ID of the INVITE the callee got.
	if id, _ := cn["sipCallId"].(string); id == "" || !slices.ContainsFunc(ringing.Received(), func(m string) bool {
		return strings.Contains(m, "INVITE sip:") && strings.Contains(m, "Call-ID: "+id)
	}) {
		t.Errorf("callNotify sipCallId %q is not the Call-ID of the INVITE SIPp received", cn["sipCallId"])
	}
	if st, b := r.command("hangupcalljwt", map[string]any{"replyId": cn["replyId"]}); st != 200 {
		t.Fatalf("hangupcalljwt while ringing: %d %v", st, b)
	}
	if err := ringing.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (CANCEL expected): %v\n%s", err, ringing.Report())
	}
	ev = r.waitCallback("callEvent", 2)
	if ev["event"] != "calledPartyFailure" || numOf(ev["sipResponseCode"]) != 487 {
		t.Errorf("callEvent %v", ev)
	}
	if sc := r.waitCallback("sessionCompleted", 2); sc["reason"] != "hangupcall" {
		t.Errorf("sessionCompleted %v", sc)
	}
}

// A media service session's replyId is not a cloud SIP UA call's: the
// remote commands refuse it 409 naming why, and hangupcall still ends the
// IVR call.
func TestRemoteCommandsOnIVRSession(t *testing.T) {
	r := newUARig(t).rig
	wd := t.TempDir()
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "ivr"}
		case "getIvrCommand":
			return 200, map[string]any{"getIVRCommandAfter": 60}
		}
		return 200, map[string]any{}
	}
	caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_hold.xml"), "-s", "ivr8", "-m", "1", r.eng.Addr())
	reply := r.waitCallback("callAnswered", 1)["replyId"]
	for _, cmd := range []string{"answerremotecall", "sendremotecallringback"} {
		st, b := r.command(cmd, map[string]any{"replyId": reply, "receiveIp": "127.0.0.1", "receivePort": 4000})
		if st != 409 || !strings.Contains(b["reason"].(string), "a media service session, not a call of the cloud SIP UA") {
			t.Errorf("%s with an IVR session's replyId: %d %v", cmd, st, b)
		}
	}
	if st, b := r.command("hangupcall", map[string]any{"replyId": reply}); st != 200 {
		t.Fatalf("hangupcall: %d %v", st, b)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (BYE expected): %v\n%s", err, caller.Report())
	}
}

// A caller who gives up while the call rings (SIPp's CANCEL after the 180
// sendremotecallringback sent): 487 to SIPp, sessionCompleted
// callingPartyDrop, and the replyId is dead for answerremotecall.
func TestRemoteCallCallerCancels(t *testing.T) {
	r := newUARig(t)
	wd := t.TempDir()
	caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_cancel.xml", "PAUSE_MS", "300"), "-s", "ua400", "-m", "1", r.eng.Addr())
	nc := r.waitCallback("newRemoteCall", 1)
	if st, b := r.command("sendremotecallringback", map[string]any{"replyId": nc["replyId"]}); st != 200 {
		t.Fatalf("sendremotecallringback: %d %v", st, b)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp (180, CANCEL, 487): %v\n%s", err, caller.Report())
	}
	if sc := r.waitCallback("sessionCompleted", 1); sc["reason"] != "callingPartyDrop" || sc["sessionId"] != nc["sessionId"] {
		t.Errorf("sessionCompleted %v", sc)
	}
	if st, b := r.command("answerremotecall", map[string]any{"replyId": nc["replyId"], "receiveIp": "127.0.0.1", "receivePort": 4000}); st != 404 {
		t.Errorf("answerremotecall after the CANCEL: %d %v, want 404", st, b)
	}
}
