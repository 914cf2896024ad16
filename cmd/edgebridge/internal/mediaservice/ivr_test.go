package mediaservice

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// The IVR end to end over SIP: SIPp calls a number the media service's
// destinationMatch takes; the application (HTTPS, its own CA, trusted
// through the data folder's CA bundle) answers newCall with the IVR; the
// first command plays a 1 kHz prompt (uploaded over REST as PCM16 WAV) and
// collects two digits, which SIPp keys as RFC 4733 events or in-band; the
// application starts a recording on callAnswered; the second getIvrCommand
// carries the digits and the application transfers the caller to a SIPp
// callee; the caller hangs up, callEvent's drop clears the callee, and
// sessionCompleted ends the session. The recording holds the prompt's tone.
func TestIVRFlowOverSIP(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inband bool
	}{{"rfc4733", false}, {"inband", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			wd := t.TempDir()
			if st, body := r.rest("PUT", "/mediaservice/"+testDomain+"/promptfile/tone.wav", "audio/wav", toneWAV(t, 1000, 1500)); st != 200 {
				t.Fatalf("prompt upload: %d %v", st, body)
			}
			callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
			pcapA, pcapB := "/usr/share/sip-tester/dtmf_2833_1.pcap", "/usr/share/sip-tester/dtmf_2833_2.pcap"
			if tc.inband {
				pcapA, pcapB = filepath.Join(wd, "key1.pcap"), filepath.Join(wd, "key2.pcap")
				inbandPcap(t, pcapA, '1')
				inbandPcap(t, pcapB, '2')
			}

			startRec := make(chan int, 1)
			r.app.script = func(name string, body map[string]any) (int, any) {
				switch name {
				case "newCall":
					return 200, map[string]any{"action": "ivr", "sessionReferenceId": map[string]any{"case": 42}}
				case "callAnswered":
					if body["remotePartyNumber"] == "ivr" {
						st, _ := r.command("startrecording", map[string]any{"replyId": body["replyId"], "connectionId": body["connectionId"], "recordingFileName": "ivr.wav"})
						startRec <- st
					}
					return 200, map[string]any{}
				case "getIvrCommand":
					if _, ok := body["dtmfParams"]; !ok {
						return 200, map[string]any{"phrases": []any{map[string]any{"fileName": "tone.wav"}},
							"dtmf": map[string]any{"maxDigits": 2, "firstTimeout": 10, "betweenTimeout": 3, "terminationKey": "#"}}
					}
					if body["dtmfBuffer"] != "12" {
						return 200, map[string]any{"hangup": true}
					}
					return 200, map[string]any{"action": "call", "destAddr": []any{map[string]any{
						"destAddr": "sip:agent@127.0.0.1:" + strconv.Itoa(callee.Port), "maxRingTime": 10}}}
				case "callEvent":
					return 200, map[string]any{"action": "drop"}
				}
				return 200, map[string]any{}
			}

			caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_ivr.xml",
				"PCAP_A", pcapA, "PCAP_B", pcapB, "KEYS_AT_MS", "1800", "KEYS_GAP_MS", "500", "PAUSE_MS", "1500"),
				"-s", "ivr100", "-m", "1", r.eng.Addr())
			if err := caller.Wait(30 * time.Second); err != nil {
				t.Fatalf("caller: %v\n%s\napp saw: %+v", err, caller.Report(), r.app.reqs)
			}
			if err := callee.Wait(10 * time.Second); err != nil {
				t.Fatalf("callee (transfer target) not called and cleared: %v\ngetIvrCommand requests: %v\n%s", err, r.app.got("getIvrCommand"), callee.Report())
			}
			testkit.WaitFor(t, "sessionCompleted", 10*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
			testkit.WaitFor(t, "recordingReady", 5*time.Second, func() bool { return len(r.app.got("recordingReady")) == 1 })

			nc := r.app.got("newCall")
			if len(nc) != 1 {
				t.Fatalf("newCall sent %d times", len(nc))
			}
			b := nc[0].body
			if b["calledParty"] != "ivr100" || b["callingParty"] != "1000" || b["fromUser"] != "1000" || b["sipCallId"] == "" ||
				b["sessionId"] == "" || b["ivrServer"] != "127.0.0.1" || b["callingPartyPrivacy"] != "public" || b["srcAddr"] != "127.0.0.1" {
				t.Errorf("newCall body %v", b)
			}
			if err := r.app.verifyJWT(nc[0].auth); err != nil {
				t.Errorf("newCall not signed with the restAuthentication key: %v (%q)", err, nc[0].auth)
			}
			cmds := r.app.got("getIvrCommand")
			if len(cmds) != 2 {
				t.Fatalf("getIvrCommand sent %d times, want 2: %+v", len(cmds), cmds)
			}
			second := cmds[1].body
			params, _ := second["dtmfParams"].(map[string]any)
			if second["dtmfBuffer"] != "12" || params["dtmfMatch"] != "12" || params["reason"] != "maxDigits" || second["sessionId"] != b["sessionId"] {
				t.Errorf("second getIvrCommand %v", second)
			}
			if ref, _ := json.Marshal(second["sessionReferenceId"]); string(ref) != `{"case":42}` {
				t.Errorf("sessionReferenceId not carried: %s", ref)
			}
			if st := <-startRec; st != 200 {
				t.Errorf("startrecording answered %d", st)
			}
			ans := r.app.got("callAnswered")
			if len(ans) != 2 || ans[1].body["remotePartyNumber"] != "agent" || ans[1].body["callingPartyNumber"] != "1000" {
				t.Errorf("callAnswered %+v, want the IVR's and the transfer's", ans)
			}
			ev := r.app.got("callEvent")
			if len(ev) != 1 || ev[0].body["event"] != "callingPartyDrop" || ev[0].body["user"] != "1000" || ev[0].body["remoteUser"] != "agent" {
				t.Errorf("callEvent %+v", ev)
			}
			rr := r.app.got("recordingReady")[0].body
			if rr["event"] != "recordingSuccessful" || rr["recordingFileName"] != "ivr.wav" || rr["fileSize"].(float64) < 8000 {
				t.Errorf("recordingReady %v", rr)
			}
			sc := r.app.got("sessionCompleted")[0].body
			if sc["sessionId"] != b["sessionId"] || sc["domain"] != testDomain {
				t.Errorf("sessionCompleted %v", sc)
			}
			if ms := toneMs(t, filepath.Join(r.data, "mediaservice", "prompts", testDomain, "ivr.wav"), 1000); ms < 600 {
				t.Errorf("the recording holds %d ms of the 1 kHz prompt, want most of its 1.5 s", ms)
			}
			select {
			case a := <-r.alarms:
				t.Errorf("service alarm %+v", a)
			default:
			}
			if n := r.svc.Sessions(); n != 0 {
				t.Errorf("%d sessions left", n)
			}
		})
	}
}

