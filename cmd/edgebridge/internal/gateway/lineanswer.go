package gateway

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/hal"
)

// The pretend unit on the simulated FXS line as the ARC's call back finds
// it (console `line answer`): a social alarm unit answers its ARC's call
// by itself, so on --hw sim it is armed from the start, to go off hook at
// the defaultAnswerRings-th ring burst; `line answer off` makes it a unit
// that lets the line ring (the caller gets 480 after 60 s).

// defaultAnswerRings is the burst the pretend unit answers at until the
// console says otherwise: the second, so that a ring is seen first.
const defaultAnswerRings = 2

// maxAnswerRings bounds `line answer --rings`: more bursts than fit in the
// 60 s ring limit make a unit that never answers (`line answer off`).
const maxAnswerRings = 20

// speechTone is what the pretend unit sends once off hook, standing for the
// person speaking into a social alarm: 440 Hz, 1 s in every 2, at
// -15 dBm0, well clear of the DTMF frequencies the ARC's keys use.
var speechTone = []dsp.ToneSegment{{Freq1: 440, DBm0: -15, Ms: 1000}, {Ms: 1000}}

// simUnit is the pretend unit answering ringing on the simulated line: it
// goes off hook, speaks its speech tone, decodes the keys it hears in band
// and hangs up when a console asks. Each step is logged and sent to the
// consoles watching (`line answer`).
type simUnit struct {
	line   *hal.SimLine
	number string // the line's number (serve --fxs-number), "" for none
	log    *slog.Logger

	mu       sync.Mutex
	start    time.Time // the first burst of the ringing in progress
	watchers map[chan simEvent]struct{}
	call     *simCallback // the call the unit has answered, nil none
}

// simEvent is one step of a call back as the console prints it.
type simEvent struct {
	line string
	end  bool // the call has ended
}

// simCallback is a call the pretend unit answered.
type simCallback struct {
	hangUp   func()      // the unit goes on hook
	byUnit   atomic.Bool // it hung up (not the ARC)
	ended    chan struct{}
	answered int // the burst it answered at
}

// newSimUnit is the pretend unit of a simulated board's line, armed; nil
// when the board has none.
func newSimUnit(b *hal.Board, number string, log *slog.Logger) *simUnit {
	if b == nil || b.Sim == nil || b.Sim.Line == nil {
		return nil
	}
	u := &simUnit{line: b.Sim.Line, number: number, log: log}
	u.arm(defaultAnswerRings)
	return u
}

// arm has the unit answer every ringing at burst rings; 0 disarms it.
func (u *simUnit) arm(rings int) {
	if rings <= 0 {
		u.line.AnswerRinging(0, nil, nil)
		return
	}
	u.line.AnswerRinging(rings, u.rung, func() (io.Reader, io.Writer, io.Closer, error) { return u.pickUp(rings) })
}

func (u *simUnit) rung(n int) {
	u.mu.Lock()
	if n == 1 {
		u.start = time.Now()
	}
	u.mu.Unlock()
	u.say(simEvent{line: "ring " + strconv.Itoa(n)})
}

// say sends ev to the consoles watching (a slow one loses lines, the line
// does not stall) and logs it, stamped with the time since the first burst.
func (u *simUnit) say(ev simEvent) {
	u.mu.Lock()
	defer u.mu.Unlock()
	at := time.Since(u.start)
	u.log.Info("simulated line: "+ev.line, "since_first_ring", at.Round(time.Millisecond))
	ev.line = fmt.Sprintf("%7.3fs  %s", at.Seconds(), ev.line)
	for ch := range u.watchers {
		select {
		case ch <- ev:
		default:
		}
	}
}

func (u *simUnit) watch() (<-chan simEvent, func()) {
	ch := make(chan simEvent, 64)
	u.mu.Lock()
	if u.watchers == nil {
		u.watchers = map[chan simEvent]struct{}{}
	}
	u.watchers[ch] = struct{}{}
	u.mu.Unlock()
	return ch, func() {
		u.mu.Lock()
		delete(u.watchers, ch)
		u.mu.Unlock()
	}
}

func (u *simUnit) current() *simCallback {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.call
}

