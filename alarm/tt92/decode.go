package tt92

import "github.com/edgebridge/edgebridge/dsp"

// Decoded is one frame found in a recording.
type Decoded struct {
	Frame        // fields, when the keys have the form of a frame
	Keys  string // as heard
	Start int64  // first sample of the first key
	End   int64
	Err   error // nil for a well-formed frame (the checksum is not checked)
}

// DecodeDigits splits the unit's keys (in order of start) into bursts, a
// pause longer than interDigit samples (0: 400 ms) ending one; each burst
// is parsed as a frame. A burst of the wrong length comes back with Err set.
func DecodeDigits(digits []dsp.DigitEvent, interDigit int64) []Decoded {
	if interDigit == 0 {
		interDigit = 400 * dsp.SampleRate / 1000
	}
	var out []Decoded
	for i := 0; i < len(digits); {
		j := i + 1
		for j < len(digits) && digits[j].Start-digits[j-1].End <= interDigit {
			j++
		}
		keys := make([]byte, 0, j-i)
		for _, d := range digits[i:j] {
			keys = append(keys, d.Key)
		}
		d := Decoded{Keys: string(keys), Start: digits[i].Start, End: digits[j-1].End}
		d.Frame, d.Err = Parse(d.Keys)
		out = append(out, d)
		i = j
	}
	return out
}
