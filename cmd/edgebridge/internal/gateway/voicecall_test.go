package gateway

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// voiceCallDocs provisions a voicecall alarmbridge on 5560 for the device
// whose deviceCLI is 0701234567, its mapper delivering to the DC-09 ARC at
// arcAddr with handling and its speech line at voicePort.
func voiceCallDocs(arcAddr string, voicePort int, handling string) map[string]map[string]string {
	return map[string]map[string]string{
		"device": {"4321": `{"deviceId":"4321","domain":"local","authType":"deviceid","deviceCLI":"0701234567"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"` + handling + `","targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arcAddr + `?transport=tcp","defaultVoiceDestination":"sip:speech@127.0.0.1:` + strconv.Itoa(voicePort) + `"}}`},
		"alarmbridge": {"phones": `{"id":"phones","name":"phones","protocol":"voicecall","destinationMatch":"^5560$","alarmEventMapperId":"arc"}`},
		// The phones call from the LAN by their CLI, without digest: a trusted network.
		"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
	}
}

// voiceCallUnit is a SIP phone (an engine of its own) that calls number on
// g from caller.
func voiceCallUnit(t *testing.T, ctx context.Context, g *Gateway, caller, number string) (*engine.Call, error) {
	t.Helper()
	return dialGateway(t, ctx, g, caller, number, engine.MediaOptions{})
}

// An ordinary call to a voicecall alarmbridge is the alarm: its event
// (the caller's device) reaches the DC-09 ARC through the queue, and the call
// is answered only once the ARC's speech line (SIPp echoing RTP) answers,
// then bridged: a 1 kHz tone the caller plays comes back to it through the
// gateway and the speech line.
func TestVoiceCallRaisesEventAndBridgesToVoiceDestination(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := voiceCallUnit(t, ctx, g, "0701234567", "5560")
	if err != nil {
		t.Fatalf("voicecall not answered: %v\n%s", err, voice.Report())
	}
	got := arc.Wait(1, 10*time.Second)
	if len(got) != 1 || got[0].Account != "4321" {
		t.Fatalf("ARC got %+v, want one event of the calling device", got)
	}
	if n := g.activeCalls(); n != 2 {
		t.Fatalf("%d calls, want the caller and the speech line", n)
	}
	if !toneComesBack(t, ctx, call.Session(), 1000) {
		t.Fatalf("the caller's tone did not come back through the bridge and the speech line\n%s", voice.Report())
	}
	call.Hangup()
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("speech line not cleared after the caller hung up: %v\n%s", err, voice.Report())
	}
}

// toneComesBack plays a tone of freq Hz on s and reports whether the same
// tone is heard on s within 5 s (an echo on the far side).
func toneComesBack(t *testing.T, ctx context.Context, s alarm.Channel, freq float64) bool {
	t.Helper()
	return hearsWhilePlaying(t, ctx, s, freq, freq)
}

// hearsWhilePlaying plays a tone of play Hz on s and reports whether a
// tone of hear Hz is heard on s within 5 s.
func hearsWhilePlaying(t *testing.T, ctx context.Context, s alarm.Channel, play, hear float64) bool {
	t.Helper()
	gen, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: play, DBm0: -10, Ms: 1000})
	if err != nil {
		t.Fatal(err)
	}
	det, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "probe", Freq1: hear, MinMs: 200})
	if err != nil {
		t.Fatal(err)
	}
	heard := false
	in, out := make([]int16, media.FrameSamples), make([]int16, media.FrameSamples)
	deadline := time.Now().Add(5 * time.Second)
	for !heard && time.Now().Before(deadline) && ctx.Err() == nil {
		if s.ReadFrame(in) != nil {
			return false
		}
		det.Process(in, func(ev dsp.ToneEvent) { heard = heard || ev.On })
		gen.Generate(out)
		if s.WriteFrame(out) != nil {
			return false
		}
	}
	return heard
}

