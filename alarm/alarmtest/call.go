package alarmtest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// Discard is a logger that drops everything, for receivers under test.
var Discard = slog.New(slog.DiscardHandler)

// Queue is an alarm.Queue that keeps events in memory and can be told to
// fail. It is safe for concurrent use.
type Queue struct {
	// Fail, if set, is asked before each Enqueue (call counts from 1); an
	// error it returns is Enqueue's, and the event is not kept.
	Fail func(call int) error

	mu    sync.Mutex
	evs   []alarm.Event
	calls int
}

// Enqueue keeps ev unless Fail refuses it.
func (q *Queue) Enqueue(_ context.Context, ev alarm.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.Fail != nil {
		if err := q.Fail(q.calls); err != nil {
			return err
		}
	}
	q.evs = append(q.evs, ev)
	return nil
}

// Events returns a copy of the events kept so far.
func (q *Queue) Events() []alarm.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]alarm.Event(nil), q.evs...)
}

// Calls is how many times Enqueue was called, refused calls included.
func (q *Queue) Calls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls
}

// RunCall runs one call over a pipe made with o: unit on one end, in its own
// goroutine, hanging up when it returns; r receiving call into q on the
// other, hanging up after. It returns when both sides are done, with what
// each returned. The call is given a minute at most.
func RunCall(o Options, r alarm.Receiver, call alarm.Call, q alarm.Queue, unit func(ctx context.Context, ch alarm.Channel) error) (out alarm.Outcome, rerr, uerr error) {
	return runCall(o, func(gw *End) (alarm.Channel, alarm.Queue) { return gw, q }, r, call, unit)
}

// RunSlowDiskCall is RunCall with the receiver's end and q behind a
// SlowDisk whose first write lasts d of the call's time.
func RunSlowDiskCall(o Options, d time.Duration, r alarm.Receiver, call alarm.Call, q alarm.Queue, unit func(ctx context.Context, ch alarm.Channel) error) (out alarm.Outcome, rerr, uerr error) {
	return runCall(o, func(gw *End) (alarm.Channel, alarm.Queue) {
		disk := NewSlowDisk(gw, d, q)
		return disk, disk
	}, r, call, unit)
}

// runCall is RunCall with the receiver's Channel and Queue made from its
// end of the pipe by side.
func runCall(o Options, side func(gw *End) (alarm.Channel, alarm.Queue), r alarm.Receiver, call alarm.Call, unit func(ctx context.Context, ch alarm.Channel) error) (out alarm.Outcome, rerr, uerr error) {
	gw, far := NewPipe(o)
	ch, q := side(gw)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		uerr = unit(ctx, far)
		far.Hangup()
	}()
	out, rerr = r.Receive(ctx, ch, call, q)
	gw.Hangup()
	<-done
	return out, rerr, uerr
}

// CheckAllocsPerCallOnly fails t if r allocates more for a call of 2000
// silent frames than for one of 200: a receiver allocates per call, never
// per frame. check sees each call's outcome, to prove the call did work.
func CheckAllocsPerCallOnly(t testing.TB, r alarm.Receiver, check func(frames int, out alarm.Outcome)) {
	t.Helper()
	allocs := func(frames int) float64 {
		return testing.AllocsPerRun(5, func() {
			ch := &Silent{Frames: frames}
			out, _ := r.Receive(context.Background(), ch, alarm.Call{ID: "a"}, &Queue{})
			check(frames, out)
		})
	}
	short, long := allocs(200), allocs(2000)
	if long > short {
		t.Errorf("%v allocations for 200 frames, %v for 2000: %.3f per frame", short, long, (long-short)/1800)
	}
}

// Quiet is a far end that never speaks: it answers every frame read on ch
// with silence until the call ends. Run it in a goroutine; the hangup
// stops it.
func Quiet(ch alarm.Channel) {
	var f, silence [FrameSamples]int16
	for ch.ReadFrame(f[:]) == nil {
		if ch.WriteFrame(silence[:]) != nil {
			return
		}
	}
}

// BenchCall benchmarks r over silent calls of the given frames and reports
// ns/frame, the cost of one 20 ms frame; the allocations reported are the
// call's (none should be per frame: see CheckAllocsPerCallOnly). The call
// must send something, a handshake or a prompt, or the benchmark fails.
func BenchCall(b *testing.B, r alarm.Receiver, frames int) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		ch := &Silent{Frames: frames}
		if out, _ := r.Receive(context.Background(), ch, alarm.Call{ID: "bench"}, &Queue{}); out.Handshakes == 0 {
			b.Fatalf("outcome %+v: nothing sent", out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}
