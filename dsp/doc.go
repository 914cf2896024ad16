// Package dsp is pure signal processing on 8 kHz 16-bit linear PCM: G.711,
// Goertzel filters, DTMF and tone detection and generation, FSK modems and
// level measurement.
//
// Nothing here does I/O, starts goroutines or allocates per frame: callers
// own the buffers and feed frames of any length. Time is counted in samples
// (8000 per second) so that results do not depend on the wall clock.
package dsp

// SampleRate is the only rate this package works at.
const SampleRate = 8000

// DigitEvent is one DTMF key press, heard in-band or received out of band
// (RFC 4733). Start and End count samples from the start of the stream.
type DigitEvent struct {
	Key   byte  // '0'-'9', '*', '#', 'A'-'D'
	Start int64 // first sample of the tone
	End   int64 // first sample after the tone
}

// DurationMs is the length of the key press in milliseconds.
func (e DigitEvent) DurationMs() int64 { return (e.End - e.Start) * 1000 / SampleRate }
