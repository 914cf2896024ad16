package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"math"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/mediaservice"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/pion/rtp"
)

// sessionRig is a gateway on dir whose alarm callbacks reach an alarmApp
// over HTTPS (a CA of its own, trusted through the data folder), with the
// REST API in front of it.
type sessionRig struct {
	g   *Gateway
	app *alarmApp
	t   *testing.T
	url string // the REST API
	cb  string // the app's callback base URL
}

const sessionRigKey = "alarmsession-paths-admin-key-0123456789"

func newSessionRig(t *testing.T, dir string, docs func(cb string) map[string]map[string]string) *sessionRig {
	t.Helper()
	caPEM, cert := testkit.PrivateCA(t)
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, mediaservice.CABundleFile), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	app := &alarmApp{}
	srv := httptest.NewUnstartedServer(app)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	g := startGatewayIn(t, dir, docs(srv.URL+"/cb"))
	a, err := api.New(api.Config{Store: g.db, AdminKeyHash: api.HashKey(sessionRigKey), Logger: g.log, Alarms: g, Calls: g.media})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	rest := httptest.NewServer(a)
	t.Cleanup(rest.Close)
	return &sessionRig{g: g, app: app, t: t, url: rest.URL, cb: srv.URL + "/cb"}
}

func (r *sessionRig) post(path string, body any) (int, string) {
	r.t.Helper()
	b, _ := json.Marshal(body)
	code, out, err := testkit.APIRequest(r.url, sessionRigKey, "POST", path, string(b))
	if err != nil {
		r.t.Fatal(err)
	}
	return code, out
}

// event waits for the alarm's newAlarmbridgeEvent and returns its
// sessionId and replyId.
func (r *sessionRig) event() (sessionID, replyID string) {
	r.t.Helper()
	testkit.WaitFor(r.t, "newAlarmbridgeEvent", 10*time.Second, func() bool { return len(r.app.got("/cb/newAlarmbridgeEvent")) >= 1 })
	ev := r.app.got("/cb/newAlarmbridgeEvent")[0]
	sessionID, _ = ev["sessionId"].(string)
	replyID, _ = ev["replyId"].(string)
	if sessionID == "" || replyID == "" || replyID == ev["id"] {
		r.t.Fatalf("newAlarmbridgeEvent %v: want a sessionId and a replyId of its own", ev)
	}
	return sessionID, replyID
}

// record starts a recording of the session, lets play run (a party
// plays its tone), stops it and returns how long a freq Hz tone lasts in
// the file recordingReady announced.
func (r *sessionRig) record(dir, replyID, name string, freq float64, play func()) int64 {
	r.t.Helper()
	n := len(r.app.got("/cb/recordingReady"))
	if code, out := r.post("/mediaservice/local/startrecording", map[string]any{"replyId": replyID, "recordingFileName": name}); code != 200 {
		r.t.Fatalf("startrecording: %d %s", code, out)
	}
	play()
	if code, out := r.post("/mediaservice/local/stoprecording", map[string]any{"replyId": replyID}); code != 200 {
		r.t.Fatalf("stoprecording: %d %s", code, out)
	}
	testkit.WaitFor(r.t, "recordingReady", 10*time.Second, func() bool { return len(r.app.got("/cb/recordingReady")) == n+1 })
	if rr := r.app.got("/cb/recordingReady")[n]; rr["event"] != "recordingSuccessful" || rr["recordingFileName"] != name {
		r.t.Errorf("recordingReady %v", rr)
	}
	return toneMsIn(r.t, filepath.Join(dir, "mediaservice", "prompts", "local", name), freq)
}

// tonePcap writes a pcap of PCMA RTP carrying a freq Hz tone at dBm0 for
// ms, for SIPp's play_pcap_audio.
func tonePcap(t *testing.T, path string, freq, dBm0 float64, ms int) {
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
	gen, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: freq, DBm0: dBm0, Ms: 1000})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("127.0.0.1:30000"), netip.MustParseAddrPort("127.0.0.1:6000")
	pcm, pay := make([]int16, 160), make([]byte, 160)
	at := time.Unix(1700000000, 0)
	for i := range ms / 20 {
		gen.Generate(pcm)
		dsp.AlawEncode(pay, pcm)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(100 + i),
			Timestamp: uint32(1000 + 160*i), SSRC: 0x1234abcd, Marker: i == 0}, Payload: pay}
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(at.Add(time.Duration(i)*20*time.Millisecond), src, dst, b); err != nil {
			t.Fatal(err)
		}
	}
}

