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
// received on one leg as RFC 4733 events are sent on the other (as events
// or in-band, whatever that leg negotiated) once they end, with their
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
				// Forwarded once complete, with its duration (40 ms minimum
				// so the far receiver accepts it).
				_ = to.SendDigit(d.Key, int(max(d.DurationMs(), 40)))
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
