package dsp

// Cadence is an on/off pattern of one tone: busy (400 Hz or 425 Hz,
// 375 ms on, 375 ms off in many countries), congestion, ringback (425 Hz
// 1 s on, 4 s off). Patterns differ by country, so they are data.
type Cadence struct {
	Name         string
	OnMs, OffMs  int
	TolerancePct int // accepted error of each duration; default 20
	Cycles       int // on/off cycles in a row to recognise it; default 2
}

// CadenceDetector recognises a Cadence from the ToneEvents of one tone of
// a ToneDetector (give it the tone's On-false events, or all of them).
type CadenceDetector struct {
	c       Cadence
	tone    int
	lastEnd int64 // end of the previous tone, −1 before the first
	cycles  int
}

// NewCadenceDetector watches tone (a ToneSpec index) for c.
func NewCadenceDetector(tone int, c Cadence) *CadenceDetector {
	if c.TolerancePct == 0 {
		c.TolerancePct = 20
	}
	if c.Cycles == 0 {
		c.Cycles = 2
	}
	return &CadenceDetector{c: c, tone: tone, lastEnd: -1}
}

// Reset forgets the cycles heard so far.
func (d *CadenceDetector) Reset() { d.lastEnd, d.cycles = -1, 0 }

func (d *CadenceDetector) within(samples int64, ms int) bool {
	want := int64(ms) * SampleRate / 1000
	tol := want * int64(d.c.TolerancePct) / 100
	return samples >= want-tol && samples <= want+tol
}

// Feed takes one event and reports whether the cadence has now been heard
// Cycles times in a row (it keeps reporting true on each further matching
// cycle). Events of other tones and tone-start events are ignored.
func (d *CadenceDetector) Feed(e ToneEvent) bool {
	if e.Tone != d.tone || e.On {
		return false
	}
	onOK := d.within(e.End-e.Start, d.c.OnMs)
	switch {
	case !onOK:
		d.cycles = 0
	case d.lastEnd < 0 || d.cycles == 0:
		d.cycles = 1
	case d.within(e.Start-d.lastEnd, d.c.OffMs):
		d.cycles++
	default:
		d.cycles = 1
	}
	d.lastEnd = e.End
	return d.cycles >= d.c.Cycles
}
