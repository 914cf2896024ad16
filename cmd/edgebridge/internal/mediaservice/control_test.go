package mediaservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// every POST command of the media service API (with the jwt twins).
var allCommands = []string{
	"answerremotecall", "answerremotecalljwt", "hangupcall", "hangupcalljwt", "hangupparticipant",
	"hangupremoteparticipant", "interruptivrcommand", "placeivrcall", "placeremotecall",
	"placeremotecalljwt", "sendremotecallringback", "sendremotecallringbackjwt", "splitconnection",
	"startrecording", "stoprecording",
}

// Bad input to each command is refused with a 4xx naming the mistake (or
// 501 naming why the gateway cannot do it), never a 5xx; each path answers
// the CORS preflight with the headers the media service API lists.
func TestCommandsRefuseBadInput(t *testing.T) {
	r := newRig(t)
	ended := r.svc.tokens.issue(testDomain, "no-such-session")
	for _, cmd := range allCommands {
		if strings.HasPrefix(cmd, "place") {
			continue // no replyId: TestPlaceIVRCall, TestPlaceRemoteCall
		}
		for _, tc := range []struct {
			name   string
			body   string
			status int
			reason string
		}{
			{"not JSON", `{`, 400, ""},
			{"not an object", `[1]`, 400, ""},
			{"missing replyId", `{}`, 400, "replyId: required"},
			{"replyId not ours", `{"replyId":"eyJhbGciOi.forged"}`, 400, "replyId: not a replyId this gateway issued"},
			{"replyId of a session not running", `{"replyId":"` + ended + `"}`, 404, "replyId: no session"},
			{"replyId of a number", `{"replyId":5}`, 400, "replyId"},
		} {
			want, reason := tc.status, tc.reason
			st, body := r.rest("POST", "/mediaservice/"+testDomain+"/"+cmd, "application/json", []byte(tc.body))
			if st != want || !strings.Contains(body["reason"].(string), reason) {
				t.Errorf("%s %s: %d %v, want %d with %q", cmd, tc.name, st, body, want, reason)
			}
		}
		// The CORS preflight.
		req, _ := http.NewRequest("OPTIONS", r.api+"/mediaservice/"+testDomain+"/"+cmd, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") || resp.Header.Get("Access-Control-Allow-Headers") == "" {
			t.Errorf("OPTIONS %s: %d %v", cmd, resp.StatusCode, resp.Header)
		}
	}
	// The replyId of an alarm call: bad input on the commands an alarm
	// session takes, and the others refused naming the alarmbridge's.
	// (TestAlarmSessionRecordAndSplit in the gateway runs them on a real
	// alarm call.)
	a := r.svc.StartAlarmSession(testDomain, "alarm-call-1", "1234", nil)
	alarmID := r.svc.AlarmReplyID(testDomain, "alarm-call-1")
	for _, tc := range []struct {
		cmd    string
		body   map[string]any
		status int
		reason string
	}{
		{"startrecording", map[string]any{"replyId": alarmID}, 409, "no HTTP callback"},
		{"startrecording", map[string]any{"replyId": alarmID, "connectionId": "nope"}, 404, "connectionId"},
		{"stoprecording", map[string]any{"replyId": alarmID, "sessionId": "other"}, 400, "sessionId"},
		{"splitconnection", map[string]any{"replyId": alarmID, "connectionId": "alarm-call-1"}, 409, "no voice connection"},
		{"splitconnection", map[string]any{"replyId": r.svc.AlarmReplyID("other", "alarm-call-1")}, 404, "no alarm call of domain"},
		{"startrecording", map[string]any{"replyId": r.svc.AlarmReplyID(testDomain, "ended-call")}, 404, "no alarm call"},
		{"hangupcall", map[string]any{"replyId": alarmID}, 409, "hangupalarmcall"},
		{"interruptivrcommand", map[string]any{"replyId": alarmID}, 409, "alarm call"},
	} {
		if st, body := r.command(tc.cmd, tc.body); st != tc.status || !strings.Contains(body["reason"].(string), tc.reason) {
			t.Errorf("%s %v on an alarm session: %d %v, want %d %q", tc.cmd, tc.body, st, body, tc.status, tc.reason)
		}
	}
	a.End()
	if st, body := r.command("stoprecording", map[string]any{"replyId": alarmID}); st != 404 {
		t.Errorf("stoprecording after the alarm call ended: %d %v, want 404", st, body)
	}
	if id, ok := r.svc.AlarmCallID(testDomain, alarmID); !ok || id != "alarm-call-1" {
		t.Errorf("AlarmCallID %q %v", id, ok)
	}
	if _, ok := r.svc.AlarmCallID("other", alarmID); ok {
		t.Error("AlarmCallID took another domain's replyId")
	}
	// A replyId of another domain's session is as unknown as an ended one.
	st, body := r.command("hangupcall", map[string]any{"replyId": r.svc.tokens.issue("other", "x")})
	if st != 404 {
		t.Errorf("foreign replyId: %d %v", st, body)
	}
}

