package gateway

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// callbackDocs provisions alarm unit panel1 (a SIP device) beside a Contact
// ID alarmbridge on 5551, whose stage must not take the ARC's call back.
func callbackDocs() map[string]map[string]string {
	return map[string]map[string]string{
		"device":         {"panel1": `{"deviceId":"panel1","domain":"local","authType":"deviceid"}`},
		"alarmbridge":    {"panels": `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$"}`},
		"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`}, // the ARC and the unit's registration
	}
}

// registeredUnit starts SIPp as alarm unit panel1's user agent, answering
// one call and echoing its RTP, and registers it with g from loopback (a
// trusted network).
func registeredUnit(t *testing.T, g *Gateway) *testkit.SIPp {
	t.Helper()
	wd := t.TempDir()
	unit := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1", "-rtp_echo")
	reg := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "register_contact.xml",
		"CONTACT_PORT", strconv.Itoa(unit.Port)), "-s", "panel1", "-m", "1")
	if err := reg.Wait(10 * time.Second); err != nil {
		t.Fatalf("panel1 did not register: %v\n%s", err, reg.Report())
	}
	// The registrar's 200 comes once the binding is in the store.
	testkit.WaitFor(t, "panel1's binding", 5*time.Second, func() bool {
		b, err := g.db.Bindings(time.Now())
		return err == nil && len(b) == 1
	})
	return unit
}

// The ARC calls a SIP alarm unit back: a call from a trusted network to the
// provisioned device reaches it at its registration (the switchboard's last
// stage, the engine's registered devices) and is bridged. With SIPp as the
// ARC, the call is answered and cleared by the ARC's BYE; with a SIP user
// agent as the ARC, a 1 kHz tone it plays comes back from the unit (SIPp
// echoing) through the gateway.
func TestARCCallsSIPUnitBackAtItsRegistration(t *testing.T) {
	t.Run("SIPp as the ARC", func(t *testing.T) {
		g := startGateway(t, callbackDocs())
		unit := registeredUnit(t, g)
		wd := t.TempDir()
		arc := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "uac_pcap.xml",
			"PCAP_FILE", "/usr/share/sip-tester/dtmf_2833_1.pcap", "PAUSE_MS", "1000"), "-s", "panel1", "-m", "1")
		if err := arc.Wait(20 * time.Second); err != nil {
			t.Fatalf("ARC: %v\n%s\nunit:\n%s", err, arc.Report(), unit.Report())
		}
		if err := unit.Wait(10 * time.Second); err != nil {
			t.Fatalf("unit: %v\n%s", err, unit.Report())
		}
	})
	t.Run("audio through the bridge", func(t *testing.T) {
		g := startGateway(t, callbackDocs())
		unit := registeredUnit(t, g)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		lo, hi := testkit.PortRange(t, 100)
		arc, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "arc", RTPPortMin: lo, RTPPortMax: hi},
			engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		if err := arc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { arc.Close() })
		call, err := arc.Dial(ctx, engine.DialOptions{To: "sip:panel1@" + g.eng.Addr(), From: "arc"})
		if err != nil {
			t.Fatalf("callback not answered: %v\n%s", err, unit.Report())
		}
		if !toneComesBack(t, ctx, call.Session(), 1000) {
			t.Fatalf("the ARC's tone did not come back from the unit\n%s", unit.Report())
		}
		call.Hangup()
		if err := unit.Wait(10 * time.Second); err != nil {
			t.Fatalf("unit's leg not cleared after the ARC hung up: %v\n%s", err, unit.Report())
		}
	})
}

// A SCAIP bridge whose mapper asks the ARC to call back (alarmHandling
// requestCallback) answers its units' alarms with cre: the mapper's
// waitForCallback, rounded up to whole minutes; other handlings send none.
func TestSCAIPCallbackMinutesFromTheMapper(t *testing.T) {
	g := startGateway(t, map[string]map[string]string{
		"alarmeventmapper": {
			"cb":    `{"id":"cb","name":"cb","alarmHandling":"requestCallback","waitForCallback":4.5,"targetEndpoint":{"protocol":"dc09","destAddr":"127.0.0.1:9"}}`,
			"voice": `{"id":"voice","name":"voice","alarmHandling":"callEmergencyCenter","waitForCallback":5,"targetEndpoint":{"protocol":"dc09","destAddr":"127.0.0.1:9"}}`,
		},
	})
	for mapper, want := range map[string]int{"cb": 5, "voice": 0, "": 0} {
		b := &alarm.AlarmBridge{ID: "s", Protocol: "scaip", AlarmEventMapperID: mapper}
		if got := g.scaipCallbackMinutes("local", b); got != want {
			t.Errorf("mapper %q: cre %d, want %d", mapper, got, want)
		}
	}
}
