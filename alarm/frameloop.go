package alarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
)

// FrameLoop is the receiving side of a lock-step call (see Channel): it
// reads a frame, hands it to the receiver's in-band detector, advances
// sample time, takes the keys the Channel delivered out of band, and writes
// the frame the receiver filled. Every key reaches the receiver once, in
// sample time, whichever way it came (DigitDedup). The DTMF receivers
// (contactid, bs8521, tt92) share it; it allocates nothing per frame.
//
// The zero value is not ready: call Init once per call.
type FrameLoop struct {
	// Now is the sample time, the samples read so far. A key heard in band
	// is reported while Now is still at the start of its frame; one from
	// Channel.Digits after Now has counted the frame, and only once the
	// receiver has stepped past its start (see Hear).
	Now int64

	name  string
	start time.Time // wall clock at Init, for Ahead
	ch    Channel
	oob   <-chan dsp.DigitEvent
	hear  func(pcm []int16, emit func(dsp.DigitEvent))
	digit func(dsp.DigitEvent)
	audio func(dsp.DigitEvent) // bound once, so that Hear allocates nothing
	dedup DigitDedup
	// Keys from Channel.Digits whose start the receiver has not yet
	// stepped past, oldest first (a ring: nothing allocated per key).
	held  [32]dsp.DigitEvent
	first int
	nheld int
	in    [FrameSamples]int16
	out   [FrameSamples]int16
}

// Init readies l for a call on ch. name prefixes read and write errors
// ("bs8521: read: ..."); hear is the in-band detector (for DTMF,
// (*dsp.DTMFDetector).Process); digit receives each key once.
func (l *FrameLoop) Init(name string, ch Channel, hear func(pcm []int16, emit func(dsp.DigitEvent)), digit func(dsp.DigitEvent)) {
	*l = FrameLoop{name: name, start: time.Now(), ch: ch, oob: ch.Digits(), hear: hear, digit: digit}
	l.audio = func(ev dsp.DigitEvent) { l.key(ev, FromAudio) }
}

func (l *FrameLoop) key(ev dsp.DigitEvent, src DigitSource) {
	// The same press heard in band and out of band (RFC 4733 with the
	// audio left in) counts once.
	if !l.dedup.Seen(ev, src) {
		l.digit(ev)
	}
}

// Ahead is how far the loop's sample time has run ahead of the wall clock
// since Init: about zero or less on an RTP session or a real line, which
// pace the reader; more on a Channel faster than real time (a test's pipe).
func (l *FrameLoop) Ahead() time.Duration {
	return time.Duration(l.Now)*time.Second/dsp.SampleRate - time.Since(l.start)
}

// Hear takes one frame heard: keys detected in it, then Now past it, then
// the keys the Channel has delivered out of band whose start the receiver
// has stepped past. An RFC 4733 key arrives as it is pressed, ahead of the
// audio the reader has reached (by the jitter delay, and by as much as a
// reader that a busy CPU delayed is behind): handed over at once, it met a
// receiver still in an earlier state (Contact ID still sending its
// handshake dropped the first keys of the panel's message, so the message
// was lost).
func (l *FrameLoop) Hear(in []int16) {
	l.hear(in, l.audio)
	stepped := l.Now // the receiver has stepped on every sample before this frame
	l.Now += int64(len(in))
	if l.oob == nil {
		return
	}
	for more := true; more; {
		select {
		case ev := <-l.oob:
			if l.nheld == len(l.held) {
				l.release() // full: the oldest goes now rather than be lost
			}
			l.held[(l.first+l.nheld)%len(l.held)] = ev
			l.nheld++
		default:
			more = false
		}
	}
	for l.nheld > 0 && l.held[l.first].Start < stepped {
		l.release()
	}
}

// release hands the oldest held key to the receiver.
func (l *FrameLoop) release() {
	ev := l.held[l.first]
	l.first = (l.first + 1) % len(l.held)
	l.nheld--
	l.key(ev, FromChannel)
}

// Run drives the call: read a frame (see Hear), let step fill the frame to
// send, write it. Every frame read is answered with one written, also
// after the step that reports done, so that a receiver taking over the
// call (multiprotocol) stays in lock-step with the far end; an error from
// step ends the call without writing. hungUp reports io.EOF from the
// Channel (the far end hung up); err is ctx's, step's, or the Channel's.
func (l *FrameLoop) Run(ctx context.Context, step func(out []int16) (done bool, err error)) (hungUp bool, err error) {
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if err := l.ch.ReadFrame(l.in[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return false, fmt.Errorf("%s: read: %w", l.name, err)
		}
		l.Hear(l.in[:])
		done, err := step(l.out[:])
		if err != nil {
			return false, err
		}
		if err := l.ch.WriteFrame(l.out[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return false, fmt.Errorf("%s: write: %w", l.name, err)
		}
		if done {
			return false, nil
		}
	}
}
