package media

import (
	"context"
	"errors"
	"io"

	"github.com/edgebridge/edgebridge/dsp"
)

// Bridge connects two legs until ctx ends or either leg ends: the audio of
// each is read from its jitter buffer, decoded and encoded again for the
// other (so PCMA and PCMU legs transcode through dsp), and key presses
// received on one leg as RFC 4733 events are repeated on the other: live
// as events when that leg negotiated telephone-event (started when they
// start, ended when they end), else in-band once they end, with their
// duration (or handed to the leg's DigitsTo function). DTMF heard in-band
// passes as audio. It returns nil when ctx ended and io.EOF when a leg
// ended. Both sessions must be started, and nothing else may read from them
// while bridged.
func Bridge(ctx context.Context, a, b *Session, opts ...BridgeOption) error {
	var cfg bridgeConfig
	for _, o := range opts {
		o(&cfg)
	}
	// DTMF heard in-band on a leg already passes in the audio; forwarding
	// it as an event too would double it.
	a.bridged.Store(true)
	b.bridged.Store(true)
	defer a.bridged.Store(false)
	defer b.bridged.Store(false)
	// RFC 4733 to RFC 4733 passes live: the far leg starts the event when
	// it starts here and ends it when it ends here.
	toB := bridgeTarget{Session: b, live: b.eventsNegotiated(), send: cfg.sink(b)}
	toA := bridgeTarget{Session: a, live: a.eventsNegotiated(), send: cfg.sink(a)}
	if toB.live {
		a.relayTo.Store(b)
		defer a.relayTo.Store(nil)
	}
	if toA.live {
		b.relayTo.Store(a)
		defer b.relayTo.Store(nil)
	}
	var fromA, fromB interface{ ReadFrame([]int16) error } = a, b
	if cfg.tap != nil {
		fromA, fromB = tapReader{a, cfg.tap}, tapReader{b, cfg.tap}
	}
	return pumpBoth(ctx,
		func(ctx context.Context) error { return pump(ctx, fromA, a.Digits(), toB, b.Done()) },
		func(ctx context.Context) error { return pump(ctx, fromB, b.Digits(), toA, a.Done()) })
}

// TapFrames hands fn each frame a Bridge passes, with the leg it was read from,
// before it is written to the other leg (a call recording). fn runs on
// that direction's goroutine once per 20 ms frame: it must not block, and
// must not keep pcm.
func TapFrames(fn func(from *Session, pcm []int16)) BridgeOption {
	return func(c *bridgeConfig) { c.tap = fn }
}

// tapReader is a bridged leg whose frames are also handed to TapFrames.
type tapReader struct {
	s  *Session
	fn func(*Session, []int16)
}

func (t tapReader) ReadFrame(pcm []int16) error {
	err := t.s.ReadFrame(pcm)
	if err == nil {
		t.fn(t.s, pcm)
	}
	return err
}

// BridgeOption tunes a Bridge.
type BridgeOption func(*bridgeConfig)

type bridgeConfig struct {
	sinks map[*Session]func(key byte, durationMs int)
	tap   func(from *Session, pcm []int16)
}

func (c *bridgeConfig) sink(s *Session) func(byte, int) { return c.sinks[s] }

// DigitsTo hands the key presses a Bridge would play in-band to leg (a leg
// without telephone-event) to send instead, e.g. as SIP INFO. send must
// not block the bridge: it runs between two frames. A nil send is no option.
func DigitsTo(leg *Session, send func(key byte, durationMs int)) BridgeOption {
	return func(c *bridgeConfig) {
		if send == nil {
			return
		}
		if c.sinks == nil {
			c.sinks = map[*Session]func(byte, int){}
		}
		c.sinks[leg] = send
	}
}

// bridgeTarget is a Session as the far leg of a Bridge. A key press it
// cannot take is dropped rather than ending the bridge, and none is played
// when the near leg relays its events to it live already.
type bridgeTarget struct {
	*Session
	live bool
	send func(key byte, durationMs int) // instead of in-band, when set
}

func (t bridgeTarget) SendDigit(key byte, durationMs int) error {
	switch {
	case t.live:
	case t.send != nil:
		t.send(key, durationMs)
	default:
		_ = t.Session.SendDigit(key, durationMs)
	}
	return nil
}

// pumpBoth runs the two directions of a bridge until ctx ends or either
// does: nil when ctx ended, io.EOF when a leg ended. back runs on the
// caller's goroutine, there on one of its own: a goroutine fewer per call
// at a flood's peak, whose descriptor the runtime would keep for good.
func pumpBoth(ctx context.Context, there, back func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	thereErr := make(chan error, 1)
	go func() { defer cancel(); thereErr <- there(ctx) }()
	backErr := back(ctx)
	// A leg that ends unblocks its reader; ctx unblocks both through Done.
	cancel()
	for _, err := range []error{<-thereErr, backErr} {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
	}
	return nil
}

// pump moves frames from one leg to the other until ctx ends (nil) or a
// leg does, and with them the key presses that arrive on digits (nil when
// from reports none), played on to once they have ended. toDone, if not
// nil, is closed when to has ended: pump then stops without reading
// another frame.
func pump(ctx context.Context, from interface{ ReadFrame([]int16) error }, digits <-chan dsp.DigitEvent, to FrameLeg, toDone <-chan struct{}) error {
	var pcm [FrameSamples]int16
	for ctx.Err() == nil {
		select {
		case <-toDone:
			return io.EOF
		default:
		}
		if err := from.ReadFrame(pcm[:]); err != nil {
			return err
		}
		for more := digits != nil; more; {
			select {
			case d := <-digits:
				// 40 ms at least, so the far receiver accepts it (Q.24).
				if err := to.SendDigit(d.Key, int(max(d.DurationMs(), 40))); err != nil {
					return err
				}
			default:
				more = false
			}
		}
		if err := to.WriteFrame(pcm[:]); err != nil {
			return err
		}
	}
	return nil
}
