package bs8521

import "github.com/edgebridge/edgebridge/dsp"

// Decoded is one message found in a recording.
type Decoded struct {
	Message        // fields, when the keys have the form of a message
	Keys    string // as heard
	Start   int64  // first sample of the first key
	End     int64
	Err     error // nil for a valid message
}

// DecodeDigits assembles the unit's keys (in order of start) into messages:
// a pause longer than interDigit samples ends a burst, and a burst of 26
// keys is a message. The receiver's own keys (data request, acknowledge)
// are not in a recording of the unit's side; a lone long B is skipped.
func DecodeDigits(digits []dsp.DigitEvent, interDigit int64) []Decoded {
	if interDigit == 0 {
		interDigit = 400 * dsp.SampleRate / 1000
	}
	var out []Decoded
	var keys []byte
	var start, end int64
	flush := func() {
		if len(keys) == 0 {
			return
		}
		d := Decoded{Keys: string(keys), Start: start, End: end}
		d.Message, d.Err = Parse(d.Keys)
		if d.Err == nil {
			d.Err = d.Message.Validate()
		}
		out = append(out, d)
		keys = keys[:0]
	}
	for _, e := range digits {
		if len(keys) > 0 && e.Start-end > interDigit {
			flush()
		}
		if e.Key == DataRequestKey && e.End-e.Start >= 400*dsp.SampleRate/1000 {
			continue
		}
		if len(keys) == 0 {
			start = e.Start
		}
		keys = append(keys, e.Key)
		end = e.End
		if len(keys) == MessageKeys {
			flush()
		}
	}
	flush()
	return out
}
