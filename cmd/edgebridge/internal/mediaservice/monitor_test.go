package mediaservice

import (
	"context"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// Call monitoring: newCall's call action with monitorDestAddr connects the
// caller to a SIPp callee and places a monitoring call, which hears the
// connection (the caller's 1 kHz tone) and is hung up with it. Its INVITE
// has From and P-Asserted-Identity monitorSipFrom and the inbound call's
// X- headers, one removed (null) and one added by monitorXHeaders; its
// callAnswered says monitoringParticipant. The caller and the monitor are
// SIP engines in the test, so what each sends and hears is known.
func TestCallMonitoring(t *testing.T) {
	r := newRig(t)
	wd := t.TempDir()
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	ear := newEarpiece(t, map[string]float64{"tone": 1000})
	var monMu sync.Mutex
	var monInvite string
	monDone := make(chan struct{})
	lo, hi := testkit.PortRange(t, 20)
	dir := engine.NewStaticDirectory()
	if err := dir.SetTrusted("mon", "127.0.0.1/32"); err != nil {
		t.Fatal(err)
	}
	mon, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "mon", RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(testLog()), engine.WithDirectory(dir),
		engine.WithRoutes(engine.RouteSourceFunc(func(string) []engine.Route {
			return []engine.Route{{Name: "mon", Match: regexp.MustCompile("."), Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) {
				defer close(monDone)
				monMu.Lock()
				monInvite = c.Request().String()
				monMu.Unlock()
				if c.Answer() != nil {
					return
				}
				frame := make([]int16, 160)
				for c.Session().ReadFrame(frame) == nil {
					ear.hear(frame)
				}
				ear.flush()
			})}}
		})))
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "call", "destAddr": "sip:agent@127.0.0.1:" + itoa(callee.Port),
				"monitorDestAddr": "sip:mon@" + mon.Addr(), "monitorSipFrom": "supervisor",
				"monitorXHeaders": map[string]any{"X-Drop": nil, "X-Added": "a"}}
		case "callEvent":
			return 200, map[string]any{"action": "drop"}
		}
		return 200, map[string]any{}
	}

	lo2, hi2 := testkit.PortRange(t, 20)
	phone, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "phone", RTPPortMin: lo2, RTPPortMax: hi2}, engine.WithLogger(testLog()))
	if err != nil {
		t.Fatal(err)
	}
	if err := phone.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := phone.Dial(ctx, engine.DialOptions{To: "sip:ivr10@" + r.eng.Addr(), From: "1000",
		Headers: []sip.Header{sip.NewHeader("X-Case", "7"), sip.NewHeader("X-Drop", "1")}})
	if err != nil {
		t.Fatal(err)
	}
	// The caller plays its tone until the monitor has heard a second of it.
	frame := make([]int16, 160)
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		if c.Session().ReadFrame(frame) != nil {
			break
		}
		for i := range frame {
			frame[i] = int16(8000 * math.Sin(2*math.Pi*1000*float64(n*160+i)/8000))
		}
		if c.Session().WriteFrame(frame) != nil {
			break
		}
		if first, _ := ear.heard("tone"); !first.IsZero() && time.Since(first) > 1200*time.Millisecond {
			break
		}
	}
	_ = c.Hangup()
	select {
	case <-monDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the monitoring call was not hung up with the connection")
	}
	if err := callee.Wait(10 * time.Second); err != nil {
		t.Fatalf("callee: %v\n%s", err, callee.Report())
	}
	if _, ms := ear.heard("tone"); ms < 800 {
		t.Errorf("the monitor heard %d ms of the caller's tone, want a second", ms)
	}
	monMu.Lock()
	inv := monInvite
	monMu.Unlock()
	for _, want := range []string{`(?m)^From: <sip:supervisor@`, `(?m)^P-Asserted-Identity: <sip:supervisor@local>\r?$`,
		`(?m)^X-Case: 7\r?$`, `(?m)^X-Added: a\r?$`} {
		if !regexp.MustCompile(want).MatchString(inv) {
			t.Errorf("the monitoring INVITE does not match %s:\n%s", want, inv)
		}
	}
	if strings.Contains(inv, "X-Drop") {
		t.Errorf("the monitoring INVITE has the X-Drop header monitorXHeaders removed:\n%s", inv)
	}
	testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
	var got []string
	for _, a := range r.app.got("callAnswered") {
		got = append(got, toStr(a.body["remotePartyNumber"])+"/"+toStr(a.body["monitoringParticipant"]))
	}
	if len(got) != 2 || !strings.Contains(strings.Join(got, " "), "agent/false") || !strings.Contains(strings.Join(got, " "), "mon/true") {
		t.Errorf("callAnswered %v, want the connection's and the monitor's (monitoringParticipant true)", got)
	}
}

func toStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return ""
}

// The monitoring call's 180 sends callNotify ringing for the monitoring
// participant (monitoringParticipant true, its own participantId as in its
// callAnswered, sipCallId the Call-ID of its INVITE), beside the callee's
// callNotify (monitoringParticipant false). SIPp is caller, callee and
// monitor.
func TestMonitoringCallNotify(t *testing.T) {
	r := newRig(t)
	cwd, mwd, wd := t.TempDir(), t.TempDir(), t.TempDir()
	// Both ring 300 ms before they answer: a 200 right behind its 180 may
	// overtake it in the SIP stack, and a 180 after the 200 is no ringing.
	callee := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_bye.xml", "PAUSE_MS", "1500"), "-m", "1", "-d", "300")
	mon := testkit.StartSIPp(t, mwd, true, "-sf", testkit.SIPpScenario(t, mwd, "uas_answer.xml"), "-m", "1", "-d", "300")
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "call", "destAddr": "sip:agent@127.0.0.1:" + itoa(callee.Port),
				"monitorDestAddr": "sip:mon@127.0.0.1:" + itoa(mon.Port)}
		case "callEvent":
			return 200, map[string]any{"action": "drop"}
		}
		return 200, map[string]any{}
	}
	caller := testkit.StartSIPp(t, cwd, false, "-sf", testkit.SIPpScenario(t, cwd, "uac_hold.xml"), "-s", "ivr8", "-m", "1", r.eng.Addr())
	if err := caller.Wait(15 * time.Second); err != nil {
		t.Fatalf("caller: %v\n%s", err, caller.Report())
	}
	if err := mon.Wait(10 * time.Second); err != nil {
		t.Fatalf("monitor (hung up with the connection): %v\n%s", err, mon.Report())
	}
	testkit.WaitFor(t, "sessionCompleted", 5*time.Second, func() bool { return len(r.app.got("sessionCompleted")) == 1 })
	testkit.WaitFor(t, "two callNotify", 5*time.Second, func() bool { return len(r.app.got("callNotify")) == 2 })
	var monAnswered, monNotify, calleeNotify map[string]any
	for _, a := range r.app.got("callAnswered") {
		if a.body["monitoringParticipant"] == true {
			monAnswered = a.body
		}
	}
	for _, a := range r.app.got("callNotify") {
		if a.body["monitoringParticipant"] == true {
			monNotify = a.body
		} else {
			calleeNotify = a.body
		}
	}
	if monAnswered == nil || monNotify == nil || calleeNotify == nil {
		t.Fatalf("callAnswered %v callNotify %v: want the monitor's callAnswered, and callNotify of the callee and of the monitor", r.app.got("callAnswered"), r.app.got("callNotify"))
	}
	inv := mon.Received()
	if len(inv) == 0 {
		t.Fatal("the monitor got no INVITE")
	}
	callID := regexp.MustCompile(`(?mi)^Call-ID:\s*(\S+)\r?$`).FindStringSubmatch(inv[0])
	if monNotify["event"] != "ringing" || monNotify["user"] != "mon" || callID == nil || monNotify["sipCallId"] != callID[1] ||
		monNotify["participantId"] != monAnswered["calleeParticipantId"] || monNotify["remoteParticipantId"] != monAnswered["callerParticipantId"] ||
		monNotify["sessionId"] != calleeNotify["sessionId"] || monNotify["traceId"] == "" || monNotify["participantId"] == calleeNotify["participantId"] {
		t.Errorf("the monitor's callNotify %v (its INVITE's Call-ID %v, its callAnswered %v, the callee's callNotify %v)", monNotify, callID, monAnswered, calleeNotify)
	}
}
