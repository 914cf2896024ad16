package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/internal/softphone"
)

// warden is a baresip handset registered at g as device id (credentials,
// password "pw-"+id+"-secret"), sending a tone of freq Hz.
func warden(t *testing.T, g *Gateway, id string, freq float64, manual bool) *softphone.Phone {
	t.Helper()
	return softphone.Start(t, softphone.Config{Server: g.eng.Addr(), User: id, Password: "pw-" + id + "-secret", Tone: freq, Manual: manual,
		Registered: func(at string) bool {
			for _, b := range g.eng.Bindings("local", id) {
				if strings.Contains(b.Contact, at) {
					return true
				}
			}
			return false
		}})
}

// playUntil plays a tone of freq Hz on s, paced by its clock, until cond
// holds (looked at every second) or within is over, and says whether cond
// held.
func playUntil(t *testing.T, s *media.Session, freq float64, within time.Duration, cond func() bool) bool {
	t.Helper()
	gen, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: freq, DBm0: -10, Ms: 1000})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, media.FrameSamples)
	for deadline := time.Now().Add(within); time.Now().Before(deadline); {
		for range 50 {
			if s.ReadFrame(frame) != nil {
				return false
			}
			gen.Generate(frame)
			if s.WriteFrame(frame) != nil {
				return false
			}
		}
		if cond() {
			return true
		}
	}
	return false
}

// wardenDevice is the stored device of a warden handset (an MD5 HA1, as
// REST stores one: baresip answers only MD5 challenges).
func wardenDevice(id string) string {
	ha1, _ := engine.HA1("MD5", id, "local", "pw-"+id+"-secret")
	return `{"deviceId":"` + id + `","domain":"local","authType":"credentials","ha1":"` + ha1 + `"}`
}

// An alarm unit's call to a voicecall alarmbridge whose mapper's
// defaultVoiceDestination is a ring group's extension (the group-living
// scheme's wardens) rings the group's handsets, baresip phones: the event
// reaches the ARC, the warden who answers is bridged to the unit (each
// hears the other's tone), and the other warden's phone, left ringing, is
// cancelled.
func TestVoiceCallReachesGroup(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"device": {
			"4321": `{"deviceId":"4321","domain":"local","authType":"deviceid","deviceCLI":"0701234567"}`,
			"wa":   wardenDevice("wa"),
			"wb":   wardenDevice("wb"),
		},
		"user": {"ua": `{"user":"wa","extensionNumber":"201"}`, "ub": `{"user":"wb","extensionNumber":"202"}`},
		"group": {"wardens": `{"groupName":"wardens","extensionNumber":"600","ringStrategy":"all",` +
			`"members":[{"userId":"ua"},{"userId":"ub"}]}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter","targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arc.Addr + `?transport=tcp","defaultVoiceDestination":"600"}}`},
		"alarmbridge":    {"phones": `{"id":"phones","name":"phones","protocol":"voicecall","destinationMatch":"^5560$","alarmEventMapperId":"arc"}`},
		"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
	})
	wa := warden(t, g, "wa", 600, true)
	wb := warden(t, g, "wb", 1500, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := voiceCallUnit(t, ctx, g, "0701234567", "5560")
	if err != nil {
		t.Fatalf("voicecall not answered: %v", err)
	}
	if got := arc.Wait(1, 10*time.Second); len(got) != 1 || got[0].Account != "4321" {
		t.Fatalf("ARC got %+v, want one event of the calling device", got)
	}
	wb.WaitEvent("CALL_ESTABLISHED", "", 1, 5*time.Second)
	if !hearsWhilePlaying(t, ctx, call.Session(), 1000, 1500) {
		t.Fatal("the unit did not hear the warden who answered")
	}
	if !playUntil(t, call.Session(), 1000, 10*time.Second, func() bool { return wb.Heard(1000) >= 1 }) {
		t.Fatal("the warden who answered did not hear the unit")
	}
	wa.WaitEvent("CALL_INCOMING", "", 1, 5*time.Second)
	wa.WaitEvent("CALL_CLOSED", "", 1, 10*time.Second)
	if n := wa.CountEvents("CALL_ESTABLISHED", ""); n != 0 {
		t.Fatalf("the warden left ringing established %d calls", n)
	}
	call.Hangup()
	wb.WaitEvent("CALL_CLOSED", "", 1, 10*time.Second)
}