// An IVR command the gateway cannot run ends the call with the media service API's
// service alarm, after one request: an empty body, a command asking for
// nothing (which would loop on the application), not JSON. A text-to-speech
// phrase raises phraseError and the command goes on (here to its hangup).
func TestBadIVRCommandsHangUpWithAlarm(t *testing.T) {
	for _, tc := range []struct {
		name, answer, alarm string
	}{
		{"empty body", "", "Empty body in getIvrCommand response"},
		{"asks for nothing", "{}", "IVR command failed"},
		{"not JSON", "{", "IVR command failed"},
		{"text to speech", `{"phrases":[{"format":"awstts","region":"eu-west-1"}],"hangup":true}`, "phraseError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			wd := t.TempDir()
			r.app.script = func(name string, body map[string]any) (int, any) {
				switch name {
				case "newCall":
					return 200, map[string]any{"action": "ivr"}
				case "getIvrCommand":
					return 200, tc.answer
				}
				return 200, map[string]any{}
			}
			caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_hold.xml"), "-s", "ivr1", "-m", "1", r.eng.Addr())
			if err := caller.Wait(10 * time.Second); err != nil {
				t.Fatalf("caller not hung up: %v\n%s", err, caller.Report())
			}
			select {
			case a := <-r.alarms:
				if a.Type != "ivrCommandError" || a.Error != tc.alarm || a.Domain != testDomain || a.SessionID == "" {
					t.Errorf("alarm %+v, want ivrCommandError %q", a, tc.alarm)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no service alarm")
			}
			testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
			if n := len(r.app.got("getIvrCommand")); n != 1 {
				t.Errorf("%d getIvrCommand requests, want 1", n)
			}
		})
	}
}

// A caller transferred out of the IVR hears the ringback tone (425 Hz)
// while the destination rings (ringbackTone default), and silence with
// "silent"; the destination never answers, so after maxRingTime callEvent
// calledPartyFailure drops the caller. The caller is a second SIP engine
// in the test, which listens to what it is played.
func TestRingbackWhileTransferRings(t *testing.T) {
	for _, tone := range []string{"default", "silent"} {
		t.Run(tone, func(t *testing.T) {
			r := newRig(t)
			wd := t.TempDir()
			callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_ring.xml"), "-m", "1")
			r.app.script = func(name string, body map[string]any) (int, any) {
				switch name {
				case "newCall":
					return 200, map[string]any{"action": "ivr"}
				case "getIvrCommand":
					return 200, map[string]any{"action": "call", "ringbackTone": tone,
						"destAddr": []any{map[string]any{"destAddr": "sip:agent@127.0.0.1:" + strconv.Itoa(callee.Port), "maxRingTime": 2.5}}}
				case "callEvent":
					return 200, map[string]any{"action": "drop"}
				}
				return 200, map[string]any{}
			}
			lo, hi := testkit.PortRange(t, 20)
			phone, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "phone", RTPPortMin: lo, RTPPortMax: hi}, engine.WithLogger(testLog()))
			if err != nil {
				t.Fatal(err)
			}
			if err := phone.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer phone.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			c, err := phone.Dial(ctx, engine.DialOptions{To: "sip:ivr4@" + r.eng.Addr(), From: "1000"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Hangup()
			det, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "ringback", Freq1: 425})
			if err != nil {
				t.Fatal(err)
			}
			var heard int64
			emit := func(e dsp.ToneEvent) {
				if !e.On {
					heard += e.DurationMs()
				}
			}
			frame := make([]int16, 160)
			for c.Session().ReadFrame(frame) == nil { // until the gateway drops the call
				det.Process(frame, emit)
			}
			det.Flush(emit)
			if err := callee.Wait(5 * time.Second); err != nil {
				t.Fatalf("callee: %v\n%s", err, callee.Report())
			}
			ev := r.app.got("callEvent")
			if len(ev) != 1 || ev[0].body["event"] != "calledPartyFailure" {
				t.Fatalf("callEvent %+v", ev)
			}
			switch {
			case tone == "default" && heard < 800:
				t.Errorf("heard %d ms of ringback while the destination rang, want its first 1 s burst", heard)
			case tone == "silent" && heard > 0:
				t.Errorf("heard %d ms of ringback with ringbackTone silent", heard)
			}
		})
	}
}
