package bs8521

import (
	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

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

// Line is one line of `edgebridge decode` for BS 8521.
type Line struct {
	Protocol    string `json:"protocol"`
	Controller  string `json:"controller"`
	Unit        string `json:"unit"`
	Event       string `json:"event"`
	Location    string `json:"location"`
	Priority    string `json:"priority"`
	Status      string `json:"status"`
	SystemType  string `json:"systemType"`
	SpeechMode  string `json:"speechMode"`
	Conformance string `json:"conformance"`
	Raw         string `json:"raw"`
	Valid       bool   `json:"valid"`
	AtMs        int64  `json:"at_ms"`
	Error       string `json:"error,omitempty"`
}

// Lines assembles digits into messages as DecodeDigits does (default
// timing) and returns every 26-key message, valid or not, as a Line; each
// burst of another length is told to note (when not nil) instead.
func Lines(digits []dsp.DigitEvent, note func(string)) []Line {
	var out []Line
	of := func(d Decoded) (string, int64) { return d.Keys, d.Start }
	alarm.FixedLengthBursts(DecodeDigits(digits, 0), of, MessageKeys, "BS 8521 message", note, func(d Decoded, at int64) {
		l := Line{Protocol: "bs8521", Controller: d.Controller, Unit: d.Unit, Event: d.Event, Location: d.Location,
			Priority: d.Priority, Status: d.Status, SystemType: d.SystemType, SpeechMode: d.SpeechMode, Conformance: d.Conformance,
			Raw: d.Keys, Valid: d.Err == nil, AtMs: at}
		if d.Err != nil {
			l.Error = d.Err.Error()
		}
		out = append(out, l)
	})
	return out
}
