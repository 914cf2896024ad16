package media

import (
	"context"
	"errors"
	"io"
	"sync"
)

// FrameLeg is a call leg that is not RTP, such as the FXS line: 20 ms frames
// of PCM each way, DTMF played in band by SendDigit. hal's FXS call
// satisfies it.
type FrameLeg interface {
	ReadFrame(pcm []int16) error
	WriteFrame(pcm []int16) error
	SendDigit(key byte, durationMs int) error
}

// BridgeLeg connects s to a non-RTP leg until ctx ends or either leg ends,
// as Bridge connects two sessions: audio both ways (the leg's in-band DTMF
// passes as audio), and key presses received on s as RFC 4733 events played
// in band to the leg once they end. It returns nil when ctx ended and io.EOF
// when a leg ended. s must be started, and nothing else may read from s or
// write to the leg while bridged.
func BridgeLeg(ctx context.Context, s *Session, leg FrameLeg) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Digits heard in band on s pass as audio; reporting them as events too
	// would play them twice.
	s.bridged.Store(true)
	defer s.bridged.Store(false)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); defer cancel(); errs[0] = legToSession(ctx, leg, s) }()
	go func() { defer wg.Done(); defer cancel(); errs[1] = sessionToLeg(ctx, s, leg) }()
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
	}
	return nil
}

func legToSession(ctx context.Context, leg FrameLeg, s *Session) error {
	var pcm [FrameSamples]int16
	for ctx.Err() == nil {
		if err := leg.ReadFrame(pcm[:]); err != nil {
			return err
		}
		if err := s.WriteFrame(pcm[:]); err != nil {
			return err
		}
	}
	return nil
}

func sessionToLeg(ctx context.Context, s *Session, leg FrameLeg) error {
	var pcm [FrameSamples]int16
	digits := s.Digits()
	for ctx.Err() == nil {
		if err := s.ReadFrame(pcm[:]); err != nil {
			return err
		}
		for more := digits != nil; more; {
			select {
			case d := <-digits:
				// 40 ms at least, so the unit's receiver accepts it (Q.24).
				if err := leg.SendDigit(d.Key, int(max(d.DurationMs(), 40))); err != nil {
					return err
				}
			default:
				more = false
			}
		}
		if err := leg.WriteFrame(pcm[:]); err != nil {
			return err
		}
	}
	return nil
}
