package alarm

import (
	"context"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
)

// PendingWrite runs a receiver's Enqueue beside its FrameLoop. The durable
// write behind Enqueue (a transaction and an fsync) can take seconds on a
// busy disk; made inline, it stalled the lock-step loop: the unit heard no
// audio at all meanwhile, and the acknowledgement, sent once the write
// returned, fell on the unit's repeat of its message, which the receiver,
// busy acknowledging, did not hear (a Contact ID listen-in panel then had
// no kissoff and its repeats went to the voice call). With PendingWrite
// the loop keeps reading and writing while the write runs, the receiver
// polls for its result once per frame, and decides then, in sample time,
// whether its acknowledgement can still start inside the unit's window.
//
// While the write runs, Poll also keeps the frame loop from running ahead
// of real time (FrameLoop.Ahead): on a Channel faster than real time (a
// test's pipe or unpaced line) the write would otherwise last an
// arbitrary part of the call. On a real line or an RTP session, whose
// reads are paced, it never waits, also while a reader that fell behind
// catches up.
//
// The zero value is ready. One write at a time; a receiver polls from its
// frame loop only (not safe for concurrent use).
type PendingWrite struct {
	done  chan error
	busy  bool
	ev    Event
	end   int64       // the end of the latest copy of ev's message heard
	timer *time.Timer // Poll's wait, made once
}

// Start puts ev to q in a goroutine of its own and waits for it inline
// up to InlineWait; done says the write ended meanwhile, with err. end is
// the sample time the message ev was made from ended (its last key).
func (p *PendingWrite) Start(ctx context.Context, q Queue, ev Event, end int64) (done bool, err error) {
	if p.done == nil {
		p.done = make(chan error, 1)
	}
	p.busy, p.ev, p.end = true, ev, end
	go func() { p.done <- q.Enqueue(ctx, ev) }()
	t := time.NewTimer(InlineWait)
	defer t.Stop()
	select {
	case err = <-p.done:
		return p.ended(err)
	case <-t.C:
		return false, nil
	}
}

// ended takes the result of the write in flight.
func (p *PendingWrite) ended(err error) (done bool, _ error) {
	p.busy = false
	return true, err
}

// Busy says a write is in flight.
func (p *PendingWrite) Busy() bool { return p.busy }

// Event is the event being (or last) written.
func (p *PendingWrite) Event() Event { return p.ev }

// Repeated notes that the unit sent the message again, ending at end,
// while its event is written: the acknowledgement answers that copy.
func (p *PendingWrite) Repeated(end int64) { p.end = end }

// End is the end of the latest copy heard of the message being (or last)
// written, from which its acknowledgement is timed.
func (p *PendingWrite) End() int64 { return p.end }

// InlineWait is how long Start waits for a write inline before it lets
// the frame loop go on beside it: five frames, which the jitter buffers of
// both ends absorb.
const InlineWait = 100 * time.Millisecond

// Poll reports the write's result once it has ended (done). When the loop
// has run more than two frames ahead of real time (ahead, from
// FrameLoop.Ahead) it waits for it up to one frame's time, so that while
// the write runs such a loop moves at real pace.
func (p *PendingWrite) Poll(ahead time.Duration) (done bool, err error) {
	if !p.busy {
		return false, nil
	}
	if ahead <= 2*frameTime {
		select {
		case err = <-p.done:
			return p.ended(err)
		default:
			return false, nil
		}
	}
	if p.timer == nil {
		p.timer = time.NewTimer(frameTime)
	} else {
		p.timer.Reset(frameTime)
	}
	select {
	case err = <-p.done:
		p.timer.Stop()
		return p.ended(err)
	case <-p.timer.C:
		return false, nil
	}
}

// frameTime is FrameSamples as a duration.
const frameTime = FrameSamples * time.Second / dsp.SampleRate

// Wait waits for a write in flight to end (the call ended meanwhile: the
// event may still be stored, unacknowledged, and the receiver reports it).
func (p *PendingWrite) Wait() (done bool, err error) {
	if !p.busy {
		return false, nil
	}
	return p.ended(<-p.done)
}
