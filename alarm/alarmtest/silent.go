package alarmtest

import (
	"io"

	"github.com/edgebridge/edgebridge/dsp"
)

// Silent is a Channel that hears silence for Frames frames and then reports
// a hangup, allocating nothing: a receiver's own allocations per frame can
// be measured over it.
type Silent struct {
	Frames  int
	Read    int // frames read so far
	Written int
}

// ReadFrame clears pcm, or returns io.EOF once Frames were read.
func (s *Silent) ReadFrame(pcm []int16) error {
	if s.Read >= s.Frames {
		return io.EOF
	}
	s.Read++
	clear(pcm)
	return nil
}

// WriteFrame counts the frame.
func (s *Silent) WriteFrame([]int16) error { s.Written++; return nil }

// Digits is nil: no out-of-band digits.
func (s *Silent) Digits() <-chan dsp.DigitEvent { return nil }

// SendDigit does nothing.
func (s *Silent) SendDigit(byte, int) error { return nil }

// Hangup does nothing.
func (s *Silent) Hangup() error { return nil }
