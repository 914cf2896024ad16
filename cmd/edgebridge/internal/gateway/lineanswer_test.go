package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/api/console"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// lineConsole is the field console of g on a pty, logged in, as serve
// wires its `line` commands: type writes to it, waitFor waits until its
// output holds want and returns it.
type lineConsole struct {
	t    *testing.T
	ptmx interface{ Write([]byte) (int, error) }
	mu   sync.Mutex
	out  bytes.Buffer
}

func startLineConsole(t *testing.T, g *Gateway) *lineConsole {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		console.Run(ctx, tty, console.Config{API: http.NotFoundHandler(), Authorize: func(*http.Request) {}, Board: g.Board(), LineSim: g.LineSim()})
	}()
	c := &lineConsole{t: t, ptmx: ptmx}
	go func() {
		b := make([]byte, 1024)
		for {
			n, err := ptmx.Read(b)
			c.mu.Lock()
			c.out.Write(b[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; ptmx.Close() })
	c.waitFor("> ")
	return c
}

func (c *lineConsole) typ(s string) {
	if _, err := c.ptmx.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *lineConsole) waitFor(want string) string {
	c.t.Helper()
	var out string
	if !testkit.Eventually(15*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		out = c.out.String()
		return strings.Contains(out, want)
	}) {
		c.t.Fatalf("waited for %q; the console showed %q", want, out)
	}
	return out
}

// The pretend unit of a simulated board answers the ARC's call back from
// the start, as a social alarm does; `line answer off` in the console
// makes it a unit that does not: SIPp's call to the line's number then
// rings it until the ring limit (60 s, here the test's clock, which sees
// the limit armed while the line rings) and gets 480, and the ringing
// stops with the line on hook.
func TestFXSLineCallUnansweredGets480(t *testing.T) {
	docs := map[string]map[string]string{"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`}}
	g := startGatewayWith(t, t.TempDir(), docs, func(c *Config) { c.FXSNumber, c.RingCadence = "600", "200,300" })
	type armed struct {
		d      time.Duration
		expire func()
	}
	timers := make(chan armed, 1)
	g.lineRingLimit = func(d time.Duration, f func()) func() bool {
		timers <- armed{d, f}
		return func() bool { return true }
	}
	sim := g.Board().Sim.Line
	if n := sim.AnswersAt(); n != defaultAnswerRings {
		t.Fatalf("the pretend unit answers at ring %d, want %d from the start", n, defaultAnswerRings)
	}
	con := startLineConsole(t, g)
	con.typ("line answer off\r")
	con.waitFor("the pretend unit no longer answers")
	if n := sim.AnswersAt(); n != 0 {
		t.Fatalf("after line answer off the unit answers at ring %d", n)
	}

	wd := t.TempDir()
	arc := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "uac_refused.xml", "STATUS", "480"), "-s", "600", "-m", "1")
	var tm armed
	select {
	case tm = <-timers:
	case <-time.After(15 * time.Second):
		t.Fatalf("the call to the line armed no ring limit\n%s", arc.Report())
	}
	if tm.d != 60*time.Second {
		t.Fatalf("ring limit %v, want 60 s", tm.d)
	}
	// Past the second burst, where the unit answered before, nobody lifts
	// the handset.
	testkit.WaitFor(t, "the line ringing three bursts", 10*time.Second, func() bool { return sim.RingPin().Transitions() >= 5 })
	if sim.OffHook() {
		t.Fatal("the unit answered after line answer off")
	}
	if calls := g.ListCalls(); len(calls) != 1 || calls[0].State != "callback ringing the FXS line" || calls[0].To != "600" {
		t.Fatalf("calls in progress %+v, want the ARC's call still ringing the line", calls)
	}
	tm.expire()
	if err := arc.Wait(15 * time.Second); err != nil {
		t.Fatalf("unanswered call to the line: %v, want 480\n%s", err, arc.Report())
	}
	if sim.RingPin().Level() {
		t.Fatal("the line still rings after the call was refused")
	}
	if sim.OffHook() {
		t.Fatal("the line is off hook")
	}
}

