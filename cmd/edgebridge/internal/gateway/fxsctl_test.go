package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// In-call control of an alarm call on the FXS line: hangupalarmcall and
// devicecommand reach it as they reach a SIP alarm call, and the unit
// hears its protocol's clear-down and keys in band on the line.

// lineEar is the unit's ear on the simulated FXS line once its protocol
// is done: frame for frame with the gateway, it answers each frame it
// reads with one of silence (so the line's two directions keep one clock,
// as on a real line, and a recording of the session loses nothing), and
// hears the keys in what it reads, until the gateway releases the line.
// While the gateway writes nothing (it dials the voice destination, or a
// bridge winds down) a frame goes every 100 ms all the same: a line's
// audio does not stop, and a bridge waiting to read it must not stall.
type lineEar struct {
	first chan struct{} // closed at the first key
	ended chan struct{} // closed when the line was released
	mu    sync.Mutex
	keys  []byte
	reads atomic.Int64 // frames read from the line
}

func listenOnLine(t *testing.T, unit *pcmPipe) *lineEar {
	return listenOnLineFor(t, unit, "dtmf")
}

// listenOnLineFor is listenOnLine for a unit of protocolMode mode: an
// sdmf unit hears keys only as single tones, with the simulated sdmf
// unit's own detector.
func listenOnLineFor(t *testing.T, unit *pcmPipe, mode string) *lineEar {
	t.Helper()
	hear := dsp.NewDTMFDetector(dsp.DTMFConfig{}).Process
	if mode == "sdmf" {
		det, err := tt92.NewStmfDetector()
		if err != nil {
			t.Fatal(err)
		}
		hear = det.Process
	}
	e := &lineEar{first: make(chan struct{}), ended: make(chan struct{})}
	read := make(chan struct{}, 512)
	go func() {
		defer close(e.ended)
		frame := make([]int16, 160)
		for unit.ReadFrame(frame) == nil {
			hear(frame, func(ev dsp.DigitEvent) {
				e.mu.Lock()
				defer e.mu.Unlock()
				if e.keys = append(e.keys, ev.Key); len(e.keys) == 1 {
					close(e.first)
				}
			})
			e.reads.Add(1)
			read <- struct{}{}
		}
	}()
	go func() {
		silence := make([]int16, 160)
		idle := time.NewTimer(100 * time.Millisecond)
		defer idle.Stop()
		for {
			select {
			case <-e.ended:
				return
			case <-read:
			case <-idle.C:
			}
			if unit.WriteFrame(silence) != nil {
				return
			}
			idle.Reset(100 * time.Millisecond)
		}
	}()
	return e
}

func (e *lineEar) heard() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return string(e.keys)
}

// waitFirstKey waits for the first key the unit hears (a prompt).
func (e *lineEar) waitFirstKey(t *testing.T) {
	t.Helper()
	select {
	case <-e.first:
	case <-time.After(10 * time.Second):
		t.Fatal("the unit heard no key from the gateway")
	}
}

// waitReleased waits until the gateway released the line (the unit reads
// the end of its audio and the line is on hook) and returns the keys heard.
func (e *lineEar) waitReleased(t *testing.T, g *Gateway) string {
	t.Helper()
	select {
	case <-e.ended:
	case <-time.After(15 * time.Second):
		t.Fatalf("the line was not released; the unit heard %q", e.heard())
	}
	testkit.WaitFor(t, "the line on hook", 5*time.Second, func() bool { return !g.board.Line.OffHook() })
	testkit.WaitFor(t, "no live alarm call", 5*time.Second, func() bool { return len(g.ListCalls()) == 0 })
	return e.heard()
}

// fxsLiveCall is the one live alarm call, which must be the line's.
func fxsLiveCall(t *testing.T, g *Gateway, number string) string {
	t.Helper()
	calls := g.ListCalls()
	if len(calls) != 1 || !strings.HasPrefix(calls[0].ID, "fxs-") || calls[0].To != number {
		t.Fatalf("live alarm calls %+v, want the FXS line's call to %s", calls, number)
	}
	return calls[0].ID
}