// pickUp is the unit going off hook at burst rings: the line's audio both
// ways over pipes, the unit's speech tone paced at the line's rate, and an
// ear that decodes the keys it hears until the call ends.
func (u *simUnit) pickUp(rings int) (io.Reader, io.Writer, io.Closer, error) {
	ch, onHook, gwR, gwW, err := openLine()
	if err != nil {
		return nil, nil, nil, err
	}
	cb := &simCallback{ended: make(chan struct{}), answered: rings, hangUp: onHook}
	u.mu.Lock()
	u.call = cb
	u.mu.Unlock()
	u.say(simEvent{line: fmt.Sprintf("off hook: the unit answers at ring %d and speaks (its speech tone, 440 Hz)", rings)})
	go u.speak(ch)
	go u.listen(ch, cb)
	return gwR, gwW, lineEnds{gwR, gwW}, nil
}

func (u *simUnit) speak(ch *lineUnit) {
	gen, err := dsp.NewToneGenerator(true, speechTone...)
	if err != nil {
		return
	}
	frame := make([]int16, dsp.SampleRate/50)
	for {
		gen.Generate(frame)
		if ch.WriteFrame(frame) != nil {
			return
		}
	}
}

func (u *simUnit) listen(ch *lineUnit, cb *simCallback) {
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	frame := make([]int16, dsp.SampleRate/50)
	for ch.ReadFrame(frame) == nil {
		det.Process(frame, func(ev dsp.DigitEvent) {
			u.say(simEvent{line: fmt.Sprintf("heard key %c (%d ms)", ev.Key, ev.DurationMs())})
		})
	}
	cb.hangUp()
	u.mu.Lock()
	if u.call == cb {
		u.call = nil
	}
	u.mu.Unlock()
	end := "the ARC hung up: on hook"
	if cb.byUnit.Load() {
		end = "the unit hung up: on hook"
	}
	u.say(simEvent{line: end, end: true})
	close(cb.ended)
}

// AnswerLine is the console's `line answer [--rings N]` and `line answer
// off`: it arms (or disarms) the pretend unit, then shows the next call
// back as it happens until it ends or ctx ends (a key: the unit hangs up
// if it is in the call). It returns the line to end with.
func (l lineSimulator) AnswerLine(ctx context.Context, args []string, lines chan<- string) (string, error) {
	u := l.unit
	if len(args) == 1 && args[0] == "off" {
		u.arm(0)
		return "the pretend unit no longer answers: a call to the line rings until its caller gives up, or gets 480 after 60 s.", nil
	}
	fs := flag.NewFlagSet("line answer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rings := fs.Int("rings", defaultAnswerRings, "")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return "", fmt.Errorf("usage: line answer [--rings N] | line answer off (%v)", err)
	}
	if *rings < 1 || *rings > maxAnswerRings {
		return "", fmt.Errorf("--rings %d: want 1 to %d (line answer off: a unit that does not answer)", *rings, maxAnswerRings)
	}
	events, stop := u.watch()
	defer stop()
	u.arm(*rings)
	send := func(s string) {
		select {
		case lines <- s:
		case <-ctx.Done():
		}
	}
	if u.number == "" {
		send(fmt.Sprintf("the pretend unit answers ringing at ring %d, but the line has no number (serve --fxs-number N): no call reaches it.", *rings))
	} else {
		send(fmt.Sprintf("the pretend unit answers a call to %s at ring %d, as a social alarm answers its ARC; waiting for the call (any key stops watching).", l.unit.number, *rings))
	}
	for {
		select {
		case <-ctx.Done():
			if cb := u.current(); cb != nil {
				cb.byUnit.Store(true)
				cb.hangUp()
				select {
				case <-cb.ended:
				case <-time.After(2 * time.Second):
				}
				return "stopped: the unit hung up.", nil
			}
			return fmt.Sprintf("stopped watching; the unit still answers at ring %d (line answer off: it does not).", *rings), nil
		case ev := <-events:
			send(ev.line)
			if ev.end {
				if n := u.line.AnswersAt(); n > 0 {
					return fmt.Sprintf("the call ended; the unit still answers at ring %d.", n), nil
				}
				return "the call ended.", nil
			}
		}
	}
}