// On a live session: interruptivrcommand ends the running command and the
// next getIvrCommand says so; wrong connectionId, participantId, sessionId
// and a replyId used on another domain's path are refused; startrecording
// twice is a conflict; hangupcall hangs up the caller, after which the
// replyId names no session.
func TestLiveSessionCommands(t *testing.T) {
	r := newRig(t)
	wd := t.TempDir()
	if st, body := r.rest("PUT", "/mediaservice/"+testDomain+"/promptfile/tone.wav", "audio/wav", toneWAV(t, 1000, 500)); st != 200 {
		t.Fatalf("prompt upload: %d %v", st, body)
	}
	var mu sync.Mutex
	reasons := []string{}
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "ivr"}
		case "getIvrCommand":
			mu.Lock()
			defer mu.Unlock()
			if p, ok := body["dtmfParams"].(map[string]any); ok {
				reasons = append(reasons, p["reason"].(string))
				return 200, map[string]any{"getIVRCommandAfter": 60, "backgroundPrompt": map[string]any{"fileName": "tone.wav", "repeatPause": 0.2}}
			}
			return 200, map[string]any{"dtmf": map[string]any{"firstTimeout": 60}}
		}
		return 200, map[string]any{}
	}
	caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_hold.xml"), "-s", "ivr7", "-m", "1", r.eng.Addr())
	testkit.WaitFor(t, "callAnswered and the first getIvrCommand", 10*time.Second, func() bool {
		return len(r.app.got("callAnswered")) == 1 && len(r.app.got("getIvrCommand")) == 1
	})
	ans := r.app.got("callAnswered")[0].body
	reply, conn := ans["replyId"].(string), ans["connectionId"].(string)

	if st, b := r.command("interruptivrcommand", map[string]any{"replyId": reply, "sessionId": "not-this-one"}); st != 400 {
		t.Errorf("interrupt with another sessionId: %d %v", st, b)
	}
	if st, b := r.command("interruptivrcommand", map[string]any{"replyId": reply}); st != 200 {
		t.Fatalf("interrupt: %d %v", st, b)
	}
	testkit.WaitFor(t, "the getIvrCommand after the interrupt", 5*time.Second, func() bool { return len(r.app.got("getIvrCommand")) == 2 })
	mu.Lock()
	if len(reasons) != 1 || reasons[0] != "interrupted" {
		t.Errorf("dtmfParams.reason %v, want interrupted", reasons)
	}
	mu.Unlock()

	for _, tc := range []struct {
		path, cmd string
		body      map[string]any
		status    int
	}{
		{testDomain, "startrecording", map[string]any{"replyId": reply, "connectionId": "nope"}, 404},
		{testDomain, "startrecording", map[string]any{"replyId": reply}, 400},
		{testDomain, "startrecording", map[string]any{"replyId": reply, "connectionId": conn, "recordingFileName": "../x"}, 400},
		{testDomain, "stoprecording", map[string]any{"replyId": reply, "connectionId": conn}, 409},
		{testDomain, "hangupparticipant", map[string]any{"replyId": reply, "participantId": "nope"}, 404},
		{testDomain, "hangupparticipant", map[string]any{"replyId": reply}, 400},
		{testDomain, "hangupremoteparticipant", map[string]any{"replyId": reply, "participantId": ans["callerParticipantId"]}, 409},
		{testDomain, "hangupremoteparticipant", map[string]any{"replyId": reply, "participantId": "nope"}, 404},
		{testDomain, "splitconnection", map[string]any{"replyId": reply, "connectionId": "nope"}, 404},
		{"other", "hangupcall", map[string]any{"replyId": reply}, 404},
		{testDomain, "startrecording", map[string]any{"replyId": reply, "connectionId": conn, "recordingFileName": "bg.wav"}, 200},
		{testDomain, "startrecording", map[string]any{"replyId": reply, "connectionId": conn, "recordingFileName": "bg2.wav"}, 409},
	} {
		if st, b := r.rest("POST", "/mediaservice/"+tc.path+"/"+tc.cmd, "application/json", mustJSON(tc.body)); st != tc.status {
			t.Errorf("%s %s %v: %d %v, want %d", tc.path, tc.cmd, tc.body, st, b, tc.status)
		}
	}
	testkit.WaitFor(t, "some recording", 5*time.Second, func() bool {
		fi, err := os.Stat(filepath.Join(r.data, "mediaservice", "prompts", testDomain, "bg.wav.part"))
		return err == nil && fi.Size() > 8000
	})
	if st, b := r.command("stoprecording", map[string]any{"replyId": reply, "connectionId": conn}); st != 200 {
		t.Errorf("stoprecording: %d %v", st, b)
	}
	testkit.WaitFor(t, "recordingReady", 5*time.Second, func() bool { return len(r.app.got("recordingReady")) == 1 })
	if ms := toneMs(t, filepath.Join(r.data, "mediaservice", "prompts", testDomain, "bg.wav"), 1000); ms < 300 {
		t.Errorf("the recording of the background prompt holds %d ms of its tone", ms)
	}

	if st, b := r.command("hangupcall", map[string]any{"replyId": reply}); st != 200 {
		t.Fatalf("hangupcall: %d %v", st, b)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("caller not hung up: %v\n%s", err, caller.Report())
	}
	testkit.WaitFor(t, "sessionCompleted", 10*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
	if st, b := r.command("hangupcall", map[string]any{"replyId": reply}); st != 404 {
		t.Errorf("hangupcall after the end: %d %v", st, b)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Prompt files over REST: upload (PCM16 and µ-law WAV in, A-law WAV
// stored), list, a signed URL that fetches the file without the key (and
// fails altered), delete, move refused 501; bad names, bodies and types
// refused 4xx.
func TestPromptFilesOverREST(t *testing.T) {
	r := newRig(t)
	base := "/mediaservice/" + testDomain + "/promptfile"
	var ulaw bytes.Buffer
	if err := audiofile.WriteWAV(&ulaw, make([]int16, 800), audiofile.Ulaw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ct string
		body     []byte
		status   int
	}{
		{"a.wav", "audio/wav", toneWAV(t, 440, 200), 200},
		{"b.wav", "audio/x-wav", ulaw.Bytes(), 200},
		{"c.wav", "audio/wav", []byte("not audio at all"), 400},
		{"c.wav", "application/json", toneWAV(t, 440, 200), 415},
		{".hidden", "audio/wav", toneWAV(t, 440, 200), 400},
		{"a%20b.wav", "audio/wav", toneWAV(t, 440, 200), 400},
	} {
		if st, b := r.rest("PUT", base+"/"+tc.name, tc.ct, tc.body); st != tc.status {
			t.Errorf("PUT %s (%s): %d %v, want %d", tc.name, tc.ct, st, b, tc.status)
		}
	}
	st, list := r.rest("GET", base, "", nil)
	files, _ := list["files"].([]any)
	if st != 200 || len(files) != 2 || files[0].(map[string]any)["name"] != "a.wav" || files[0].(map[string]any)["size"].(float64) < 1600 {
		t.Fatalf("list: %d %v", st, list)
	}
	pcm, enc, err := audiofile.ReadFile(filepath.Join(r.data, "mediaservice", "prompts", testDomain, "b.wav"))
	if err != nil || enc != audiofile.Alaw || len(pcm) != 800 {
		t.Errorf("stored µ-law upload: %v %v %d samples", err, enc, len(pcm))
	}

	st, u := r.rest("GET", base+"/a.wav/url", "", nil)
	url, _ := u["url"].(string)
	if st != 200 || !strings.HasPrefix(url, r.api+base+"/a.wav/download?") {
		t.Fatalf("url: %d %v", st, u)
	}
	resp, err := http.Get(url) // no key: the signature is the permission
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := os.ReadFile(filepath.Join(r.data, "mediaservice", "prompts", testDomain, "a.wav"))
	if resp.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Errorf("download: %d, %d bytes, want the %d stored", resp.StatusCode, len(got), len(want))
	}
	for _, bad := range []string{strings.Replace(url, "a.wav/download", "b.wav/download", 1), url[:len(url)-2] + "xx", strings.Replace(url, "expires=", "expires=1", 1)} {
		resp, err := http.Get(bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Errorf("altered URL %s: %d, want 403", bad, resp.StatusCode)
		}
	}
	if _, err := r.svc.Prompts().Download(testDomain, "a.wav", expiresOf(url), sigOf(url), time.Now().Add(URLValidity+time.Minute)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a URL 16 minutes old: %v", err)
	}
	if st, b := r.rest("GET", base+"/nope.wav/url", "", nil); st != 404 {
		t.Errorf("url of a missing file: %d %v", st, b)
	}
	if st, b := r.rest("POST", base+"/a.wav/move", "application/json", []byte(`{"bucketRegion":"eu-west-1","bucketName":"b","type":"s3"}`)); st != 501 || !strings.Contains(b["reason"].(string), "object storage") {
		t.Errorf("move: %d %v", st, b)
	}
	if st, b := r.rest("POST", base+"/a.wav/move", "application/json", []byte(`{"bucketRegion":"eu-west-1","type":"s3"}`)); st != 400 {
		t.Errorf("move without bucketName: %d %v", st, b)
	}
	if st, b := r.rest("DELETE", base+"/a.wav", "", nil); st != 200 {
		t.Errorf("delete: %d %v", st, b)
	}
	if st, b := r.rest("DELETE", base+"/a.wav", "", nil); st != 404 {
		t.Errorf("delete again: %d %v", st, b)
	}
	req, _ := http.NewRequest("OPTIONS", r.api+base+"/a.wav", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Errorf("OPTIONS promptfile: %v", resp.Header)
	}
}

func expiresOf(u string) string { return between(u, "expires=", "&") }
func sigOf(u string) string     { return u[strings.Index(u, "signature=")+len("signature="):] }
func between(s, a, b string) string {
	i := strings.Index(s, a) + len(a)
	j := strings.Index(s[i:], b)
	return s[i : i+j]
}

// The quota bounds prompts and recordings together: an upload that does
// not fit is refused (413 over REST) and leaves nothing behind.
func TestPromptQuota(t *testing.T) {
	dir := t.TempDir()
	p := newPrompts(dir, 10_000, []byte("k"))
	if _, err := p.Put("d", "one.wav", bytes.NewReader(toneWAV(t, 440, 1000))); err != nil { // 8000 samples
		t.Fatal(err)
	}
	if _, err := p.Put("d", "two.wav", bytes.NewReader(toneWAV(t, 440, 1000))); !errors.Is(err, ErrQuota) {
		t.Fatalf("second upload past the quota: %v", err)
	}
	if files, _, _ := p.List("d", "", 10); len(files) != 1 {
		t.Errorf("files after the refused upload: %v", files)
	}
	if _, err := os.Stat(filepath.Join(dir, "d", "two.wav.part")); !os.IsNotExist(err) {
		t.Errorf("partial upload left behind: %v", err)
	}
	if err := promptRefusal(ErrQuota); err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("refusal %v", err)
	}
	// A disk that refuses the write is the disk's fault, answered as the
	// store answers it.
	var r *api.Refusal
	if err := promptRefusal(&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}); !errors.As(err, &r) || r.Status != 507 || !strings.Contains(r.Reason, "no space left") {
		t.Errorf("disk full: %v", err)
	}
	if _, err := p.newRecording("d", "rec.wav", "c"); err != nil {
		t.Errorf("a recording with room left: %v", err)
	}
	if err := p.Delete("d", "one.wav"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Put("d", "two.wav", bytes.NewReader(toneWAV(t, 440, 1000))); err != nil {
		t.Errorf("upload after freeing room: %v", err)
	}
}

// placeivrcall calls destAddr from the IVR: bad input is refused 4xx; a
// callee that answers gets callAnswered and getIvrCommand with the
// sessionReferenceId given, and hangup ends it; one that is busy gets
// callEvent calledPartyFailure with its code.
func TestPlaceIVRCall(t *testing.T) {
	r := newRig(t)
	wd := t.TempDir()
	for _, tc := range []struct {
		body   string
		status int
		reason string
	}{
		{`{}`, 400, "destAddr: required"},
		{`{"destAddr":"javascript:alert(1)"}`, 400, "Invalid sip address"},
		{`{"destAddr":"sip:a@127.0.0.1","sipFrom":"a\r\nVia: x"}`, 400, "sipFrom"},
		{`{"destAddr":"sip:a@127.0.0.1","mediaserviceId":"nope"}`, 404, "mediaserviceId"},
		{`{"destAddr":"sip:a@127.0.0.1","maxRingTime":-1}`, 400, "maxRingTime"},
	} {
		st, b := r.rest("POST", "/mediaservice/"+testDomain+"/placeivrcall", "application/json", []byte(tc.body))
		if st != tc.status || !strings.Contains(b["reason"].(string), tc.reason) {
			t.Errorf("placeivrcall %s: %d %v, want %d %q", tc.body, st, b, tc.status, tc.reason)
		}
	}
	r.app.script = func(name string, body map[string]any) (int, any) {
		if name == "getIvrCommand" {
			return 200, map[string]any{"hangup": true}
		}
		return 200, map[string]any{}
	}
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	st, b := r.command("placeivrcall", map[string]any{"destAddr": "sip:agent@127.0.0.1:" + itoa(callee.Port), "mediaserviceId": "ms1",
		"sessionReferenceId": map[string]any{"ticket": 7}, "sipFrom": "4600", "xHeaders": map[string]any{"X-Case": "7"}})
	if st != 200 {
		t.Fatalf("placeivrcall: %d %v", st, b)
	}
	if err := callee.Wait(15 * time.Second); err != nil {
		t.Fatalf("callee: %v\n%s", err, callee.Report())
	}
	testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
	cmds := r.app.got("getIvrCommand")
	if len(cmds) != 1 || mustString(cmds[0].body["sessionReferenceId"]) != `{"ticket":7}` || len(r.app.got("callAnswered")) != 1 {
		t.Errorf("getIvrCommand %+v callAnswered %d", cmds, len(r.app.got("callAnswered")))
	}
	inv := callee.Received()
	if len(inv) == 0 || !strings.Contains(inv[0], "X-Case: 7") || !strings.Contains(inv[0], "sip:4600@") {
		t.Errorf("INVITE the callee got lacks the xHeaders or sipFrom:\n%v", inv)
	}

	busy := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_busy.xml"), "-m", "1")
	if st, b := r.command("placeivrcall", map[string]any{"destAddr": "sip:agent@127.0.0.1:" + itoa(busy.Port)}); st != 200 {
		t.Fatalf("placeivrcall: %d %v", st, b)
	}
	testkit.WaitFor(t, "callEvent", 10*time.Second, func() bool { return len(r.app.got("callEvent")) == 1 })
	ev := r.app.got("callEvent")[0].body
	if ev["event"] != "calledPartyFailure" || ev["sipResponseCode"].(float64) != 486 {
		t.Errorf("callEvent %v", ev)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// splitconnection on a connection of two participants: a callEvent for
// each (callerConnectionSplit, calleeConnectionSplit), each answer applied
// to its participant: the callee dropped, the caller back in the IVR, which
// hangs up. On an IVR connection it is a conflict.
func TestSplitConnection(t *testing.T) {
	r := newRig(t)
	wd := t.TempDir()
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	split := make(chan [2]int, 1)
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "call", "destAddr": "sip:agent@127.0.0.1:" + itoa(callee.Port)}
		case "callAnswered":
			if body["remotePartyNumber"] != "agent" {
				break // the caller's IVR after the split
			}
			go func() {
				st1, _ := r.command("splitconnection", map[string]any{"replyId": body["replyId"], "connectionId": "nope"})
				st2, _ := r.command("splitconnection", map[string]any{"replyId": body["replyId"], "connectionId": body["connectionId"]})
				split <- [2]int{st1, st2}
			}()
		case "callEvent":
			if body["event"] == "callerConnectionSplit" {
				return 200, map[string]any{"action": "ivr"}
			}
			return 200, map[string]any{"action": "drop"}
		case "getIvrCommand":
			return 200, map[string]any{"hangup": true}
		}
		return 200, map[string]any{}
	}
	caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_hold.xml"), "-s", "ivr3", "-m", "1", r.eng.Addr())
	if st := <-split; st != [2]int{404, 200} {
		t.Fatalf("splitconnection with a wrong and the right connectionId: %v, want 404 then 200", st)
	}
	if err := callee.Wait(10 * time.Second); err != nil {
		t.Fatalf("callee not dropped after the split: %v\n%s", err, callee.Report())
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("caller not hung up by its IVR after the split: %v\n%s", err, caller.Report())
	}
	testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
	var events []string
	for _, e := range r.app.got("callEvent") {
		events = append(events, e.body["event"].(string)+":"+e.body["user"].(string))
	}
	if len(events) != 2 || !slices.Contains(events, "callerConnectionSplit:1000") || !slices.Contains(events, "calleeConnectionSplit:agent") {
		t.Errorf("callEvents %v", events)
	}
	if n := len(r.app.got("getIvrCommand")); n != 1 {
		t.Errorf("%d getIvrCommand, want the caller's one after the split", n)
	}
}

