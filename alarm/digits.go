package alarm

import "github.com/edgebridge/edgebridge/dsp"

// DigitDedup drops a key heard twice: a receiver detects in band while the
// Channel may also deliver the same press out of band (RFC 4733, or the
// engine's own in-band detector), in either order and a little apart in
// time. It allocates nothing.
type DigitDedup struct {
	recent [4]dsp.DigitEvent
	n      int
}

// dedupSlack is how far apart two reports of one press may lie (20 ms).
const dedupSlack = FrameSamples

// Seen reports whether ev is a press already taken; otherwise it records
// ev and returns false.
func (d *DigitDedup) Seen(ev dsp.DigitEvent) bool {
	for i := range min(d.n, len(d.recent)) {
		r := d.recent[i]
		if r.Key == ev.Key && ev.Start < r.End+dedupSlack && ev.End > r.Start-dedupSlack {
			return true
		}
	}
	d.recent[d.n%len(d.recent)] = ev
	d.n++
	return false
}
