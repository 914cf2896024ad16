package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// unitKeys is what a unit staying on the line hears: keys as RFC 4733
// events (events) and keys played in band (inband), each in order, until
// its call ends; live has every key as it comes.
type unitKeys struct {
	live chan byte
	done chan struct{}
	// set once done is closed
	events, inband string
}

// listen reads sess until its call ends, answering with silence, and
// collects the keys it hears.
func listen(sess *media.Session) *unitKeys {
	u := &unitKeys{live: make(chan byte, 64), done: make(chan struct{})}
	go func() {
		defer close(u.done)
		var ev, ib []byte
		note := func(k byte) {
			select {
			case u.live <- k:
			default:
			}
		}
		det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
		drain := func() {
			for {
				select {
				case d := <-sess.Digits():
					ev = append(ev, d.Key)
					note(d.Key)
				default:
					return
				}
			}
		}
		frame := make([]int16, media.FrameSamples)
		for sess.ReadFrame(frame) == nil {
			det.Process(frame, func(d dsp.DigitEvent) { ib = append(ib, d.Key); note(d.Key) })
			drain()
			clear(frame)
			if sess.WriteFrame(frame) != nil {
				break
			}
		}
		drain() // keys delivered as the call ended
		u.events, u.inband = string(ev), string(ib)
	}()
	return u
}

// ended waits for the unit's call to end.
func (u *unitKeys) ended(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case <-u.done:
	case <-time.After(d):
		t.Fatalf("the unit's call did not end: %s", why)
	}
}

