package mediaservice

import (
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// earpiece listens to a leg: when each of two tones was first heard and
// how long each lasted in all.
type earpiece struct {
	mu      sync.Mutex
	on      map[string]time.Time
	ms      map[string]int64
	dets    []*dsp.ToneDetector
	emitFns []func(dsp.ToneEvent)
}

func newEarpiece(t *testing.T, tones map[string]float64) *earpiece {
	e := &earpiece{on: map[string]time.Time{}, ms: map[string]int64{}}
	for name, f := range tones {
		d, err := dsp.NewToneDetector(dsp.ToneSpec{Name: name, Freq1: f})
		if err != nil {
			t.Fatal(err)
		}
		e.dets = append(e.dets, d)
		e.emitFns = append(e.emitFns, func(ev dsp.ToneEvent) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if ev.On {
				if _, ok := e.on[name]; !ok {
					e.on[name] = time.Now()
				}
			} else {
				e.ms[name] += ev.DurationMs()
			}
		})
	}
	return e
}

func (e *earpiece) hear(frame []int16) {
	for i, d := range e.dets {
		d.Process(frame, e.emitFns[i])
	}
}

func (e *earpiece) flush() {
	for i, d := range e.dets {
		d.Flush(e.emitFns[i])
	}
}

func (e *earpiece) heard(name string) (time.Time, int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.on[name], e.ms[name]
}

// A call action's greeting with playMode calleeFirst: once the callee has
// answered, it hears its greeting (1500 Hz) and then the caller hears its
// own (1000 Hz), each only its own; callAnswered comes after both, when
// the two are connected. Both parties are SIP engines in the test, which
// listen to what they are played.
func TestGreetingBeforeConnecting(t *testing.T) {
	r := newRig(t)
	for name, f := range map[string]float64{"forcaller.wav": 1000, "forcallee.wav": 1500} {
		if st, body := r.rest("PUT", "/mediaservice/"+testDomain+"/promptfile/"+name, "audio/wav", toneWAV(t, f, 1000)); st != 200 {
			t.Fatalf("prompt upload: %d %v", st, body)
		}
	}
	tones := map[string]float64{"caller": 1000, "callee": 1500}
	calleeEar := newEarpiece(t, tones)
	answered := make(chan struct{})
	calleeDone := make(chan struct{})
	lo, hi := testkit.PortRange(t, 20)
	dir := engine.NewStaticDirectory()
	if err := dir.SetTrusted("agent", "127.0.0.1/32"); err != nil {
		t.Fatal(err)
	}
	agent, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "agent", RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(testLog()), engine.WithDirectory(dir),
		engine.WithRoutes(engine.RouteSourceFunc(func(string) []engine.Route {
			return []engine.Route{{Name: "agent", Match: regexp.MustCompile("."), Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) {
				defer close(calleeDone)
				if c.Answer() != nil {
					return
				}
				close(answered)
				frame := make([]int16, 160)
				for c.Session().ReadFrame(frame) == nil {
					calleeEar.hear(frame)
				}
				calleeEar.flush()
			})}}
		})))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	r.app.script = func(name string, body map[string]any) (int, any) {
		switch name {
		case "newCall":
			return 200, map[string]any{"action": "call", "destAddr": "sip:agent@" + agent.Addr(),
				"greeting": map[string]any{"playMode": "calleeFirst",
					"caller": map[string]any{"phrases": []any{map[string]any{"fileName": "forcaller.wav"}}},
					"callee": map[string]any{"phrases": []any{map[string]any{"fileName": "forcallee.wav"}}}}}
		case "callEvent":
			return 200, map[string]any{"action": "drop"}
		}
		return 200, map[string]any{}
	}

	lo2, hi2 := testkit.PortRange(t, 20)
	phone, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "phone", RTPPortMin: lo2, RTPPortMax: hi2}, engine.WithLogger(testLog()))
	if err != nil {
		t.Fatal(err)
	}
	if err := phone.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := phone.Dial(ctx, engine.DialOptions{To: "sip:ivr9@" + r.eng.Addr(), From: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	callerEar := newEarpiece(t, tones)
	var connectedAt time.Time
	frame := make([]int16, 160)
	for c.Session().ReadFrame(frame) == nil {
		callerEar.hear(frame)
		if connectedAt.IsZero() && len(r.app.got("callAnswered")) == 1 {
			connectedAt = time.Now()
		}
		if !connectedAt.IsZero() && time.Since(connectedAt) > 500*time.Millisecond {
			break
		}
	}
	callerEar.flush()
	_ = c.Hangup()
	select {
	case <-answered:
	default:
		t.Fatal("the callee was never called")
	}
	select {
	case <-calleeDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the callee was not hung up after the caller left")
	}
	calleeOn, calleeMs := calleeEar.heard("callee")
	callerOn, callerMs := callerEar.heard("caller")
	_, calleeHeardCaller := calleeEar.heard("caller")
	_, callerHeardCallee := callerEar.heard("callee")
	if calleeMs < 800 || callerMs < 800 {
		t.Fatalf("greetings heard: callee %d ms, caller %d ms, want most of each 1 s phrase", calleeMs, callerMs)
	}
	if calleeHeardCaller > 100 || callerHeardCallee > 100 {
		t.Errorf("each heard the other's greeting: callee %d ms, caller %d ms", calleeHeardCaller, callerHeardCallee)
	}
	if d := callerOn.Sub(calleeOn); d < 800*time.Millisecond {
		t.Errorf("the caller's greeting began %v after the callee's, want after it (calleeFirst)", d)
	}
	if connectedAt.IsZero() || connectedAt.Before(callerOn.Add(800*time.Millisecond)) {
		t.Errorf("callAnswered at %v, the caller's greeting began at %v: want it once the greeting is over", connectedAt, callerOn)
	}
}
