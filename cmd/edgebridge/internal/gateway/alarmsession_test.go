package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/mediaservice"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// alarmApp is the alarm integrator's HTTPS application (a CA of its own):
// it keeps every callback and answers callEvent with drop.
type alarmApp struct {
	mu   sync.Mutex
	reqs []struct {
		path string
		body map[string]any
	}
}

func (a *alarmApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	a.mu.Lock()
	a.reqs = append(a.reqs, struct {
		path string
		body map[string]any
	}{r.URL.Path, body})
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/cb/callEvent" {
		io.WriteString(w, `{"action":"drop"}`)
		return
	}
	io.WriteString(w, `{}`)
}

func (a *alarmApp) got(path string) []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []map[string]any
	for _, r := range a.reqs {
		if r.path == path {
			out = append(out, r.body)
		}
	}
	return out
}

// An alarm call through the media service API: a Contact ID unit's
// listen-in is bridged to the ARC's speech line (SIPp); its
// newAlarmbridgeEvent reaches the integrator's HTTPS application (its own
// CA, trusted through the data folder's callback CA bundle) with the call's
// sessionId and a signed replyId. With that replyId the application
// records the call (startrecording/stoprecording; the recording, streamed
// while the call runs, holds the unit's 1 kHz tone and is announced by
// recordingReady) and splits the voice connection (splitconnection: the
// callEvents callerConnectionSplit and calleeConnectionSplit, both parties
// dropped, the unit with its clear-down). Bad input is refused 4xx:
// missing, forged, foreign-domain replyIds, a wrong connectionId, an ended
// call. devicecommand takes the replyId as callId too.
func TestAlarmSessionRecordAndSplit(t *testing.T) {
	dir := t.TempDir()
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
	defer srv.Close()

	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	docs := listenInDocs(arc.Addr, voice.Port, "")
	docs["alarmbridge"]["panels"] = `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$",` +
		`"alarmEventMapperId":"arc","callbackBaseUrl":"` + srv.URL + `/cb","restAuthentication":[]}`
	g := startGatewayIn(t, dir, docs)
	const key = "alarmsession-test-admin-key-0123456789"
	a, err := api.New(api.Config{Store: g.db, AdminKeyHash: api.HashKey(key), Logger: g.log, Alarms: g, Calls: g.media})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rest := httptest.NewServer(a)
	defer rest.Close()
	post := func(path string, body any) (int, string) {
		b, _ := json.Marshal(body)
		code, out, err := testkit.APIRequest(rest.URL, key, "POST", path, string(b))
		if err != nil {
			t.Fatal(err)
		}
		return code, out
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, rep, err := listenInCall(t, ctx, g)
	if err != nil || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	testkit.WaitFor(t, "newAlarmbridgeEvent", 10*time.Second, func() bool { return len(app.got("/cb/newAlarmbridgeEvent")) == 1 })
	ev := app.got("/cb/newAlarmbridgeEvent")[0]
	sessionID, _ := ev["sessionId"].(string)
	replyID, _ := ev["replyId"].(string)
	if sessionID != call.ID || replyID == "" || replyID == ev["id"] {
		t.Fatalf("newAlarmbridgeEvent sessionId %q replyId %q (event id %v), want the call's Call-ID %q and a replyId of its own", sessionID, replyID, ev["id"], call.ID)
	}
	testkit.Eventually(5*time.Second, func() bool { return g.activeCalls() >= 2 })
	if n := g.activeCalls(); n != 2 {
		t.Fatalf("%d calls, want the alarm call and its voice leg", n)
	}

	// The unit talks: a 1 kHz tone for 1.6 s once recording has started,
	// then silence; it listens for the keys it is sent.
	sess := call.Session()
	startTone, toneSent := make(chan struct{}), make(chan struct{})
	keys := make(chan string, 1)
	go func() {
		frame := make([]int16, 160)
		var heard []byte
		n, toneFrames := 0, -1
		for sess.ReadFrame(frame) == nil {
			for more := true; more; {
				select {
				case d := <-sess.Digits():
					heard = append(heard, d.Key)
				default:
					more = false
				}
			}
			select {
			case <-startTone:
				toneFrames, startTone = 80, nil
			default:
			}
			for i := range frame {
				frame[i] = 0
				if toneFrames > 0 {
					frame[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(n*160+i)/8000))
				}
			}
			if toneFrames > -20 && startTone == nil {
				toneFrames--
				if toneFrames == -20 { // the tone and 400 ms of silence are out
					close(toneSent)
				}
			}
			n++
			if sess.WriteFrame(frame) != nil {
				break
			}
		}
		keys <- string(heard)
	}()

	// Bad input first: every one 4xx.
	for _, tc := range []struct {
		path   string
		body   map[string]any
		status int
		reason string
	}{
		{"/mediaservice/local/startrecording", map[string]any{}, 400, "replyId: required"},
		{"/mediaservice/local/startrecording", map[string]any{"replyId": call.ID}, 400, "not a replyId this gateway issued"},
		{"/mediaservice/local/startrecording", map[string]any{"replyId": replyID + "x"}, 400, "not a replyId"},
		{"/mediaservice/other/startrecording", map[string]any{"replyId": replyID}, 404, "no alarm call of domain other"},
		{"/mediaservice/local/splitconnection", map[string]any{"replyId": replyID, "connectionId": "nope"}, 404, "connectionId"},
		{"/mediaservice/local/stoprecording", map[string]any{"replyId": replyID}, 409, "not being recorded"},
		{"/mediaservice/local/startrecording", map[string]any{"replyId": replyID, "recordingFileName": "../x.wav"}, 400, "recordingFileName"},
		{"/mediaservice/local/hangupcall", map[string]any{"replyId": replyID}, 409, "hangupalarmcall"},
	} {
		if code, out := post(tc.path, tc.body); code != tc.status || !strings.Contains(out, tc.reason) {
			t.Errorf("POST %s %v: %d %s, want %d %q", tc.path, tc.body, code, out, tc.status, tc.reason)
		}
	}
	if code, out := post("/alarmbridge/local/devicecommand", map[string]any{"callId": replyID, "command": "keepAlive"}); code != 200 {
		t.Errorf("devicecommand by the callback's replyId: %d %s", code, out)
	}

	if code, out := post("/mediaservice/local/startrecording", map[string]any{"replyId": replyID, "connectionId": sessionID, "recordingFileName": "alarm.wav"}); code != 200 {
		t.Fatalf("startrecording: %d %s", code, out)
	}
	if code, out := post("/mediaservice/local/startrecording", map[string]any{"replyId": replyID}); code != 409 {
		t.Errorf("startrecording twice: %d %s, want 409", code, out)
	}
	close(startTone)
	select {
	case <-toneSent:
	case <-time.After(10 * time.Second):
		t.Fatal("the unit could not play its tone")
	}
	if code, out := post("/mediaservice/local/stoprecording", map[string]any{"replyId": replyID}); code != 200 {
		t.Fatalf("stoprecording: %d %s", code, out)
	}
	testkit.WaitFor(t, "recordingReady", 10*time.Second, func() bool { return len(app.got("/cb/recordingReady")) == 1 })
	rr := app.got("/cb/recordingReady")[0]
	if rr["event"] != "recordingSuccessful" || rr["recordingFileName"] != "alarm.wav" || rr["sessionId"] != sessionID ||
		rr["connectionId"] != sessionID || rr["domain"] != "local" || rr["fileSize"].(float64) < 12000 {
		t.Errorf("recordingReady %v", rr)
	}
	if ms := toneMsIn(t, filepath.Join(dir, "mediaservice", "prompts", "local", "alarm.wav"), 1000); ms < 1200 {
		t.Errorf("the recording holds %d ms of the unit's 1 kHz tone, want most of its 1.6 s", ms)
	}

	if code, out := post("/mediaservice/local/splitconnection", map[string]any{"replyId": replyID}); code != 200 {
		t.Fatalf("splitconnection: %d %s", code, out)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line was not dropped after the split: %v\n%s", err, voice.Report())
	}
	select {
	case k := <-keys:
		if k != "0" {
			t.Errorf("the unit heard %q before its call ended, want the clear-down 0", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the unit's call did not end after the split")
	}
	var events []string
	for _, e := range app.got("/cb/callEvent") {
		events = append(events, toString(e["event"])+" "+toString(e["participantId"])+" "+toString(e["sessionId"]))
	}
	if len(events) != 2 || !strings.HasPrefix(events[0], "callerConnectionSplit "+sessionID) || !strings.HasPrefix(events[1], "calleeConnectionSplit ") ||
		!strings.HasSuffix(events[1], sessionID) {
		t.Errorf("callEvents %q, want callerConnectionSplit of the unit then calleeConnectionSplit, of session %s", events, sessionID)
	}
	testkit.Eventually(5*time.Second, func() bool { return g.activeCalls() == 0 })
	if code, out := post("/mediaservice/local/splitconnection", map[string]any{"replyId": replyID}); code != 404 {
		t.Errorf("splitconnection after the call ended: %d %s, want 404", code, out)
	}
}

// toneMsIn is how long a freq Hz tone lasts in all in the WAV at path.
func toneMsIn(t *testing.T, path string, freq float64) int64 {
	t.Helper()
	pcm, _, err := audiofile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "tone", Freq1: freq})
	if err != nil {
		t.Fatal(err)
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
