// Package dsp is pure signal processing on 8 kHz 16-bit linear PCM: G.711,
// Goertzel filters, DTMF and tone detection and generation, FSK modems and
// level measurement.
//
// Nothing here does I/O, starts goroutines or allocates per frame: callers
// own the buffers and feed frames of any length. Time is counted in samples
// (8000 per second) so that results do not depend on the wall clock.
//
// It imports the standard library and github.com/zaf/g711, nothing of ours
// (dsp/audiofile, the file reader, builds on it). Every other package that
// touches audio does so through it.
//
// # What a DTMF receiver must do
//
// DTMFDetector's defaults meet the receiver requirements of ITU-T Q.24 (the
// AT&T column, as receivers commonly cite it); dtmf_conformance_test.go
// asserts each line:
//
//	frequency error, each tone   accept within ±1.5 %, reject beyond ±3.5 %
//	level per tone               operate from 0 to -25 dBm0; never below -55 dBm0
//	twist                        accept the high group up to 4 dB stronger
//	                             and up to 8 dB weaker than the low group
//	duration                     accept ≥ 40 ms; reject ≤ 23 ms
//	pause between digits         accept ≥ 40 ms; bridge interruptions ≤ 10 ms
//	noise                        detect at S/N ≥ 15 dB
//	talk-off                     a handful of false digits across hours of
//	                             speech (1 per 1500-3000 calls)
//
// The reference it is compared with (make spandsp-bench) is spandsp's
// dtmf_rx: Goertzel over 102-sample blocks, a -42 dBm0 threshold, a relative
// peak test in each group, the two tones carrying nearly all the energy,
// and two agreeing blocks per digit; its tests follow the Mitel CM7291
// structure (16 digits × 10 at -4 dBm0, bandwidth, twist, dynamic range of
// at least 35 dB, guard time, S/N, talk-off). 0 dBm0 is a sine of peak
// about 22 700 in 16-bit linear PCM (G.711 full scale is +3.14 dBm0).
//
// FSK (fsk.go): Bell 202 (mark 1200 Hz, space 2200 Hz) and V.23 (mark
// 1300 Hz, space 2100 Hz), 1200 baud, 8N1; caller-ID style framing: a
// channel seizure of 30 bytes 0x55, 80-180 mark bits, message type (0x04
// SDMF, 0x80 MDMF), length, data, and a checksum that is the two's
// complement of the byte sum mod 256.
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
