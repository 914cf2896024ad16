package gateway

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/engine"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// After a Contact ID 606 (listen-in to follow) with alarmHandling
// callEmergencyCenter, the gateway calls the mapper's voice destination (the
// ARC's speech line, here SIPp answering) and bridges the unit to it; when the
// unit hangs up, the ARC leg is cleared too. With useVoiceBridge false the
// event is still delivered and acknowledged, and no voice call is made.
func TestAlarmVoiceBridgedToARC(t *testing.T) {
	for _, tc := range []struct {
		name      string
		bridgeOff bool
	}{{"useVoiceBridge default", false}, {"useVoiceBridge false", true}} {
		t.Run(tc.name, func(t *testing.T) {
			wd := t.TempDir()
			voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
			arc := alarmtest.StartARC(t, "127.0.0.1:0")
			extra := ""
			if tc.bridgeOff {
				extra = `,"useVoiceBridge":false`
			}
			g := startGateway(t, listenInDocs(arc.Addr, voice.Port, extra))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			call, rep, err := listenInCall(t, ctx, g)
			if tc.bridgeOff && errors.Is(err, contactid.ErrReceiverHungUp) {
				err = nil // no voice to follow: the gateway clears down after the kissoff
			}
			if err != nil || len(rep.Messages) != 1 || !rep.Messages[0].Acked {
				t.Fatalf("panel: %v %+v", err, rep)
			}
			if got := arc.Wait(1, 10*time.Second); len(got) != 1 || !strings.Contains(got[0].Data, "1606") {
				t.Fatalf("ARC got %+v, want the 606 event", got)
			}

			if tc.bridgeOff {
				// The gateway hangs up after the kissoff (the panel may have
				// heard its tone end first: it stays on the line).
				select {
				case <-call.Session().Done():
				case <-time.After(10 * time.Second):
					t.Fatal("the gateway kept the call up with no voice path to give it")
				}
				testkit.Eventually(5*time.Second, func() bool { return g.activeCalls() == 0 })
				if n := g.activeCalls(); n != 0 {
					t.Fatalf("%d calls with useVoiceBridge false, want none", n)
				}
				if err := voice.Wait(time.Second); err == nil {
					t.Fatalf("the ARC's speech line got a call with useVoiceBridge false:\n%s", voice.Report())
				}
				return
			}
			// The voice leg comes up while the unit stays on the line.
			testkit.Eventually(5*time.Second, func() bool { return g.activeCalls() >= 2 })
			if n := g.activeCalls(); n != 2 {
				t.Fatalf("%d calls in progress, want the alarm call and the voice leg:\n%s", n, voice.Report())
			}
			call.Hangup()
			// SIPp ends its one call only after the BYE of the voice leg.
			if err := voice.Wait(10 * time.Second); err != nil {
				t.Fatalf("voice leg not cleared after the unit hung up: %v\n%s", err, voice.Report())
			}
			// /metrics: the RTP of the ended calls is counted.
			testkit.Eventually(5*time.Second, func() bool { return g.activeCalls() == 0 })
			if r := g.rtpCounts(); r.Received < 100 {
				t.Fatalf("RTP counted %+v after a call of several seconds", r)
			}
		})
	}
}

