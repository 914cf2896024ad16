package media

import "context"

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
	// Digits heard in band on s pass as audio; reporting them as events too
	// would play them twice.
	s.bridged.Store(true)
	defer s.bridged.Store(false)
	return pumpBoth(ctx,
		func(ctx context.Context) error { return pump(ctx, leg, nil, s, s.Done()) },
		func(ctx context.Context) error { return pump(ctx, s, s.Digits(), leg, nil) })
}