// The ARC's call back, answered by the pretend unit at its default ring:
// the ARC hears the unit's speech tone (440 Hz) through the bridge and the
// unit hears the ARC's key; the call is listed (ringing, then on the line)
// and counted with the line's leg (edgebridge_calls_active, the status);
// the console's `calls hangup` of it ends both: the ARC's call gets the
// BYE, the unit is back on hook, and nothing is listed or counted.
func TestFXSLineCallbackHeardListedAndHungUp(t *testing.T) {
	docs := map[string]map[string]string{"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`}}
	g := startGatewayWith(t, t.TempDir(), docs, func(c *Config) { c.FXSNumber, c.RingCadence = "600", "200,300" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events, stop := g.simUnit.watch()
	defer stop()
	var account []string
	next := func(want string) {
		t.Helper()
		for {
			select {
			case ev := <-events:
				account = append(account, strings.TrimSpace(ev.line))
				if strings.Contains(ev.line, want) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("the unit's account %q lacks %q", account, want)
			}
		}
	}
	dialled := make(chan error, 1)
	var call *engine.Call
	go func() {
		c, err := voiceCallUnit(t, ctx, g, "arc", "600")
		call = c
		dialled <- err
	}()
	next("ring 1")
	if calls := g.ListCalls(); len(calls) != 1 || calls[0].State != "callback ringing the FXS line" || calls[0].From != "arc" {
		t.Fatalf("calls while ringing: %+v", calls)
	}
	next("off hook")
	if err := <-dialled; err != nil {
		t.Fatalf("the ARC's call back: %v", err)
	}
	if n := len(regexp.MustCompile(`(?m)s  ring \d+$`).FindAllString(strings.Join(account, "\n"), -1)); n != defaultAnswerRings {
		t.Fatalf("the unit answered after %d bursts, want %d: %q", n, defaultAnswerRings, account)
	}
	s := call.Session()
	det, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "speech", Freq1: 440, MinMs: 200})
	if err != nil {
		t.Fatal(err)
	}
	heard := false
	in, out := make([]int16, media.FrameSamples), make([]int16, media.FrameSamples)
	for i := 0; !heard && i < 250; i++ { // 5 s of frames
		if err := s.ReadFrame(in); err != nil {
			t.Fatal(err)
		}
		det.Process(in, func(ev dsp.ToneEvent) { heard = heard || ev.On })
		if err := s.WriteFrame(out); err != nil {
			t.Fatal(err)
		}
	}
	if !heard {
		t.Fatal("the ARC did not hear the unit's speech tone")
	}
	calls := g.ListCalls()
	if len(calls) != 1 || calls[0].State != "callback on the FXS line" {
		t.Fatalf("calls while bridged: %+v", calls)
	}
	if n := g.callsInProgress(); n != 2 {
		t.Fatalf("%d calls in progress, want the ARC's leg and the line's", n)
	}
	if h := g.Health(); h.Calls != 2 {
		t.Fatalf("status health counts %d calls, want 2", h.Calls)
	}
	// The key goes with the frames the ARC writes, RFC 4733 or in band as
	// negotiated; the unit decodes it in band on the line.
	if err := s.SendDigit('5', 200); err != nil {
		t.Fatal(err)
	}
	keyed := make(chan struct{})
	go func() {
		defer close(keyed)
		for ctx.Err() == nil && s.ReadFrame(in) == nil && s.WriteFrame(out) == nil {
		}
	}()
	next("heard key 5")
	if err := g.HangupCall(calls[0].ID); err != nil {
		t.Fatal(err)
	}
	next("the ARC hung up: on hook")
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the ARC's call was not hung up")
	}
	<-keyed
	testkit.WaitFor(t, "the line on hook and nothing listed", 5*time.Second, func() bool {
		return !g.board.Line.OffHook() && len(g.ListCalls()) == 0 && g.callsInProgress() == 0
	})
}

// A clear-down the unit does not take is bounded: a TT92 unit on the FXS
// line that stops taking audio (it neither reads nor answers its frames)
// would hold hangupalarmcall with clear for ever; after the limit the
// call ends without it, the answer is a 504 refusal saying what happened,
// and the line is released.
func TestFXSClearDownBoundedWhenTheUnitStopsTakingAudio(t *testing.T) {
	g := startGateway(t, map[string]map[string]string{
		"alarmbridge": {"tt": `{"id":"tt","name":"tt","protocol":"tt92","protocolMode":"dtmf","destinationMatch":"^5553$"}`},
	})
	g.clearLimit = time.Second
	unit := fxsUnitDials(t, g, "5553#")
	// Lock-step until the gateway's first prompt, then nothing more.
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	frame := make([]int16, 160)
	prompted := false
	for i := 0; !prompted && i < 500; i++ {
		if err := unit.ReadFrame(frame); err != nil {
			t.Fatal(err)
		}
		det.Process(frame, func(dsp.DigitEvent) { prompted = true })
		if err := unit.WriteFrame(make([]int16, 160)); err != nil {
			t.Fatal(err)
		}
	}
	if !prompted {
		t.Fatal("the unit heard no prompt")
	}
	id := fxsLiveCall(t, g, "5553")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := g.HangupAlarmCall(ctx, "local", api.AlarmHangup{CallID: id, Clear: true})
	var ref *api.Refusal
	if !errors.As(err, &ref) || ref.Status != http.StatusGatewayTimeout || !strings.Contains(ref.Reason, "did not take its clear-down within 1s") {
		t.Fatalf("hangupalarmcall with clear to a unit taking no audio: %v after %v, want a 504 refusal saying so", err, time.Since(start))
	}
	if !strings.Contains(ref.Reason, "the call has ended") {
		t.Errorf("reason %q: want the call ended", ref.Reason)
	}
	testkit.WaitFor(t, "the line released and nothing listed", 5*time.Second, func() bool {
		return !g.board.Line.OffHook() && len(g.ListCalls()) == 0
	})
}