// TestFXSHangupAlarmCall: hangupalarmcall on an alarm call from the FXS
// line clears the unit down with its protocol's own signal, played in band
// on the line, then releases the line: a silent TT92 unit hears ## after
// the gateway's prompts; a Contact ID listen-in unit bridged to the ARC's
// speech line, hung up over REST by its event's replyId, hears 0 and the
// speech line gets its BYE. Without clear the line is released with no
// clear-down; with controlCommandsEnabled false the commands that send
// keys are refused 409 naming the field.
func TestFXSHangupAlarmCall(t *testing.T) {
	ttDocs := func(extra string) map[string]map[string]string {
		return map[string]map[string]string{
			"alarmbridge": {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"dtmf","destinationMatch":"^5553$"` + extra + `}`},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, mode := range []string{"dtmf", "sdmf"} {
		// sdmf: the prompts and the ## in single tones, heard only so.
		t.Run("tt92_clears_with_hashes_"+mode, func(t *testing.T) {
			docs := ttDocs("")
			docs["alarmbridge"]["tt"] = strings.Replace(docs["alarmbridge"]["tt"], `"protocolMode":"dtmf"`, `"protocolMode":"`+mode+`"`, 1)
			g := startGateway(t, docs)
			ear := listenOnLineFor(t, fxsUnitDials(t, g, "5553#"), mode)
			ear.waitFirstKey(t)
			id := fxsLiveCall(t, g, "5553")
			if err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id, Clear: true}); err != nil {
				t.Fatal(err)
			}
			if keys := ear.waitReleased(t, g); !strings.HasSuffix(keys, "##") {
				t.Fatalf("the unit heard %q before the line was released, want the TT92 clear-down ## last", keys)
			}
		})
	}

	t.Run("without_clear", func(t *testing.T) {
		g := startGateway(t, ttDocs(""))
		ear := listenOnLine(t, fxsUnitDials(t, g, "5553#"))
		ear.waitFirstKey(t)
		if err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: fxsLiveCall(t, g, "5553")}); err != nil {
			t.Fatal(err)
		}
		if keys := ear.waitReleased(t, g); strings.HasSuffix(keys, "##") {
			t.Fatalf("the unit heard %q: a clear-down although hangupalarmcall asked for none", keys)
		}
	})

	t.Run("controlCommandsEnabled_false", func(t *testing.T) {
		g := startGateway(t, ttDocs(`,"controlCommandsEnabled":false`))
		ear := listenOnLine(t, fxsUnitDials(t, g, "5553#"))
		ear.waitFirstKey(t)
		id := fxsLiveCall(t, g, "5553")
		for name, err := range map[string]error{
			"devicecommand talk":       g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: id, Command: "talk"}),
			"hangupalarmcall clear":    g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id, Clear: true}),
			"devicecommand clear":      g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: id, Command: "clear"}),
			"devicecommand sendTones4": g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: id, Command: "sendTones", Tones: "4"}),
		} {
			var ref *api.Refusal
			if !errors.As(err, &ref) || ref.Status != 409 || !strings.Contains(ref.Reason, "controlCommandsEnabled") {
				t.Errorf("%s: %v, want a 409 refusal naming controlCommandsEnabled", name, err)
			}
		}
		if err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id}); err != nil {
			t.Fatal(err)
		}
		if keys := ear.waitReleased(t, g); strings.Contains(keys, "4") || strings.HasSuffix(keys, "##") {
			t.Fatalf("the unit heard %q, want only the prompts (0#): every command was refused", keys)
		}
	})

	t.Run("contactid_bridged_by_replyId", func(t *testing.T) {
		wd := t.TempDir()
		voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
		r := fxsListenInRig(t, voice.Port)
		unit := fxsListenIn(t, ctx, r.g)
		ear := listenOnLine(t, unit)
		_, replyID := r.event()
		testkit.WaitFor(t, "the speech line bridged", 10*time.Second, func() bool { return r.g.activeCalls() == 1 })
		if code, out := r.post("/alarmbridge/local/hangupalarmcall", map[string]any{"callId": replyID}); code != 200 {
			t.Fatalf("hangupalarmcall: %d %s", code, out)
		}
		if keys := ear.waitReleased(t, r.g); keys != "0" {
			t.Fatalf("the unit heard %q before the line was released, want the clear-down 0", keys)
		}
		if err := voice.Wait(10 * time.Second); err != nil {
			t.Fatalf("the speech line was not hung up: %v\n%s", err, voice.Report())
		}
		if code, out := r.post("/alarmbridge/local/hangupalarmcall", map[string]any{"callId": replyID}); code != 404 {
			t.Errorf("hangupalarmcall after the call ended: %d %s, want 404", code, out)
		}
	})
}

// fxsListenInRig is a session rig (alarm callbacks, REST) whose Contact
// ID bridge on 5551 calls the ARC's speech line on voicePort after an
// alarm.
func fxsListenInRig(t *testing.T, voicePort int) *sessionRig {
	t.Helper()
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	return newSessionRig(t, t.TempDir(), func(cb string) map[string]map[string]string {
		docs := listenInDocs(arc.Addr, voicePort, "")
		docs["alarmbridge"]["panels"] = `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$",` +
			`"alarmEventMapperId":"arc","callbackBaseUrl":"` + cb + `","restAuthentication":[]}`
		return docs
	})
}