// splitEvents are the callEvents' event names.
func (r *sessionRig) splitEvents() string {
	var ev []string
	for _, e := range r.app.got("/cb/callEvent") {
		ev = append(ev, toString(e["event"]))
	}
	return strings.Join(ev, " ")
}

// tone1k fills frame n of a 1 kHz tone.
func tone1k(frame []int16, n int) {
	for i := range frame {
		frame[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(n*160+i)/8000))
	}
}

// A voicecall alarmbridge's call is an alarm session: its event's replyId
// records it (the caller's 1 kHz tone is in the file) and splits it (both
// callEvents, the speech line and the caller dropped); hangupalarmcall
// ends it, but devicecommand and hangupalarmcall with clear are refused
// 409 naming why (a telephone takes no in-call keys).
func TestVoiceCallIsAnAlarmSession(t *testing.T) {
	dir := t.TempDir()
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	r := newSessionRig(t, dir, func(cb string) map[string]map[string]string {
		docs := voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter")
		docs["alarmbridge"]["phones"] = `{"id":"phones","name":"phones","protocol":"voicecall","destinationMatch":"^5560$","alarmEventMapperId":"arc",` +
			`"callbackBaseUrl":"` + cb + `","restAuthentication":[]}`
		return docs
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	call, err := voiceCallUnit(t, ctx, r.g, "0701234567", "5560")
	if err != nil {
		t.Fatalf("voicecall not answered: %v\n%s", err, voice.Report())
	}
	sessionID, replyID := r.event()
	if sessionID != call.ID {
		t.Fatalf("sessionId %q, want the call's Call-ID %q", sessionID, call.ID)
	}
	for _, tc := range []struct {
		path   string
		body   map[string]any
		status int
		reason string
	}{
		{"/alarmbridge/local/devicecommand", map[string]any{"callId": replyID, "command": "clear"}, 409, "telephone"},
		{"/alarmbridge/local/hangupalarmcall", map[string]any{"callId": replyID, "clear": true}, 409, "telephone"},
		{"/mediaservice/other/startrecording", map[string]any{"replyId": replyID}, 404, "no alarm call of domain other"},
		{"/mediaservice/local/startrecording", map[string]any{"replyId": replyID + "x"}, 400, "not a replyId"},
	} {
		if code, out := r.post(tc.path, tc.body); code != tc.status || !strings.Contains(out, tc.reason) {
			t.Errorf("POST %s %v: %d %s, want %d %q", tc.path, tc.body, code, out, tc.status, tc.reason)
		}
	}
	// The caller talks: 1 kHz for 1.6 s, then silence until its call ends.
	talkRecordSplit(t, r, dir, replyID, "voicecall.wav", call.Session(), voice, "the caller", "call")
}

// An alarm call on the FXS line is an alarm session: its
// newAlarmbridgeEvent's replyId records the line both ways (the ARC's
// speech line plays 1500 Hz, which a recording made while the unit is
// silent holds; the unit's own 1 kHz is in the next) and splits the voice
// connection (the speech line dropped, the unit hears its clear-down 0 in
// band). hangupalarmcall and devicecommand on it: fxsctl_test.go.
func TestFXSAlarmCallIsAnAlarmSession(t *testing.T) {
	dir := t.TempDir()
	wd := t.TempDir()
	arcTone := filepath.Join(wd, "arc-1500.pcap")
	tonePcap(t, arcTone, 1500, -25, 30000)
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_pcap.xml", "PCAP_FILE", arcTone), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	r := newSessionRig(t, dir, func(cb string) map[string]map[string]string {
		docs := listenInDocs(arc.Addr, voice.Port, "")
		docs["alarmbridge"]["panels"] = `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$",` +
			`"alarmEventMapperId":"arc","callbackBaseUrl":"` + cb + `","restAuthentication":[]}`
		return docs
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	unit := fxsListenIn(t, ctx, r.g)
	// On the line, lock-step: each request on play is 1.6 s of the unit's
	// 1 kHz (true) or of silence (false) and 400 ms of silence, done
	// closed after it; keys heard in band, until the line ends.
	type turn struct {
		tone bool
		done chan struct{}
	}
	play, keys := make(chan turn), make(chan string, 1)
	go func() {
		frame := make([]int16, 160)
		det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
		var heard []byte
		var cur *turn
		left := 0
		for n := 0; unit.ReadFrame(frame) == nil; n++ {
			det.Process(frame, func(ev dsp.DigitEvent) { heard = append(heard, ev.Key) })
			if cur == nil {
				select {
				case tr := <-play:
					cur, left = &tr, 100
				default:
				}
			}
			clear(frame)
			if cur != nil {
				if cur.tone && left > 20 {
					tone1k(frame, n)
				}
				if left--; left == 0 {
					close(cur.done)
					cur = nil
				}
			}
			// Once the line is released the unit still reads what was
			// written before (the clear-down key) until the end.
			_ = unit.WriteFrame(frame)
		}
		keys <- string(heard)
	}()
	// A turn is 100 line frames, which a line catching up after a stall
	// runs faster than real time, so it is also held to its 2 s of wall
	// time: the ARC's speech in the recording arrives at the real rate.
	speak := func(tone bool) func() {
		return func() {
			tr := turn{tone: tone, done: make(chan struct{})}
			start := time.Now()
			select {
			case play <- tr:
			case <-time.After(10 * time.Second):
				t.Fatal("the unit is not on the line")
			}
			select {
			case <-tr.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the unit could not take its turn")
			}
			<-time.After(time.Until(start.Add(2 * time.Second)))
		}
	}
	sessionID, replyID := r.event()
	if !strings.HasPrefix(sessionID, "fxs-") {
		t.Fatalf("sessionId %q, want the line call's id", sessionID)
	}
	testkit.Eventually(10*time.Second, func() bool { return r.g.activeCalls() == 1 })
	if ms := r.record(dir, replyID, "arc.wav", 1500, speak(false)); ms < 1200 {
		t.Errorf("a recording while the unit is silent holds %d ms of the speech line's 1500 Hz, want most of its 2 s", ms)
	}
	if ms := r.record(dir, replyID, "line.wav", 1000, speak(true)); ms < 1200 {
		t.Errorf("the recording holds %d ms of the unit's 1 kHz tone, want most of its 1.6 s", ms)
	}
	if code, out := r.post("/mediaservice/local/splitconnection", map[string]any{"replyId": replyID}); code != 200 {
		t.Fatalf("splitconnection: %d %s", code, out)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line was not dropped after the split: %v\n%s", err, voice.Report())
	}
	select {
	case k := <-keys:
		if k != "0" {
			t.Errorf("the unit heard %q before the line was released, want the clear-down 0", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the line was not released after the split")
	}
	if ev := r.splitEvents(); ev != "callerConnectionSplit calleeConnectionSplit" {
		t.Errorf("callEvents %q, want callerConnectionSplit calleeConnectionSplit", ev)
	}
}

// A SCAIP or NOW-IP unit's voice call is an alarm session: its alarm's
// newAlarmbridgeEvent (sessionId "scaip:"/"nowip:" + the unit's user, the
// MESSAGE's From) has a replyId that, while the unit's voice call (from
// the same user) lasts, records it (the unit's 1 kHz in the file) and
// splits it (both parties dropped); devicecommand is refused 409 naming
// why (its commands travel in messages). Before the voice call and after
// it the replyId names no live call: 404.
func TestMessageUnitVoiceCallIsAnAlarmSession(t *testing.T) {
	for _, tc := range []struct {
		proto, device, scenario, ooc string
		repl                         []string
	}{
		{"scaip", "1000", "scaip_unit.xml", "scaip_unit_ooc.xml",
			[]string{"REF", "rv1", "MTY", "ME", "CID", "1000", "DID", "01", "STC", "0000", "SNU", "0", "PAUSE_MS", "300"}},
		{"nowip", "00000042:0001", "nowip_unit.xml", "nowip_unit_ooc.xml",
			[]string{"UNIT", "1000", "TYPE", "1", "ATM_DATA", "010200000042000101907101", "BODY_EXTRA", "", "TIME", "20261207130000", "CODE", "200", "PAUSE_MS", "300"}},
	} {
		t.Run(tc.proto, func(t *testing.T) { messageUnitVoiceSession(t, tc.proto, tc.device, tc.scenario, tc.ooc, tc.repl) })
	}
}

func messageUnitVoiceSession(t *testing.T, proto, device, scenario, ooc string, repl []string) {
	dir := t.TempDir()
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	r := newSessionRig(t, dir, func(cb string) map[string]map[string]string {
		return map[string]map[string]string{
			"device": {"d": `{"deviceId":"` + device + `","domain":"local","authType":"deviceid"}`},
			"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter","targetEndpoint":{"protocol":"dc09",` +
				`"destAddr":"dc09://` + arc.Addr + `?transport=tcp","defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(voice.Port) + `"}}`},
			"alarmbridge": {"units": `{"id":"units","name":"units","protocol":"` + proto + `","protocolMode":"dtmf","destinationMatch":"^` + proto + `$",` +
				`"alarmEventMapperId":"arc","callbackBaseUrl":"` + cb + `","restAuthentication":[]}`},
			"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
		}
	})
	// The unit's alarm: a MESSAGE from user 1000, acknowledged.
	uwd := t.TempDir()
	msg := testkit.StartSIPp(t, uwd, false, r.g.eng.Addr(), "-sf", testkit.SIPpScenario(t, uwd, scenario, repl...),
		"-oocsf", testkit.SIPpScenario(t, uwd, ooc, repl...), "-s", proto, "-m", "1")
	if err := msg.Wait(15 * time.Second); err != nil {
		t.Fatalf("the unit's MESSAGE: %v\n%s", err, msg.Report())
	}
	sessionID, replyID := r.event()
	if sessionID != proto+":1000" {
		t.Fatalf("sessionId %q, want %s:1000", sessionID, proto)
	}
	// No voice call yet: the replyId names no live call.
	if code, out := r.post("/mediaservice/local/startrecording", map[string]any{"replyId": replyID}); code != 404 {
		t.Errorf("startrecording before the voice call: %d %s, want 404", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	call, err := dialGateway(t, ctx, r.g, "1000", proto, engine.MediaOptions{})
	if err != nil {
		t.Fatalf("the unit's voice call: %v\n%s", err, voice.Report())
	}
	if code, out := r.post("/alarmbridge/local/devicecommand", map[string]any{"callId": replyID, "command": "clear"}); code != 409 || !strings.Contains(out, "messages") {
		t.Errorf("devicecommand on the unit's voice call: %d %s, want 409 naming why", code, out)
	}
	talkRecordSplit(t, r, dir, replyID, proto+".wav", call.Session(), voice, "the unit", "voice call")
}

// talkRecordSplit is the voice session's media service path: the caller
// (who, on sess) talks, 1 kHz for 1.6 s then silence until its call ends,
// while replyID records it to file; splitconnection then drops the speech
// line (voice) and the caller's call (what), with both callEvents, and
// hangupalarmcall no longer finds the call.
func talkRecordSplit(t *testing.T, r *sessionRig, dir, replyID, file string, sess *media.Session, voice *testkit.SIPp, who, what string) {
	t.Helper()
	talk, talked, ended := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		frame := make([]int16, 160)
		toneFrames := -1
		for n := 0; sess.ReadFrame(frame) == nil; n++ {
			select {
			case <-talk:
				toneFrames, talk = 80, nil
			default:
			}
			clear(frame)
			if toneFrames > 0 {
				tone1k(frame, n)
			}
			if talk == nil && toneFrames > -20 {
				if toneFrames--; toneFrames == -20 {
					close(talked)
				}
			}
			if sess.WriteFrame(frame) != nil {
				return
			}
		}
	}()
	ms := r.record(dir, replyID, file, 1000, func() {
		close(talk)
		select {
		case <-talked:
		case <-time.After(10 * time.Second):
			t.Fatal(who + " could not play its tone")
		}
	})
	if ms < 1200 {
		t.Errorf("the recording holds %d ms of "+who+"'s 1 kHz tone, want most of its 1.6 s", ms)
	}
	if code, out := r.post("/mediaservice/local/splitconnection", map[string]any{"replyId": replyID}); code != 200 {
		t.Fatalf("splitconnection: %d %s", code, out)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line was not dropped after the split: %v\n%s", err, voice.Report())
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal(who + "'s " + what + " did not end after the split")
	}
	if ev := r.splitEvents(); ev != "callerConnectionSplit calleeConnectionSplit" {
		t.Errorf("callEvents %q, want callerConnectionSplit calleeConnectionSplit", ev)
	}
	testkit.Eventually(5*time.Second, func() bool { return r.g.activeCalls() == 0 })
	if code, out := r.post("/alarmbridge/local/hangupalarmcall", map[string]any{"callId": replyID}); code != 404 {
		t.Errorf("hangupalarmcall after the "+what+" ended: %d %s, want 404", code, out)
	}
}