// splitconnection of the caller's connection to the IVR, the media service
// API's way out of the IVR: the running command ends, callEvent
// callerConnectionSplit names the caller, and its answer (call) transfers
// it to a SIPp callee; when the callee hangs up, callEvent calledPartyDrop's
// drop ends the call.
func TestSplitIVRConnection(t *testing.T) {
	r := newRig(t)
	wd, cwd := t.TempDir(), t.TempDir()
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_bye.xml", "PAUSE_MS", "500"), "-m", "1")
	split := make(chan int, 1)
	var ivrConn map[string]any
	var mu sync.Mutex
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "ivr", "sessionReferenceId": "ref-1"}
		case "callAnswered":
			mu.Lock()
			if ivrConn == nil {
				ivrConn = body
			}
			mu.Unlock()
		case "getIvrCommand":
			mu.Lock()
			conn := ivrConn
			mu.Unlock()
			go func() {
				st, _ := r.command("splitconnection", map[string]any{"replyId": body["replyId"], "connectionId": conn["connectionId"]})
				split <- st
			}()
			return 200, map[string]any{"getIVRCommandAfter": 30}
		case "callEvent":
			if body["event"] == "callerConnectionSplit" {
				return 200, map[string]any{"action": "call", "destAddr": "sip:agent@127.0.0.1:" + itoa(callee.Port)}
			}
			return 200, map[string]any{"action": "drop"}
		}
		return 200, map[string]any{}
	}
	caller := testkit.StartSIPp(t, cwd, false, "-sf", testkit.SIPpScenario(t, cwd, "uac_hold.xml"), "-s", "ivr12", "-m", "1", r.eng.Addr())
	if st := <-split; st != 200 {
		t.Fatalf("splitconnection of the IVR connection: %d", st)
	}
	if err := callee.Wait(15 * time.Second); err != nil {
		t.Fatalf("callee not called after the split: %v\n%s", err, callee.Report())
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("caller not dropped after the callee hung up: %v\n%s", err, caller.Report())
	}
	testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
	ev := r.app.got("callEvent")
	if len(ev) != 2 || ev[0].body["event"] != "callerConnectionSplit" || ev[0].body["participantId"] != ivrConn["callerParticipantId"] ||
		ev[0].body["user"] != "1000" || ev[0].body["connectionId"] != ivrConn["connectionId"] || ev[0].body["sessionReferenceId"] != "ref-1" ||
		ev[1].body["event"] != "calledPartyDrop" {
		t.Errorf("callEvents %+v, want callerConnectionSplit of the caller's IVR connection, then calledPartyDrop", ev)
	}
	if n := len(r.app.got("getIvrCommand")); n != 1 {
		t.Errorf("%d getIvrCommand requests, want the one the split ended", n)
	}
	ans := r.app.got("callAnswered")
	if len(ans) != 2 || ans[1].body["remotePartyNumber"] != "agent" {
		t.Errorf("callAnswered %+v, want the IVR's then the transfer's", ans)
	}
}