// /alarmbridge/{domain}/hangupalarmcall with clear, while the unit talks to
// the ARC's speech line: the unit hears the clear-down key (SS 91100 DTMF 0)
// before its call ends, and the speech line is cleared too; another domain
// cannot reach the call.
func TestHangupAlarmCallSendsClearBeforeBye(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, listenInDocs(arc.Addr, voice.Port, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, rep, err := listenInCall(t, ctx, g)
	sess := call.Session()
	if err != nil || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	// The unit stays on the line, listening, as a panel waiting to hang up.
	heard := make(chan string, 1)
	go func() {
		var keys []byte
		frame := make([]int16, 160)
		for sess.ReadFrame(frame) == nil {
			for more := true; more; {
				select {
				case d := <-sess.Digits():
					keys = append(keys, d.Key)
				default:
					more = false
				}
			}
			clear(frame)
			if sess.WriteFrame(frame) != nil {
				break
			}
		}
		for more := true; more; { // keys delivered as the call ended
			select {
			case d := <-sess.Digits():
				keys = append(keys, d.Key)
			default:
				more = false
			}
		}
		heard <- string(keys)
	}()
	testkit.Eventually(5*time.Second, func() bool { return g.activeCalls() >= 2 })
	calls := g.ListCalls()
	if len(calls) != 1 || g.activeCalls() != 2 {
		t.Fatalf("live alarm calls %+v, want one", calls)
	}
	if err := g.HangupAlarmCall(ctx, "other", api.AlarmHangup{CallID: calls[0].ID, Clear: true}); !errors.Is(err, api.ErrNoSuchCall) {
		t.Fatalf("hang-up from another domain: %v, want ErrNoSuchCall", err)
	}
	if err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: calls[0].ID, Clear: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case keys := <-heard:
		if keys != "0" {
			t.Fatalf("the unit heard keys %q before the call ended, want the clear-down 0", keys)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end after hangupalarmcall")
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line was not cleared with the alarm call: %v\n%s", err, voice.Report())
	}
}

// listenInDocs provisions a listen-in alarm path: device 1234, Contact ID
// panels on 5551, a mapper with callEmergencyCenter delivering to the DC-09
// ARC at arcAddr, its speech line at voicePort; extra is added to the mapper.
func listenInDocs(arcAddr string, voicePort int, extra string) map[string]map[string]string {
	return map[string]map[string]string{
		"device": {"1234": `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter"` + extra + `,"targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arcAddr + `?transport=tcp","defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(voicePort) + `"}}`},
		"alarmbridge": {"panels": `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`},
	}
}

// listenInCall is a SIP alarm unit (an engine of its own, RTP from rtpLo)
// that calls 5551 on g and sends Contact ID 606, staying on the line for
// the voice path as a listen-in panel does.
func listenInCall(t *testing.T, ctx context.Context, g *Gateway) (*engine.Call, contactid.PanelReport, error) {
	t.Helper()
	call, err := dialGateway(t, ctx, g, "1234", "5551", engine.MediaOptions{DTMF: "2833", DataMode: true})
	if err != nil {
		t.Fatal(err)
	}
	panel, err := contactid.NewPanel(contactid.PanelConfig{StayOnLine: true})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := contactid.Build("1234", "18", "1", "606", "01", "000")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := panel.Send(ctx, call.Session(), []contactid.Message{msg})
	return call, rep, err
}

// When the ARC's speech line hangs up first, the unit hears the clear-down
// key before its call ends (alarmbridge arcDisconnectClearsCall, default
// true); with it off, the call just ends.
func TestARCDisconnectClearsCall(t *testing.T) {
	for _, c := range []struct {
		name  string
		extra string
		want  string
	}{
		{"default on", "", "0"},
		{"off", `,"arcDisconnectClearsCall":false`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			wd := t.TempDir()
			voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_bye.xml", "PAUSE_MS", "1500"), "-m", "1")
			arc := alarmtest.StartARC(t, "127.0.0.1:0")
			docs := listenInDocs(arc.Addr, voice.Port, "")
			docs["alarmbridge"]["panels"] = strings.Replace(docs["alarmbridge"]["panels"], `"alarmEventMapperId":"arc"`, `"alarmEventMapperId":"arc"`+c.extra, 1)
			g := startGateway(t, docs)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			call, rep, err := listenInCall(t, ctx, g)
			if err != nil || !rep.Messages[0].Acked {
				t.Fatalf("panel: %v %+v", err, rep)
			}
			sess := call.Session()
			heard := make(chan string, 1)
			go func() {
				var keys []byte
				frame := make([]int16, 160)
				take := func() {
					for {
						select {
						case d := <-sess.Digits():
							keys = append(keys, d.Key)
						default:
							return
						}
					}
				}
				for sess.ReadFrame(frame) == nil {
					take()
					clear(frame)
					if sess.WriteFrame(frame) != nil {
						break
					}
				}
				take() // keys delivered as the call ended
				heard <- string(keys)
			}()
			select {
			case keys := <-heard:
				if keys != c.want {
					t.Fatalf("the unit heard keys %q before its call ended, want %q", keys, c.want)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the unit's call did not end after the ARC hung up")
			}
			if err := voice.Wait(10 * time.Second); err != nil {
				t.Fatalf("speech line: %v\n%s", err, voice.Report())
			}
		})
	}
}
