package gateway

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// pacedSilence is a pretend unit's microphone: a 20 ms frame of silence
// every 20 ms, as a line's codec delivers it, until closed.
type pacedSilence struct {
	once sync.Once
	done chan struct{}
}

func (p *pacedSilence) Read(b []byte) (int, error) {
	select {
	case <-p.done:
		return 0, io.EOF
	case <-time.After(20 * time.Millisecond):
	}
	n := min(len(b), 320)
	clear(b[:n])
	return n, nil
}

func (p *pacedSilence) Close() error { p.once.Do(func() { close(p.done) }); return nil }

// keyEar is a pretend unit's earpiece: it hears DTMF keys in band.
type keyEar struct {
	det  *dsp.DTMFDetector
	pcm  []int16
	keys chan byte
}

func (e *keyEar) Write(b []byte) (int, error) {
	e.pcm = e.pcm[:0]
	for i := 0; i+1 < len(b); i += 2 {
		e.pcm = append(e.pcm, int16(binary.LittleEndian.Uint16(b[i:])))
	}
	e.det.Process(e.pcm, func(ev dsp.DigitEvent) {
		select {
		case e.keys <- ev.Key:
		default:
		}
	})
	return len(b), nil
}

// The ARC calls an FXS unit back: SIPp as the ARC calls the line's number
// (--fxs-number), the gateway rings the line with the configured cadence
// (here 200 ms on, 300 ms off), the pretend unit auto-answers at the second
// burst as social alarm units do, and only then is the ARC's call answered
// and bridged: the key the ARC sends (RFC 4733) is heard in band on the line.
// The FXS port's own answer loop runs meanwhile and leaves the off-hook to
// the callback.
func TestARCCallsFXSUnitBack(t *testing.T) {
	docs := map[string]map[string]string{"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`}}
	g := startGatewayWith(t, t.TempDir(), docs, func(c *Config) { c.FXSNumber, c.RingCadence = "600", "200,300" })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := g.FXS()
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sim := g.Board().Sim.Line
	mic := &pacedSilence{done: make(chan struct{})}
	ear := &keyEar{det: dsp.NewDTMFDetector(dsp.DTMFConfig{}), keys: make(chan byte, 8)}
	answered := sim.AutoAnswer(2, mic, ear, mic)

	wd := t.TempDir()
	arc := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "uac_pcap.xml",
		"PCAP_FILE", "/usr/share/sip-tester/dtmf_2833_1.pcap", "PAUSE_MS", "2000"), "-s", "600", "-m", "1")
	select {
	case <-answered:
	case <-time.After(10 * time.Second):
		t.Fatalf("the unit was not rung (ring transitions %d)\n%s", sim.RingPin().Transitions(), arc.Report())
	}
	// on, off, on: answered at the start of the second burst.
	if n := sim.RingPin().Transitions(); n < 3 {
		t.Fatalf("ring transitions %d before the unit answered, want two bursts", n)
	}
	select {
	case k := <-ear.keys:
		if k != '1' {
			t.Fatalf("the unit heard key %q, want the ARC's 1", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the unit heard nothing of the ARC\n%s", arc.Report())
	}
	if err := arc.Wait(15 * time.Second); err != nil {
		t.Fatalf("ARC: %v\n%s", err, arc.Report())
	}
	// The ARC's BYE ends the line call: the pretend unit is back on hook.
	testkit.WaitFor(t, "the unit back on hook", 5*time.Second, func() bool { return !sim.OffHook() })
}

// A call to the FXS line's number while the unit is off hook (in a call of
// its own) is refused before anything is answered (486), and the line is
// not rung; with no --fxs-number the stage takes nothing (404).
func TestFXSLineCallRefusedBeforeAnswer(t *testing.T) {
	docs := map[string]map[string]string{"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	g := startGatewayWith(t, t.TempDir(), docs, func(c *Config) { c.FXSNumber = "600" })
	sim := g.Board().Sim.Line
	mic := &pacedSilence{done: make(chan struct{})}
	if err := sim.Dial(mic, io.Discard, mic); err != nil {
		t.Fatal(err)
	}
	defer sim.HangUp()
	if call, err := voiceCallUnit(t, ctx, g, "arc", "600"); err == nil || !strings.Contains(err.Error(), "486") {
		if call != nil {
			call.Hangup()
		}
		t.Fatalf("call to a busy line: %v, want 486", err)
	}
	if n := sim.RingPin().Transitions(); n != 0 {
		t.Fatalf("a busy line was rung (%d transitions)", n)
	}

	g2 := startGatewayWith(t, t.TempDir(), docs, func(*Config) {})
	if call, err := voiceCallUnit(t, ctx, g2, "arc", "600"); err == nil || !strings.Contains(err.Error(), "404") {
		if call != nil {
			call.Hangup()
		}
		t.Fatalf("call to 600 without --fxs-number: %v, want 404", err)
	}
}

// What the FXS line cannot honour is refused at start: a number that is not
// digits, a cadence that is not one.
func TestFXSLineSettingsRefused(t *testing.T) {
	for _, c := range []Config{{FXSNumber: "6x0"}, {RingCadence: "200"}, {RingCadence: "mars"}} {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		if g, err := New(c); err == nil {
			g.Close()
			t.Errorf("%+v accepted", c)
		}
	}
}