// fxsListenIn is a Contact ID panel on the FXS line that dials 5551 and
// sends a listen-in alarm (606), kissed off; it is then on the line.
func fxsListenIn(t *testing.T, ctx context.Context, g *Gateway) *pcmPipe {
	t.Helper()
	unit := fxsUnitDials(t, g, "5551#")
	panel, err := contactid.NewPanel(contactid.PanelConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := contactid.Build("1234", "18", "1", "606", "01", "000")
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := panel.Send(ctx, unit, []contactid.Message{msg}); err != nil || len(rep.Messages) != 1 || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	return unit
}

// TestFXSDeviceCommandKeysReachTheUnitAndTheRecording: devicecommand on
// an FXS line alarm call bridged to the ARC's speech line plays its keys
// in band on the line (the unit decodes them from the line's audio), in
// the frames the bridge writes, and a recording of the session running
// meanwhile holds them.
func TestFXSDeviceCommandKeysReachTheUnitAndTheRecording(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := fxsListenInRig(t, voice.Port)
	unit := fxsListenIn(t, ctx, r.g)
	ear := listenOnLine(t, unit)
	_, replyID := r.event()
	testkit.WaitFor(t, "the speech line bridged", 10*time.Second, func() bool { return r.g.activeCalls() == 1 })
	const name = "keys.wav"
	if code, out := r.post("/mediaservice/local/startrecording", map[string]any{"replyId": replyID, "recordingFileName": name}); code != 200 {
		t.Fatalf("startrecording: %d %s", code, out)
	}
	for _, cmd := range []map[string]any{
		{"callId": replyID, "command": "talk"},
		{"callId": replyID, "command": "sendTones", "tones": "5#"},
	} {
		// It answers once the keys have gone out on the line.
		if code, out := r.post("/alarmbridge/local/devicecommand", cmd); code != 200 {
			t.Fatalf("devicecommand %v: %d %s", cmd, code, out)
		}
	}
	testkit.WaitFor(t, "the unit hears 45#", 5*time.Second, func() bool { return ear.heard() == "45#" })
	// The recording runs on the unit's clock (the frames the bridge reads
	// from the line): half a second more of the line before it stops, so
	// that a bridge a busy CPU holds back has recorded past the last key.
	after := ear.reads.Load() + 25
	testkit.WaitFor(t, "half a second more of the line", 5*time.Second, func() bool { return ear.reads.Load() >= after })
	n := len(r.app.got("/cb/recordingReady"))
	if code, out := r.post("/mediaservice/local/stoprecording", map[string]any{"replyId": replyID}); code != 200 {
		t.Fatalf("stoprecording: %d %s", code, out)
	}
	testkit.WaitFor(t, "recordingReady", 10*time.Second, func() bool { return len(r.app.got("/cb/recordingReady")) == n+1 })
	pcm, _, err := audiofile.ReadFile(filepath.Join(r.g.cfg.DataDir, "mediaservice", "prompts", "local", name))
	if err != nil {
		t.Fatal(err)
	}
	var rec []byte
	dsp.NewDTMFDetector(dsp.DTMFConfig{}).Process(pcm, func(ev dsp.DigitEvent) { rec = append(rec, ev.Key) })
	if string(rec) != "45#" {
		t.Errorf("the recording holds keys %q, want the 45# played on the line", rec)
	}
	if code, out := r.post("/alarmbridge/local/hangupalarmcall", map[string]any{"callId": replyID}); code != 200 {
		t.Fatalf("hangupalarmcall: %d %s", code, out)
	}
	if keys := ear.waitReleased(t, r.g); keys != "45#0" {
		t.Errorf("the unit heard %q in all, want 45# then the clear-down 0", keys)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line was not hung up: %v\n%s", err, voice.Report())
	}
}

// TestFXSUnitClearedWhenNoVoiceDestinationAnswers is
// TestUnitClearedWhenNoVoiceDestinationAnswers on the FXS line: a TT92
// unit's alarm whose mapper calls the emergency centre, when both the
// voice destination and backupDefaultVoiceDestination are busy, ends with
// the unit hearing ## in band and the gateway releasing the line.
func TestFXSUnitClearedWhenNoVoiceDestinationAnswers(t *testing.T) {
	g, arc, voices := busyVoiceGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	unit := fxsUnitDials(t, g, "5553#")
	// Lock-step: the unit's clock stands still while the gateway dials.
	rep, err := tt92.NewUnit(tt92.UnitConfig{}).Send(ctx, unit, []string{"D#1020461234567800000047"})
	if err != nil || !rep.Acked[0] {
		t.Fatalf("unit: %v %+v", err, rep)
	}
	if !rep.Cleared {
		t.Fatalf("the unit heard no clear-down (##) although neither voice destination answered: %+v", rep)
	}
	voices.waitTried(t)
	if got := arc.Wait(1, 10*time.Second); len(got) != 1 {
		t.Fatalf("ARC got %d events, want the alarm", len(got))
	}
	// The unit stays off hook, its line clocked: the gateway releases it.
	if keys := listenOnLine(t, unit).waitReleased(t, g); strings.Contains(keys, "##") {
		t.Fatalf("the unit heard %q after its clear-down: a second one", keys)
	}
}

// TestFXSVoiceCallTakesNoKeys: a voicecall from the FXS line, bridged to
// the speech line, is a live alarm call too: devicecommand and
// hangupalarmcall with clear are refused 409 (the caller is a telephone,
// as for a SIP voicecall), hangupalarmcall without clear releases the line
// with no key played and hangs the speech line up.
func TestFXSVoiceCallTakesNoKeys(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGatewayWith(t, t.TempDir(), voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"), func(c *Config) { c.FXSNumber = "0701234567" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ear := listenOnLine(t, fxsUnitDials(t, g, "5560#"))
	testkit.WaitFor(t, "the speech line bridged", 10*time.Second, func() bool { return g.activeCalls() == 1 && len(g.ListCalls()) == 1 })
	id := fxsLiveCall(t, g, "5560")
	for name, err := range map[string]error{
		"devicecommand talk":    g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: id, Command: "talk"}),
		"hangupalarmcall clear": g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id, Clear: true}),
	} {
		var ref *api.Refusal
		if !errors.As(err, &ref) || ref.Status != 409 || !strings.Contains(ref.Reason, "telephone") {
			t.Errorf("%s: %v, want a 409 refusal saying the caller is a telephone", name, err)
		}
	}
	if err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id}); err != nil {
		t.Fatal(err)
	}
	if keys := ear.waitReleased(t, g); keys != "" {
		t.Errorf("the unit heard keys %q, want none", keys)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line was not hung up: %v\n%s", err, voice.Report())
	}
}
