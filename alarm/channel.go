package alarm

import (
	"time"

	"github.com/edgebridge/edgebridge/dsp"
)

// FrameSamples is the usual frame: 20 ms at 8 kHz.
const FrameSamples = 160

// Samples is d in sample time (8 kHz), the clock receivers and units keep.
func Samples(d time.Duration) int64 { return int64(d) * dsp.SampleRate / int64(time.Second) }

// Channel is one call leg as alarm code sees it: an FXS line (hal) or an RTP
// session (engine) both provide one, so every protocol runs the same on either.
//
// Time on a Channel is sample time: each ReadFrame is 20 ms of the call, also
// when the network lost packets (the engine then hands out concealment frames),
// so receivers time their protocol by frames read, never by the wall clock.
// Receivers run lock-step: read one frame, then write one frame (tone or silence).
type Channel interface {
	// ReadFrame fills pcm (normally FrameSamples long) with the next audio
	// from the far end. It returns io.EOF once the far end has hung up.
	ReadFrame(pcm []int16) error
	// WriteFrame sends pcm toward the far end.
	WriteFrame(pcm []int16) error
	// Digits delivers DTMF received out of band (RFC 4733); nil when the
	// channel has none, in which case digits are detected in-band.
	Digits() <-chan dsp.DigitEvent
	// SendDigit sends a DTMF key of the given length, out of band when the
	// leg negotiated RFC 4733, in-band otherwise.
	SendDigit(key byte, durationMs int) error
	// Hangup ends the call. It is safe to call more than once.
	Hangup() error
}
