package gateway

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/dsp"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// pcmPipe is the alarm unit's end of the simulated FXS line: the lineUnit
// of `line simulate`, unpaced (its zero start never waits), lock-step with
// the gateway for the test to drive.
type pcmPipe struct {
	*lineUnit
	onHook io.Closer
}

// hangUp puts the unit on hook: the gateway reads the end of its audio.
func (p *pcmPipe) hangUp() { p.onHook.Close() }

// fxsUnitDials runs the FXS component of g and takes its simulated line off
// hook: the unit waits for dial tone, dials number, and is then on the line,
// lock-step, for the test to drive.
func fxsUnitDials(t *testing.T, g *Gateway, number string) *pcmPipe {
	t.Helper()
	unit, err := fxsUnitDialling(t, g, number)
	if err != nil {
		t.Fatalf("dialling %s on the FXS line: %v", number, err)
	}
	return unit
}

// fxsUnitDialling is fxsUnitDials that returns the dialling's error (the
// gateway may release the line as soon as the number is complete).
func fxsUnitDialling(t *testing.T, g *Gateway, number string) (*pcmPipe, error) {
	t.Helper()
	fxs := &FXS{g: g}
	if err := fxs.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fxs.Close() })
	unitR, gwW, _ := os.Pipe() // gateway -> unit
	gwR, unitW, _ := os.Pipe() // unit -> gateway
	t.Cleanup(func() { unitR.Close(); unitW.Close() })
	unit := &pcmPipe{lineUnit: &lineUnit{r: unitR, w: unitW, buf: make([]byte, 320)}, onHook: unitW}
	// Lock-step over pipes: the unit speaks first so neither side waits on the other.
	if err := unit.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if err := g.board.Sim.Line.Dial(gwR, gwW, lineEnds{gwR, gwW}); err != nil {
		t.Fatal(err)
	}
	return unit, dialOnLine(unit.lineUnit, number, func(string, ...any) {})
}

// TestFXSPanelDialsAndIsDelivered: a panel on the (simulated) FXS port goes
// off hook, hears dial tone, dials 5551#, runs Contact ID, gets its kissoff,
// and the ARC receives the event over DC-09: the same path as a SIP call.
func TestFXSPanelDialsAndIsDelivered(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"device":           {"1234": `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`},
		"alarmbridge":      {"panels": `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`},
	})
	unit := fxsUnitDials(t, g, "5551#")
	ctx := context.Background()

	panel, err := contactid.NewPanel(contactid.PanelConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := contactid.Parse("123418113001015E")
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	rep, err := panel.Send(pctx, unit, []contactid.Message{msg})
	if err != nil {
		t.Fatalf("panel: %v (%+v)", err, rep)
	}
	if len(rep.Messages) != 1 || !rep.Messages[0].Acked {
		t.Fatalf("panel report %+v: want one kissed-off message", rep)
	}
	unit.hangUp()

	got := arc.Wait(1, 10*time.Second)
	if len(got) != 1 || got[0].Data != "#1234|1130 01 015" {
		t.Fatalf("ARC got %+v, want one ADM-CID #1234|1130 01 015", got)
	}
	if n := g.dspFrames.Load(); n < 100 {
		t.Fatalf("/metrics DSP frames = %d after a whole Contact ID call, want its frames counted", n)
	}
	// The field console's `alarms` shows it, and nothing is left queued.
	if r := g.RecentAlarms(5); len(r) != 1 || r[0].Account != "1234" || r[0].Code != "1130" || r[0].Zone != "015" {
		t.Fatalf("console recent alarms = %+v", r)
	}
	for deadline := time.Now().Add(5 * time.Second); len(g.QueuedAlarms()) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if q := g.QueuedAlarms(); len(q) != 0 {
		t.Fatalf("still queued after the ARC acknowledged: %+v", q)
	}
}

// An FXS alarm with listen-in (606) and callEmergencyCenter gets its voice
// path: the gateway calls the ARC's speech line (SIPp) and bridges the line
// to it; the unit going on hook clears the ARC leg.
func TestFXSAlarmVoiceBridgedToARC(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, listenInDocs(arc.Addr, voice.Port, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unit := fxsListenIn(t, ctx, g)
	// On the line, as a speaking person would be: 20 ms frames both ways.
	talking := make(chan struct{})
	go func() {
		defer close(talking)
		frame := make([]int16, 160)
		for i := 0; i < 100; i++ {
			if unit.ReadFrame(frame) != nil || unit.WriteFrame(frame) != nil {
				return
			}
			if i == 50 && g.activeCalls() != 1 {
				t.Errorf("%d SIP calls while the unit talks, want the voice leg", g.activeCalls())
			}
		}
	}()
	<-talking
	unit.hangUp()
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the ARC's speech line did not get a call that ended with the unit's hang-up: %v\n%s", err, voice.Report())
	}
	if got := arc.Wait(1, 5*time.Second); len(got) != 1 || !strings.Contains(got[0].Data, "1606") {
		t.Fatalf("ARC got %+v, want the 606 event", got)
	}
}

// The ARC's speech line hangs up first on an FXS alarm call: the unit on
// the line hears the clear-down key (DTMF 0, in band) before the call ends
// (arcDisconnectClearsCall, on by default).
func TestFXSARCDisconnectClearsCall(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer_bye.xml", "PAUSE_MS", "1500"), "-m", "1")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, listenInDocs(arc.Addr, voice.Port, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unit := fxsListenIn(t, ctx, g)
	// On the line, listening: a real line's audio is clocked, so the unit
	// keeps sending 20 ms frames while it reads (lock-step would stall the
	// bridge once the speech line is gone).
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
	heard := make(chan byte, 16)
	go func() {
		det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
		frame := make([]int16, 160)
		for unit.ReadFrame(frame) == nil {
			det.Process(frame, func(ev dsp.DigitEvent) { heard <- ev.Key })
		}
	}()
	var keys []byte
	select {
	case k := <-heard:
		keys = append(keys, k)
	case <-time.After(15 * time.Second):
	}
	if string(keys) != "0" {
		t.Fatalf("the unit heard keys %q, want the clear-down 0\n%s", keys, voice.Report())
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("speech line: %v\n%s", err, voice.Report())
	}
}