// maxSessionDuration (seconds) of the bridge's event mapper ends the alarm
// session with the protocol's clear-down: during the voice bridge (Contact
// ID unit listening in: it hears the SS 91100 0, and the ARC's speech line
// gets its BYE), and during the alarm itself (a silent TT92 unit: it hears
// ## last).
func TestMaxSessionDurationClearsDown(t *testing.T) {
	t.Run("voice bridge", func(t *testing.T) {
		wd := t.TempDir()
		voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
		arc := alarmtest.StartARC(t, "127.0.0.1:0")
		// Long enough for the Contact ID exchange on a loaded machine.
		g := startGateway(t, listenInDocs(arc.Addr, voice.Port, `,"maxSessionDuration":12`))
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		start := time.Now()
		call, rep, err := listenInCall(t, ctx, g)
		if err != nil || !rep.Messages[0].Acked {
			t.Fatalf("panel: %v %+v", err, rep)
		}
		u := listen(call.Session())
		if !testkit.Eventually(10*time.Second, func() bool { return g.activeCalls() >= 2 }) {
			t.Fatalf("no voice leg after the alarm:\n%s", voice.Report())
		}
		// Nobody hangs up: the session limit must.
		u.ended(t, 25*time.Second, "maxSessionDuration 12 s did not end the session")
		if took := time.Since(start); took < 12*time.Second {
			t.Fatalf("the session ended after %v, before its maxSessionDuration of 12 s", took)
		}
		if u.events != "0" {
			t.Fatalf("the unit heard keys %q before its call ended, want the clear-down 0", u.events)
		}
		if err := voice.Wait(10 * time.Second); err != nil {
			t.Fatalf("the speech line was not cleared with the session: %v\n%s", err, voice.Report())
		}
	})
	t.Run("alarm phase tt92", func(t *testing.T) {
		arc := alarmtest.StartARC(t, "127.0.0.1:0")
		g := startGateway(t, map[string]map[string]string{
			"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","maxSessionDuration":1.5,` +
				`"targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`},
			"alarmbridge":    {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"dtmf","destinationMatch":"^5553$","alarmEventMapperId":"arc"}`},
			"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		call := dialUnit(t, ctx, g, "5553", "2833")
		start := time.Now()
		// The unit listens and sends nothing: the gateway keeps prompting
		// (0#, in band) until the session limit clears it down.
		u := listen(call.Session())
		u.ended(t, 15*time.Second, "maxSessionDuration 1.5 s did not end a silent TT92 call")
		if took := time.Since(start); took < 1500*time.Millisecond {
			t.Fatalf("the call ended after %v, before its maxSessionDuration of 1.5 s", took)
		}
		// The prompts come in band; the clear-down as RFC 4733 events, the
		// leg's DTMF.
		if u.events != "##" {
			t.Fatalf("the unit heard %q in band, %q as events before its call ended, want the TT92 clear-down ##", u.inband, u.events)
		}
	})
}

// dialUnit is a SIP alarm unit (an engine of its own) calling number on g,
// offering DTMF dtmf ("2833" or "inaudio").
func dialUnit(t *testing.T, ctx context.Context, g *Gateway, number, dtmf string) *engine.Call {
	t.Helper()
	lo, hi := testkit.PortRange(t, 100)
	unit, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "unit", RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unit.Close() })
	call, err := unit.Dial(ctx, engine.DialOptions{To: "sip:" + number + "@" + g.eng.Addr(), From: "461234567800",
		Media: engine.MediaOptions{DTMF: dtmf, DataMode: true}})
	if err != nil {
		t.Fatal(err)
	}
	return call
}

// An alarmbridge with controlCommandsEnabled false refuses the in-call
// commands of its calls (devicecommand, hangupalarmcall with clear) with
// 409 naming the field, and the unit hears no key; hangupalarmcall without
// clear still ends the call. (The speech line takes the re-INVITE that
// puts its media straight to the unit: direct_test.go.)
func TestControlCommandsDisabledRefusesCommands(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_direct.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	docs := listenInDocs(arc.Addr, voice.Port, "")
	docs["alarmbridge"]["panels"] = strings.Replace(docs["alarmbridge"]["panels"], `"alarmEventMapperId":"arc"`, `"alarmEventMapperId":"arc","controlCommandsEnabled":false`, 1)
	g := startGateway(t, docs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, rep, err := listenInCall(t, ctx, g)
	if err != nil || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	u := listen(call.Session())
	if !testkit.Eventually(10*time.Second, func() bool { return g.activeCalls() >= 2 }) {
		t.Fatalf("no voice leg after the alarm:\n%s", voice.Report())
	}
	calls := g.ListCalls()
	if len(calls) != 1 {
		t.Fatalf("live alarm calls %+v, want one", calls)
	}
	id := calls[0].ID
	refused := func(what string, err error) {
		t.Helper()
		var r *api.Refusal
		if !errors.As(err, &r) || r.Status != http.StatusConflict || !strings.Contains(r.Reason, "controlCommandsEnabled") {
			t.Fatalf("%s with controlCommandsEnabled false: %v, want a 409 refusal naming the field", what, err)
		}
	}
	refused("devicecommand talk", g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: id, Command: "talk"}))
	// Over REST, as the ARC's operator sends it.
	const key = "incall-test-admin-key-0123456789"
	a, err := api.New(api.Config{Store: g.db, AdminKeyHash: api.HashKey(key), Logger: g.log, Alarms: g})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a)
	defer srv.Close()
	code, body, err := testkit.APIRequest(srv.URL, key, "POST", "/alarmbridge/local/devicecommand", `{"callId":"`+id+`","command":"listen"}`)
	if err != nil || code != http.StatusConflict || !strings.Contains(body, "controlCommandsEnabled") {
		t.Fatalf("POST devicecommand with controlCommandsEnabled false: %d %s %v, want 409 naming the field", code, body, err)
	}
	refused("devicecommand clear", g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: id, Command: "clear"}))
	refused("hangupalarmcall with clear", g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id, Clear: true}))
	if err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id}); err != nil {
		t.Fatalf("hangupalarmcall without clear: %v", err)
	}
	u.ended(t, 10*time.Second, "hangupalarmcall without clear")
	if u.events+u.inband != "" {
		t.Fatalf("the unit heard keys %q/%q although every command was refused", u.events, u.inband)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("speech line: %v\n%s", err, voice.Report())
	}
}

// toneSettings callerDtmfSendType and calleeDtmfSendType pick each leg's
// DTMF on their own, over dtmfSendType: the unit's leg negotiates
// telephone-event (2833) or not (inaudio), and an in-call key reaches the
// unit that way; the voice call to the ARC offers telephone-event or not.
func TestPerLegDTMFSendTypes(t *testing.T) {
	for _, c := range []struct {
		name, tones   string
		unitEvents    bool // the unit's leg has telephone-event
		arcOffersRFC  bool // the INVITE to the ARC offers telephone-event
		unitDialsDTMF string
	}{
		{"caller inaudio, callee 2833", `{"callerDtmfSendType":"inaudio","calleeDtmfSendType":"2833"}`, false, true, "2833"},
		{"dtmfSendType inaudio, caller 2833", `{"dtmfSendType":"inaudio","callerDtmfSendType":"2833"}`, true, false, "2833"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wd := t.TempDir()
			voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
			arc := alarmtest.StartARC(t, "127.0.0.1:0")
			docs := listenInDocs(arc.Addr, voice.Port, "")
			docs["alarmbridge"]["panels"] = strings.Replace(docs["alarmbridge"]["panels"], `"alarmEventMapperId":"arc"`, `"alarmEventMapperId":"arc","toneSettings":`+c.tones, 1)
			g := startGateway(t, docs)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			call, rep, err := listenInCall(t, ctx, g)
			if err != nil || !rep.Messages[0].Acked {
				t.Fatalf("panel: %v %+v", err, rep)
			}
			if got := call.Negotiated().Events; got != c.unitEvents {
				t.Fatalf("the unit's leg negotiated telephone-event %v, want %v", got, c.unitEvents)
			}
			u := listen(call.Session())
			if !testkit.Eventually(10*time.Second, func() bool { return g.activeCalls() >= 2 }) {
				t.Fatalf("no voice leg after the alarm:\n%s", voice.Report())
			}
			calls := g.ListCalls()
			if len(calls) != 1 {
				t.Fatalf("live alarm calls %+v, want one", calls)
			}
			if err := g.DeviceCommand(ctx, "local", api.DeviceCommand{CallID: calls[0].ID, Command: "talk"}); err != nil {
				t.Fatal(err)
			}
			select {
			case k := <-u.live:
				if k != '4' {
					t.Fatalf("the unit heard %q, want the talk key 4", k)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the unit heard no key after devicecommand talk")
			}
			call.Hangup()
			u.ended(t, 10*time.Second, "the unit hung up")
			if c.unitEvents && u.events != "4" || !c.unitEvents && (u.events != "" || u.inband != "4") {
				t.Fatalf("the unit heard %q as RFC 4733 events and %q in band, want 4 %s", u.events, u.inband,
					map[bool]string{true: "as an event", false: "in band"}[c.unitEvents])
			}
			if err := voice.Wait(10 * time.Second); err != nil {
				t.Fatalf("speech line: %v\n%s", err, voice.Report())
			}
			var invite string
			for _, m := range voice.Received() {
				if strings.Contains(m, "INVITE sip:") {
					invite = m
				}
			}
			if invite == "" {
				t.Fatalf("SIPp logged no INVITE:\n%s", voice.Logs("*messages.log"))
			}
			if got := strings.Contains(invite, "telephone-event"); got != c.arcOffersRFC {
				t.Fatalf("the INVITE to the ARC offers telephone-event: %v, want %v:\n%s", got, c.arcOffersRFC, invite)
			}
		})
	}
}

// maxSessionDuration on the FXS line: a TT92 unit that dials and stays
// silent hears the gateway's prompts and then, at the session limit, the
// clear-down ## in band (as single tones to an sdmf unit).
func TestFXSMaxSessionDurationClearsDown(t *testing.T) {
	for _, mode := range []string{"dtmf", "sdmf"} {
		t.Run(mode, func(t *testing.T) { fxsSessionLimitClears(t, mode) })
	}
}

// fxsSessionLimitClears is TestFXSMaxSessionDurationClearsDown for a unit
// of protocolMode mode, which hears keys as DTMF or (sdmf) as single tones
// only.
func fxsSessionLimitClears(t *testing.T, mode string) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","maxSessionDuration":2,` +
			`"targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`},
		"alarmbridge": {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"` + mode + `","destinationMatch":"^5553$","alarmEventMapperId":"arc"}`},
	})
	unit := fxsUnitDials(t, g, "5553#")
	// A real line's audio is clocked: the unit sends 20 ms frames of
	// silence while it listens.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		silence := make([]int16, 160)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if unit.WriteFrame(silence) != nil {
				return
			}
		}
	}()
	heard := make(chan byte, 64)
	hear := dsp.NewDTMFDetector(dsp.DTMFConfig{}).Process
	if mode == "sdmf" {
		det, err := tt92.NewStmfDetector()
		if err != nil {
			t.Fatal(err)
		}
		hear = det.Process
	}
	go func() {
		frame := make([]int16, 160)
		for unit.ReadFrame(frame) == nil {
			hear(frame, func(ev dsp.DigitEvent) {
				select {
				case heard <- ev.Key:
				default:
				}
			})
		}
		close(heard)
	}()
	start := time.Now()
	var keys []byte
	// The prompts (0#) repeat until the limit; the clear-down ## comes
	// after it: wait for a ## heard past the limit.
	deadline := time.After(15 * time.Second)
	for !(time.Since(start) > 2*time.Second && strings.HasSuffix(string(keys), "##")) {
		select {
		case k, ok := <-heard:
			if !ok {
				t.Fatalf("the line ended after keys %q with no clear-down ## past the 2 s limit", keys)
			}
			keys = append(keys, k)
		case <-deadline:
			t.Fatalf("the unit heard %q in 15 s, want the clear-down ## after the 2 s maxSessionDuration", keys)
		}
	}
}
