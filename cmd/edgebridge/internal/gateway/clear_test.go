package gateway

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestHangupAlarmCallClearsTT92WithHashes: a TT92 unit is cleared down with
// its own signal, ## (not the SS 91100 0 other units take), when the
// operator hangs its call up with clear through /alarmbridge hangupalarmcall.
func TestHangupAlarmCallClearsTT92WithHashes(t *testing.T) {
	g := startGateway(t, map[string]map[string]string{
		"alarmbridge": {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"dtmf","destinationMatch":"^5553$"}`},
		// The unit calls without digest from a trusted network (nothing is trusted by default).
		"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := dialGateway(t, ctx, g, "461234567800", "5553", engine.MediaOptions{DTMF: "2833", DataMode: true})
	if err != nil {
		t.Fatal(err)
	}
	// The unit listens and sends nothing: the gateway keeps prompting (0#).
	sess := call.Session()
	heard := make(chan string, 1)
	keys := make(chan byte, 64)
	go func() {
		var all []byte
		frame := make([]int16, 160)
		det := dsp.NewDTMFDetector(dsp.DTMFConfig{}) // the prompts come in band
		inband := func(ev dsp.DigitEvent) {
			all = append(all, ev.Key)
			select {
			case keys <- ev.Key:
			default:
			}
		}
		drain := func() {
			for more := true; more; {
				select {
				case d := <-sess.Digits():
					all = append(all, d.Key)
				default:
					more = false
				}
			}
		}
		for sess.ReadFrame(frame) == nil {
			det.Process(frame, inband)
			drain()
			clear(frame)
			if sess.WriteFrame(frame) != nil {
				break
			}
		}
		drain()
		heard <- string(all)
	}()
	select { // the first prompt key
	case <-keys:
	case <-ctx.Done():
		t.Fatal("no prompt from the gateway")
	}
	calls := g.ListCalls()
	if len(calls) != 1 {
		t.Fatalf("live alarm calls %+v, want one", calls)
	}
	if err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: calls[0].ID, Clear: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case all := <-heard:
		if !strings.HasSuffix(all, "##") {
			t.Fatalf("the unit heard %q before its call ended, want the TT92 clear-down ## last", all)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end after hangupalarmcall")
	}
}

// TestTT92AlarmThenVoiceIsNotClearedFirst: a TT92 alarm whose mapper calls
// the emergency centre is followed by the voice call to the ARC's speech
// line; the unit is not sent the clear-down (##) before it, which would
// make it hang up on the ARC. Without a voice call it is cleared (the
// daemon test TestEveryAnalogueProtocolThroughTheDaemon hears the ##).
func TestTT92AlarmThenVoiceIsNotClearedFirst(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"device": {"461234567800": `{"deviceId":"461234567800","domain":"local","authType":"deviceid"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter","targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arc.Addr + `?transport=tcp","defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(voice.Port) + `"}}`},
		"alarmbridge": {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"dtmf","destinationMatch":"^5553$","alarmEventMapperId":"arc"}`},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	call, err := dialGateway(t, ctx, g, "461234567800", "5553", engine.MediaOptions{DTMF: "2833", DataMode: true})
	if err != nil {
		t.Fatal(err)
	}
	// The unit waits up to 10 s for a clear-down after its acknowledge,
	// then hangs up by itself.
	rep, err := tt92.NewUnit(tt92.UnitConfig{}).Send(ctx, call.Session(), []string{"D#1020461234567800000047"})
	if err != nil || !rep.Acked[0] {
		t.Fatalf("unit: %v %+v", err, rep)
	}
	if rep.Cleared {
		t.Fatal("the unit was cleared down (##) although a voice call to the ARC follows")
	}
	if got := arc.Wait(1, 10*time.Second); len(got) != 1 {
		t.Fatalf("ARC got %d events, want the alarm", len(got))
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line got no call (or it did not end with the unit's): %v\n%s", err, voice.Report())
	}
}

// TestUnitClearedWhenNoVoiceDestinationAnswers: a TT92 alarm whose mapper
// calls the emergency centre, when both the voice destination and the
// mapper's backupDefaultVoiceDestination are busy, ends with the unit
// hearing its clear-down (##) and the call ending, as when the ARC hangs
// up; the unit does not sit out its own timeout.
func TestUnitClearedWhenNoVoiceDestinationAnswers(t *testing.T) {
	g, _, voices := busyVoiceGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	call, err := dialGateway(t, ctx, g, "461234567800", "5553", engine.MediaOptions{DTMF: "2833", DataMode: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tt92.NewUnit(tt92.UnitConfig{}).Send(ctx, call.Session(), []string{"D#1020461234567800000047"})
	if err != nil || !rep.Acked[0] {
		t.Fatalf("unit: %v %+v", err, rep)
	}
	if !rep.Cleared {
		t.Fatalf("the unit heard no clear-down (##) although neither voice destination answered: %+v", rep)
	}
	voices.waitTried(t)
	select {
	case <-call.Session().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not end the unit's call after its clear-down")
	}
}

// TestSDMFUnitIsClearedInSingleTones: a TT92 unit in protocolMode sdmf
// hears only single tones (STMF), so its clear-down must be ## as row tone
// then column tone: an operator's clear (hangupalarmcall with clear,
// devicecommand clear) reaches a unit that listens to the prompts with the
// simulated sdmf unit's own detector as single tones, and nothing as RFC
// 4733 keys. TestFXSMaxSessionDurationClearsDown/sdmf covers the session
// limit on the FXS line.
func TestSDMFUnitIsClearedInSingleTones(t *testing.T) {
	for _, c := range []struct {
		name  string
		clear func(ctx context.Context, g *Gateway, callID string) error
	}{
		{"hangupalarmcall", func(ctx context.Context, g *Gateway, id string) error {
			return g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id, Clear: true})
		}},
		{"devicecommand", func(ctx context.Context, g *Gateway, id string) error {
			return g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: id, Command: "clear"})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := startGateway(t, map[string]map[string]string{
				"alarmbridge":    {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"sdmf","destinationMatch":"^5554$"}`},
				"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			call, err := dialGateway(t, ctx, g, "461234567800", "5554", engine.MediaOptions{DTMF: "2833", DataMode: true})
			if err != nil {
				t.Fatal(err)
			}
			// The unit listens (single tones in band) and sends nothing: the
			// gateway keeps prompting (0# in STMF).
			sess := call.Session()
			det, err := tt92.NewStmfDetector()
			if err != nil {
				t.Fatal(err)
			}
			type heard struct{ stmf, events string }
			done := make(chan heard, 1)
			keys := make(chan byte, 64)
			go func() {
				var h heard
				frame := make([]int16, 160)
				drain := func() {
					for more := true; more; {
						select {
						case d := <-sess.Digits():
							h.events += string(d.Key)
						default:
							more = false
						}
					}
				}
				for sess.ReadFrame(frame) == nil {
					det.Process(frame, func(ev dsp.DigitEvent) {
						h.stmf += string(ev.Key)
						select {
						case keys <- ev.Key:
						default:
						}
					})
					drain()
					clear(frame)
					if sess.WriteFrame(frame) != nil {
						break
					}
				}
				drain()
				done <- h
			}()
			select { // the first prompt key
			case <-keys:
			case <-ctx.Done():
				t.Fatal("no prompt from the gateway")
			}
			calls := g.ListCalls()
			if len(calls) != 1 {
				t.Fatalf("live alarm calls %+v, want one", calls)
			}
			if err := c.clear(ctx, g, calls[0].ID); err != nil {
				t.Fatal(err)
			}
			select {
			case h := <-done:
				if !strings.HasSuffix(h.stmf, "##") || h.events != "" {
					t.Fatalf("the unit heard %q in single tones and %q as RFC 4733 before its call ended, want the clear-down ## last in single tones only", h.stmf, h.events)
				}
			case <-ctx.Done():
				t.Fatal("the call did not end after the clear-down")
			}
		})
	}
}