// A voicecall the gateway cannot serve is refused before it is answered:
// a caller no device matches gets 404 (the ARC hears only the unknown
// account's report); with alarmHandling drop the event is delivered and the
// call refused with 480 (no voice call to make).
func TestVoiceCallRefusedBeforeAnswer(t *testing.T) {
	for _, c := range []struct {
		name, handling, caller string
		code, account          string
	}{
		{"unknown caller", "callEmergencyCenter", "0709999999", "404", "0709999999"},
		{"alarmHandling drop", "drop", "0701234567", "480", "4321"},
	} {
		t.Run(c.name, func(t *testing.T) {
			arc := alarmtest.StartARC(t, "127.0.0.1:0")
			g := startGateway(t, voiceCallDocs(arc.Addr, testkit.FreeUDP(t), c.handling))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			call, err := voiceCallUnit(t, ctx, g, c.caller, "5560")
			if err == nil {
				call.Hangup()
				t.Fatal("the call was answered")
			}
			if !strings.Contains(err.Error(), c.code) {
				t.Fatalf("refused with %v, want %s", err, c.code)
			}
			got := arc.Wait(1, 5*time.Second)
			if len(got) != 1 || got[0].Account != c.account {
				t.Fatalf("ARC got %+v, want one message of account %s", got, c.account)
			}
		})
	}
}

// voicecall on the FXS line: the unit on the line is the device whose
// deviceCLI (or deviceId) is the line's own number (serve --fxs-number), as
// an exchange would present its calling number. Its call to a voicecall
// bridge raises the event of that device (to the DC-09 ARC) and is bridged
// to the speech line (SIPp echoing RTP): a tone the unit plays comes back.
// Without --fxs-number the line has no calling number, and a bridge of
// protocol api takes no calls at all: either call finds no service, no
// event is raised, and the line is released.
func TestVoiceCallOnTheFXSLine(t *testing.T) {
	t.Run("bridged", func(t *testing.T) {
		wd := t.TempDir()
		voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1", "-rtp_echo")
		arc := alarmtest.StartARC(t, "127.0.0.1:0")
		g := startGatewayWith(t, t.TempDir(), voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"), func(c *Config) { c.FXSNumber = "0701234567" })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		unit := fxsUnitDials(t, g, "5560#")
		got := arc.Wait(1, 10*time.Second)
		if len(got) != 1 || got[0].Account != "4321" {
			t.Fatalf("ARC got %+v, want one event of the line's device 4321", got)
		}
		if !toneComesBack(t, ctx, unit, 1000) {
			t.Fatalf("the unit's tone did not come back through the line, the bridge and the speech line\n%s", voice.Report())
		}
		unit.hangUp()
		if err := voice.Wait(10 * time.Second); err != nil {
			t.Fatalf("speech line not cleared after the unit hung up: %v\n%s", err, voice.Report())
		}
	})
	for _, c := range []struct{ name, fxsNumber, protocol string }{
		{"voicecall without --fxs-number", "", "voicecall"},
		{"api bridge", "0701234567", "api"},
	} {
		t.Run(c.name, func(t *testing.T) {
			arc := alarmtest.StartARC(t, "127.0.0.1:0")
			docs := voiceCallDocs(arc.Addr, testkit.FreeUDP(t), "callEmergencyCenter")
			docs["alarmbridge"]["phones"] = strings.Replace(docs["alarmbridge"]["phones"], `"protocol":"voicecall"`, `"protocol":"`+c.protocol+`"`, 1)
			g := startGatewayWith(t, t.TempDir(), docs, func(cfg *Config) { cfg.FXSNumber = c.fxsNumber })
			unit, err := fxsUnitDialling(t, g, "5560#")
			if err != nil && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("dialling: %v", err)
			}
			// The line is released (at once: the end of the dialling may
			// meet a closed line already): the unit's earpiece ends.
			released := make(chan struct{})
			go func() {
				defer close(released)
				frame := make([]int16, media.FrameSamples)
				for unit.ReadFrame(frame) == nil {
					if unit.WriteFrame(frame) != nil {
						return
					}
				}
			}()
			select {
			case <-released:
			case <-time.After(10 * time.Second):
				t.Fatal("the line was not released")
			}
			if got := arc.Wait(1, time.Second); len(got) != 0 {
				t.Fatalf("ARC got %+v, want nothing", got)
			}
		})
	}
}
