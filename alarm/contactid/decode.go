package contactid

import (
	"errors"
	"fmt"
	"slices"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

// Decoded is one message found in a recording.
type Decoded struct {
	Message        // fields; Raw is "" when a key carries no hex digit
	Keys    string // the DTMF keys as heard
	Start   int64  // first sample of the first digit
	End     int64  // first sample after the last digit
	Err     error  // nil for a valid message (ErrChecksum, ErrMessageType, ErrFormat)
	Rebuilt bool   // split from merged digits or rebuilt from repeats (see Collector, Reassembler)
}

// DecodeConfig tunes Decode; zero fields take the receiver's defaults.
type DecodeConfig struct {
	DTMF              dsp.DTMFConfig
	InterDigitSamples int64 // [400 ms]
}

// Decode finds the Contact ID messages in a recording of the panel's side
// of a call: in-band digits from pcm, merged with out-of-band digits (RFC
// 4733 events on the same sample time line), assembled as the receiver
// does. Partial messages are returned with ErrFormat unless they can be
// repaired; every 16-digit message is returned, valid or not.
func Decode(pcm []int16, oob []dsp.DigitEvent, cfg DecodeConfig) []Decoded {
	return DecodeDigits(Digits(pcm, oob, cfg.DTMF), cfg)
}

// Digits detects the in-band digits of pcm and merges them with the
// out-of-band ones, in order of start; the same key heard both ways counts
// once.
func Digits(pcm []int16, oob []dsp.DigitEvent, cfg dsp.DTMFConfig) []dsp.DigitEvent {
	var digits []dsp.DigitEvent
	det := dsp.NewDTMFDetector(cfg)
	emit := func(e dsp.DigitEvent) { digits = append(digits, e) }
	for i := 0; i < len(pcm); i += 160 {
		det.Process(pcm[i:min(i+160, len(pcm))], emit)
	}
	det.Flush(emit)
	return MergeOutOfBand(digits, oob)
}

// MergeOutOfBand adds the out-of-band digits to the in-band ones (both on
// the same sample time line), in order of start; the same key heard both
// ways counts once.
func MergeOutOfBand(digits, oob []dsp.DigitEvent) []dsp.DigitEvent {
	for _, e := range oob {
		dup := false
		for _, d := range digits {
			if d.Key == e.Key && e.Start < d.End+160 && e.End > d.Start-160 {
				dup = true
				break
			}
		}
		if !dup {
			digits = append(digits, e)
		}
	}
	slices.SortStableFunc(digits, func(a, b dsp.DigitEvent) int { return int(a.Start - b.Start) })
	return digits
}

// DecodeDigits assembles digits (in order of start) into messages as the
// receiver does.
func DecodeDigits(digits []dsp.DigitEvent, cfg DecodeConfig) []Decoded {
	if cfg.InterDigitSamples == 0 {
		cfg.InterDigitSamples = alarm.Samples(defaultInterDigit)
	}
	var out []Decoded
	col := NewCollector(cfg.InterDigitSamples)
	var reasm Reassembler
	add := func(keys []byte, start, end int64, rebuilt bool) {
		d := Decoded{Keys: string(keys), Start: start, End: end, Rebuilt: rebuilt}
		m, err := ParseKeys(d.Keys)
		if err == nil {
			err = m.Validate()
		}
		d.Message, d.Err = m, err
		if err == nil {
			reasm.Reset()
		}
		out = append(out, d)
	}
	expire := func(now int64) {
		keys, start, end, expired, done := col.Expire(now)
		switch {
		case done:
			add(keys, start, end, true)
		case expired:
			k := string(keys)
			out = append(out, Decoded{Keys: k, Start: start, End: end, Err: errors.Join(ErrFormat, errPartial(len(k)))})
			if rebuilt, ok := reasm.Add(keys); ok {
				add(rebuilt, start, end, true)
			}
		}
	}
	for _, e := range digits {
		expire(e.Start)
		if keys, start, end, done := col.Add(e); done {
			add(keys, start, end, false)
		}
	}
	expire(1 << 62)
	return out
}

type errPartial int

func (e errPartial) Error() string {
	return "partial message: " + string(rune('0'+int(e)/10)) + string(rune('0'+int(e)%10)) + " of 16 digits"
}

// Line is one line of `edgebridge decode` for Contact ID (a stable
// interface: README): raw in the hex digits 0-9, B-F of SIA DC-05.
type Line struct {
	Protocol  string `json:"protocol"`
	Account   string `json:"account"`
	Qualifier string `json:"qualifier"`
	Code      string `json:"code"`
	Group     string `json:"group"`
	Zone      string `json:"zone"`
	Raw       string `json:"raw"`
	Valid     bool   `json:"valid"`
	AtMs      int64  `json:"at_ms"`
	Error     string `json:"error,omitempty"`
	Rebuilt   bool   `json:"rebuilt,omitempty"`
}

// Lines assembles digits into messages as DecodeDigits does (default
// timing) and returns every 16-digit message, valid or not, as a Line; each
// partial message is told to note (when not nil) instead, in a sentence.
func Lines(digits []dsp.DigitEvent, note func(string)) []Line {
	var out []Line
	for _, d := range DecodeDigits(digits, DecodeConfig{}) {
		at := d.Start * 1000 / dsp.SampleRate
		if len(d.Keys) != MessageDigits {
			if note != nil {
				note(fmt.Sprintf("%d digits at %d ms (%q) make no message: %v", len(d.Keys), at, d.Keys, d.Err))
			}
			continue
		}
		l := Line{
			Protocol: "contactid", Account: d.Account, Qualifier: d.Qualifier, Code: d.Code,
			Group: d.Group, Zone: d.Zone, Raw: d.Raw, Valid: d.Err == nil, AtMs: at, Rebuilt: d.Rebuilt,
		}
		if d.Err != nil {
			l.Error = d.Err.Error()
			if d.Raw == "" {
				l.Raw = hexOrQuery(d.Keys)
			}
		}
		out = append(out, l)
	}
	return out
}

// hexOrQuery writes keys as Contact ID hex, '?' for a key that carries none (D).
func hexOrQuery(keys string) string {
	b := []byte(keys)
	for i := range b {
		if h, ok := HexFromKey(b[i]); ok {
			b[i] = h
		} else {
			b[i] = '?'
		}
	}
	return string(b)
}
