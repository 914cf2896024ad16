package tt92

import (
	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

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

// Line is one line of `edgebridge decode` for TT92/TTnew. Valid means well
// formed: the proprietary checksum cannot be checked (ChecksumChecked
// false), so a frame is only as good as a second identical reading.
type Line struct {
	Protocol        string `json:"protocol"`
	Identity        string `json:"identity"`
	Type            string `json:"type"`
	Generic         string `json:"generic"`
	CallCode        string `json:"callCode"`
	Raw             string `json:"raw"`
	Valid           bool   `json:"valid"`
	ChecksumChecked bool   `json:"checksumChecked"`
	AtMs            int64  `json:"at_ms"`
	Error           string `json:"error,omitempty"`
}

// Lines splits digits into bursts as DecodeDigits does (default timing) and
// returns every 24-key burst, well formed or not, as a Line; each burst of
// another length is told to note (when not nil) instead.
func Lines(digits []dsp.DigitEvent, note func(string)) []Line {
	var out []Line
	of := func(d Decoded) (string, int64) { return d.Keys, d.Start }
	alarm.FixedLengthBursts(DecodeDigits(digits, 0), of, FrameKeys, "TT92 frame", note, func(d Decoded, at int64) {
		l := Line{Protocol: "tt92", Identity: d.Identity, Type: d.Type, Generic: d.Generic, CallCode: d.CallCode,
			Raw: d.Keys, Valid: d.Err == nil, AtMs: at}
		if d.Err != nil {
			l.Error = d.Err.Error()
		}
		out = append(out, l)
	})
	return out
}
