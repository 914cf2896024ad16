package multi

import (
	"slices"

	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/dsp"
)

// BurstGap is the longest pause inside one burst of keys: a longer one
// ends the burst (every protocol here sends a message as one burst).
const BurstGap = 400 * dsp.SampleRate / 1000

// Bursts are the digits of one recording, sorted by the protocol each
// burst's length fits.
type Bursts struct {
	ContactID, BS8521, TT92 []dsp.DigitEvent
}

// SplitBursts splits digits (in order of start) into bursts at pauses
// longer than BurstGap and gives each burst to the protocol its length
// fits: 22-24 keys opening "D#" to TT92 (a frame is 24 keys; a key or two
// may be lost), any other burst of 20 keys or more to BS 8521 (26 keys),
// the rest to Contact ID (16 digits, or a damaged 14-18).
func SplitBursts(digits []dsp.DigitEvent) Bursts {
	var b Bursts
	for i := 0; i < len(digits); {
		j := i + 1
		for j < len(digits) && digits[j].Start-digits[j-1].End <= BurstGap {
			j++
		}
		switch n := j - i; {
		case n >= 22 && n <= 24 && digits[i].Key == 'D' && digits[i+1].Key == '#':
			b.TT92 = append(b.TT92, digits[i:j]...)
		case n >= 20:
			b.BS8521 = append(b.BS8521, digits[i:j]...)
		default:
			b.ContactID = append(b.ContactID, digits[i:j]...)
		}
		i = j
	}
	return b
}

// Decoded is one message of a recording, of any protocol.
type Decoded struct {
	AtMs int64 // the message's first key, from the start of the recording
	Line any   // a contactid.Line, bs8521.Line or tt92.Line
}

// DecodeDigits decodes the digits of a recording as protocol ("contactid",
// "bs8521", "tt92"; anything else, as "auto": each burst as SplitBursts
// sorts it) and returns the messages in order of time. Bursts that make no
// message are told to note (when not nil), Contact ID's first, then BS
// 8521's, then TT92's.
func DecodeDigits(digits []dsp.DigitEvent, protocol string, note func(string)) []Decoded {
	var b Bursts
	switch protocol {
	case "contactid":
		b.ContactID = digits
	case "bs8521":
		b.BS8521 = digits
	case "tt92":
		b.TT92 = digits
	default:
		b = SplitBursts(digits)
	}
	var out []Decoded
	for _, l := range contactid.Lines(b.ContactID, note) {
		out = append(out, Decoded{l.AtMs, l})
	}
	for _, l := range bs8521.Lines(b.BS8521, note) {
		out = append(out, Decoded{l.AtMs, l})
	}
	for _, l := range tt92.Lines(b.TT92, note) {
		out = append(out, Decoded{l.AtMs, l})
	}
	slices.SortStableFunc(out, func(x, y Decoded) int { return int(x.AtMs - y.AtMs) })
	return out
}