// busyVoiceGateway is a gateway whose TT92 alarmbridge (^5553$) has a
// mapper calling the emergency centre, with both its voice destination and
// its backupDefaultVoiceDestination answering busy (SIPp, once each), and
// delivering to arc.
func busyVoiceGateway(t *testing.T) (*Gateway, *alarmtest.ARC, busyVoices) {
	t.Helper()
	wd, bwd := t.TempDir(), t.TempDir()
	busy := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_busy.xml"), "-m", "1")
	backup := testkit.StartSIPp(t, bwd, true, "-sf", testkit.SIPpScenario(t, bwd, "uas_busy.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"device": {"461234567800": `{"deviceId":"461234567800","domain":"local","authType":"deviceid"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter","targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arc.Addr + `?transport=tcp","defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(busy.Port) + `",` +
			`"backupEndpoint":{"backupDefaultVoiceDestination":"sip:backup@127.0.0.1:` + strconv.Itoa(backup.Port) + `"}}}`},
		"alarmbridge": {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"dtmf","destinationMatch":"^5553$","alarmEventMapperId":"arc"}`},
	})
	return g, arc, busyVoices{busy, backup}
}

// busyVoices are busyVoiceGateway's voice destination and its backup.
type busyVoices []*testkit.SIPp

// waitTried fails t unless both were called.
func (v busyVoices) waitTried(t *testing.T) {
	t.Helper()
	for _, s := range v {
		if err := s.Wait(10 * time.Second); err != nil {
			t.Fatalf("a voice destination was not tried: %v\n%s", err, s.Report())
		}
	}
}
