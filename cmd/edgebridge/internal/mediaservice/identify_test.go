package mediaservice

import (
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// getCallIdentifier is asked once, when a session without a
// sessionReferenceId reaches the IVR, with its sessionId and the called
// number; the answer's sessionReferenceId is carried by every later
// callback. A session that has one from newCall does not ask; an answer
// naming another session is not taken and raises a sessionError alarm.
func TestGetCallIdentifier(t *testing.T) {
	for _, tc := range []struct {
		name    string
		newCall map[string]any
		answer  func(sessionID string) map[string]any
		asked   bool
		ref     string // sessionReferenceId of the later callbacks ("null": none)
		alarm   bool
	}{
		{"taken", map[string]any{"action": "ivr"},
			func(id string) map[string]any {
				return map[string]any{"sessionId": id, "sessionReferenceId": map[string]any{"foo": 1, "bar": 2}}
			}, true, `{"bar":2,"foo":1}`, false},
		{"newCall gave one", map[string]any{"action": "ivr", "sessionReferenceId": "from-newCall"},
			nil, false, `"from-newCall"`, false},
		{"another session's", map[string]any{"action": "ivr"},
			func(string) map[string]any {
				return map[string]any{"sessionId": "someone-else", "sessionReferenceId": "x"}
			}, true, "null", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			wd := t.TempDir()
			r.app.script = func(name string, body map[string]any) (int, any) {
				switch name {
				case "newCall":
					return 200, tc.newCall
				case "getCallIdentifier":
					id, _ := body["sessionId"].(string)
					return 200, tc.answer(id)
				case "getIvrCommand":
					return 200, map[string]any{"hangup": true}
				}
				return 200, map[string]any{}
			}
			caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_hold.xml"), "-s", "ivr55", "-m", "1", r.eng.Addr())
			if err := caller.Wait(10 * time.Second); err != nil {
				t.Fatalf("caller not hung up by the IVR: %v\n%s", err, caller.Report())
			}
			testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
			sid := r.app.got("newCall")[0].body["sessionId"]
			gci := r.app.got("getCallIdentifier")
			switch {
			case !tc.asked && len(gci) != 0:
				t.Fatalf("getCallIdentifier sent though newCall gave a sessionReferenceId: %+v", gci)
			case tc.asked && len(gci) != 1:
				t.Fatalf("getCallIdentifier sent %d times, want once", len(gci))
			case tc.asked && (gci[0].body["sessionId"] != sid || gci[0].body["calledParty"] != "ivr55" || len(gci[0].body) != 2):
				t.Errorf("getCallIdentifier body %v, want sessionId %v and calledParty ivr55", gci[0].body, sid)
			}
			if tc.asked {
				if err := r.app.verifyJWT(gci[0].auth); err != nil {
					t.Errorf("getCallIdentifier not signed: %v", err)
				}
				// Asked before the IVR's callAnswered, so that carries it too.
				r.app.mu.Lock()
				order := []string{}
				for _, q := range r.app.reqs {
					order = append(order, q.name)
				}
				r.app.mu.Unlock()
				if len(order) < 3 || order[1] != "getCallIdentifier" || order[2] != "callAnswered" {
					t.Errorf("callbacks in order %v, want newCall, getCallIdentifier, callAnswered, ...", order)
				}
			}
			for _, name := range []string{"callAnswered", "getIvrCommand", "sessionCompleted"} {
				got := r.app.got(name)
				if len(got) != 1 || mustString(got[0].body["sessionReferenceId"]) != tc.ref {
					t.Errorf("%s sessionReferenceId %s, want %s", name, mustString(got[0].body["sessionReferenceId"]), tc.ref)
				}
			}
			select {
			case a := <-r.alarms:
				if !tc.alarm || a.Type != "sessionError" {
					t.Errorf("alarm %+v", a)
				}
			default:
				if tc.alarm {
					t.Error("no sessionError alarm for an answer naming another session")
				}
			}
		})
	}
}
