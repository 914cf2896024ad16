package alarm

import (
	"fmt"

	"github.com/edgebridge/edgebridge/dsp"
)

// DigitDedup drops a key heard twice: a receiver detects in band while the
// Channel may also deliver the same press out of band (RFC 4733, or the
// engine's own in-band detector), in either order and a little apart in
// time. Only reports from different sources are compared: one source never
// reports a press twice, and keys that follow each other closely (STMF
// sends them back to back) must all count. It allocates nothing.
type DigitDedup struct {
	recent [4]dsp.DigitEvent
	src    [4]DigitSource
	n      int
}

// DigitSource tells where a digit report came from.
type DigitSource uint8

// Digit sources.
const (
	FromAudio   DigitSource = iota // the receiver's own in-band detector
	FromChannel                    // Channel.Digits (RFC 4733, or the engine's detector)
)

// dedupSlack is how far apart two reports of one press may lie (20 ms).
const dedupSlack = FrameSamples

// Seen reports whether ev, reported by src, is a press already taken from
// the other source; otherwise it records ev and returns false.
func (d *DigitDedup) Seen(ev dsp.DigitEvent, src DigitSource) bool {
	for i := range min(d.n, len(d.recent)) {
		r := d.recent[i]
		if d.src[i] != src && r.Key == ev.Key && ev.Start < r.End+dedupSlack && ev.End > r.Start-dedupSlack {
			return true
		}
	}
	d.recent[d.n%len(d.recent)] = ev
	d.src[d.n%len(d.recent)] = src
	d.n++
	return false
}

// FixedLengthBursts is how decode reads a protocol whose message has a
// fixed number of keys (BS 8521, TT92): of the bursts a recording was split
// into, each of exactly n keys goes to line with its start in ms; each of
// another length is told to note (when not nil), as "K keys at T ms (...)
// make no <what>".
func FixedLengthBursts[B any](bursts []B, of func(B) (keys string, start int64), n int, what string, note func(string), line func(b B, atMs int64)) {
	for _, b := range bursts {
		keys, start := of(b)
		at := start * 1000 / dsp.SampleRate
		if len(keys) != n {
			if note != nil {
				note(fmt.Sprintf("%d keys at %d ms (%q) make no %s", len(keys), at, keys, what))
			}
			continue
		}
		line(b, at)
	}
}
