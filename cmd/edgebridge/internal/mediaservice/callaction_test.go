package mediaservice

import (
	"regexp"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// newCall's call action with sipTo, contactParameters and
// contactUserParameters (the callee hangs up, callEvent drops the
// caller): the callee's INVITE has the To user sipTo names
// and the parameters in its Contact (user part and URI), in key order.
func TestCallActionToAndContact(t *testing.T) {
	r := newRig(t)
	wd := t.TempDir()
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_bye.xml", "PAUSE_MS", "500"), "-m", "1")
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "call", "destAddr": "sip:agent@127.0.0.1:" + itoa(callee.Port),
				"sipTo": "callee", "contactParameters": map[string]any{"zone": "b", "line": 7},
				"contactUserParameters": map[string]any{"isup-oli": "62"}}
		case "callEvent":
			return 200, map[string]any{"action": "drop"}
		}
		return 200, map[string]any{}
	}
	cwd := t.TempDir() // SIPp keeps its message log in its working folder
	caller := testkit.StartSIPp(t, cwd, false, "-sf", testkit.SIPpScenario(t, cwd, "uac_hold.xml"), "-s", "ivr8", "-m", "1", r.eng.Addr())
	if err := caller.Wait(15 * time.Second); err != nil {
		t.Fatalf("caller: %v\n%s", err, caller.Report())
	}
	if err := callee.Wait(10 * time.Second); err != nil {
		t.Fatalf("callee: %v\n%s", err, callee.Report())
	}
	inv := callee.Received()
	if len(inv) == 0 {
		t.Fatal("the callee got no INVITE")
	}
	for _, want := range []string{
		`(?m)^To: <sip:callee@127\.0\.0\.1:\d+>\r?$`,
		`(?m)^Contact: <sip:edgebridge;isup-oli=62@127\.0\.0\.1:\d+;line=7;zone=b>\r?$`,
		`(?m)^INVITE sip:agent@127\.0\.0\.1:\d+ SIP/2\.0\r?$`,
	} {
		if !regexp.MustCompile(want).MatchString(inv[0]) {
			t.Errorf("the callee's INVITE does not match %s:\n%s", want, inv[0])
		}
	}
}
