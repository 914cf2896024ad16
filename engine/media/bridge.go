package media

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Bridge connects two legs until ctx ends or either leg ends: the audio of
// each is read from its jitter buffer, decoded and encoded again for the
// other (so PCMA and PCMU legs transcode through dsp), and key presses
// received on one leg as RFC 4733 events are repeated on the other: live
// as events when that leg negotiated telephone-event (started when they
// start, ended when they end), else in-band once they end, with their
// duration. DTMF heard in-band passes as audio. It returns nil when ctx ended
// and io.EOF when a leg ended. Both sessions must be started, and nothing
// else may read from them while bridged.
func Bridge(ctx context.Context, a, b *Session) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// DTMF heard in-band on a leg already passes in the audio; forwarding
	// it as an event too would double it.
	a.bridged.Store(true)
	b.bridged.Store(true)
	defer a.bridged.Store(false)
	defer b.bridged.Store(false)
	// RFC 4733 to RFC 4733 passes live: the far leg starts the event when
	// it starts here and ends it when it ends here.
	if b.eventsNegotiated() {
		a.relayTo.Store(b)
		defer a.relayTo.Store(nil)
	}
	if a.eventsNegotiated() {
		b.relayTo.Store(a)
		defer b.relayTo.Store(nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); defer cancel(); errs[0] = pump(ctx, a, b) }()
	go func() { defer wg.Done(); defer cancel(); errs[1] = pump(ctx, b, a) }()
	// A leg that ends unblocks its reader; ctx unblocks both through Done.
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
	}
	return nil
}

// pump moves frames and digits from one leg to the other.
func pump(ctx context.Context, from, to *Session) error {
	var pcm [FrameSamples]int16
	digits := from.Digits()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-to.Done():
			return io.EOF
		default:
		}
		if err := from.ReadFrame(pcm[:]); err != nil {
			return err
		}
		for more := digits != nil; more; {
			select {
			case d := <-digits:
				// Relayed live already, or forwarded now that it is complete,
				// in-band (40 ms minimum so the far receiver accepts it).
				if from.relayTo.Load() == nil {
					_ = to.SendDigit(d.Key, int(max(d.DurationMs(), 40)))
				}
			default:
				more = false
			}
		}
		if err := to.WriteFrame(pcm[:]); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
