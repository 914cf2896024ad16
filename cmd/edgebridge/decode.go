package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/pcap"
)

func init() {
	register("decode", "print the alarm messages in a recording (Contact ID, BS 8521, TT92; WAV, raw G.711, pcap)", runDecode)
}

// contactIDLine is one line of `edgebridge decode` for Contact ID
// (a stable interface: README): raw in the hex digits 0-9, B-F of SIA DC-05.
type contactIDLine struct {
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

// bs8521Line is one line of `edgebridge decode` for BS 8521.
type bs8521Line struct {
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

// tt92Line is one line of `edgebridge decode` for TT92/TTnew. valid means
// well formed: the proprietary checksum cannot be checked (checksumChecked
// false), so a frame is only as good as a second identical reading.
type tt92Line struct {
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

// decoders are the protocols decode knows.
// ttnew sends the same frame as tt92 (only prompt and acknowledge differ).
var decoders = []string{"contactid", "bs8521", "tt92", "ttnew"}

func runDecode(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	proto := fs.String("protocol", "auto", "alarm protocol: "+strings.Join(decoders, "|")+"|auto")
	mode := fs.String("mode", "dtmf", "signalling mode: dtmf|sdmf (sdmf applies to tt92 and ttnew)")
	in := inFlag(fs)
	if code := parseWithIn(fs, args, in, stderr); code >= 0 {
		return code
	}
	switch *proto {
	case "auto", "contactid", "bs8521", "tt92":
	case "ttnew":
		*proto = "tt92"
	default:
		fmt.Fprintf(stderr, "decode: --protocol %q: must be one of %s, auto\n", *proto, strings.Join(decoders, ", "))
		return 2
	}
	if *mode != "dtmf" && *mode != "sdmf" {
		fmt.Fprintf(stderr, "decode: --mode %q: must be dtmf or sdmf\n", *mode)
		return 2
	}
	if *mode == "sdmf" && *proto != "tt92" && *proto != "auto" {
		fmt.Fprintf(stderr, "decode: --mode sdmf applies to tt92 only, not %s\n", *proto)
		return 2
	}
	rec, err := pcap.OpenRecording(*in)
	if err != nil {
		fmt.Fprintf(stderr, "decode: %v\n", err)
		return 1
	}
	defer rec.Close()
	var lines []line
	if *mode == "sdmf" {
		// TT92 in single tones (STMF): the only protocol sent that way.
		det, err := tt92.NewStmfDetector()
		if err != nil {
			fmt.Fprintf(stderr, "decode: %v\n", err)
			return 1
		}
		var digits []dsp.DigitEvent
		emit := func(ev dsp.DigitEvent) { digits = append(digits, ev) }
		if err := rec.Frames(func(f []int16) { det.Process(f, emit) }); err != nil {
			fmt.Fprintf(stderr, "decode: %v\n", err)
			return 1
		}
		det.Flush(emit)
		for _, l := range tt92Lines(digits, stderr) {
			lines = append(lines, line{l.AtMs, l})
		}
	} else {
		digits, err := rec.InbandDigits()
		if err != nil {
			fmt.Fprintf(stderr, "decode: %v\n", err)
			return 1
		}
		lines = decodeLines(contactid.MergeOutOfBand(digits, rec.RFC4733()), *proto, stderr)
	}
	enc := json.NewEncoder(stdout)
	n := 0
	for _, l := range lines {
		if err := enc.Encode(l.v); err != nil {
			fmt.Fprintf(stderr, "decode: %v\n", err)
			return 1
		}
		n++
	}
	if n == 0 {
		fmt.Fprintf(stderr, "decode: no alarm message found in %s (%s)\n", *in, rec.Format())
	}
	return 0
}

type line struct {
	at int64
	v  any
}

// decodeLines decodes the digits of a recording as proto. For auto, the
// digits are split into bursts at pauses and each burst goes to the
// protocol its length fits: 26 keys BS 8521, 16 (or a damaged 14-18)
// Contact ID.
func decodeLines(digits []dsp.DigitEvent, proto string, notes io.Writer) []line {
	var cid, bs, tt []dsp.DigitEvent
	switch proto {
	case "contactid":
		cid = digits
	case "bs8521":
		bs = digits
	case "tt92":
		tt = digits
	default:
		const gap = 400 * dsp.SampleRate / 1000
		for i := 0; i < len(digits); {
			j := i + 1
			for j < len(digits) && digits[j].Start-digits[j-1].End <= gap {
				j++
			}
			switch {
			case j-i >= 22 && j-i <= 24 && digits[i].Key == 'D' && digits[i+1].Key == '#':
				tt = append(tt, digits[i:j]...)
			case j-i >= 20:
				bs = append(bs, digits[i:j]...)
			default:
				cid = append(cid, digits[i:j]...)
			}
			i = j
		}
	}
	var out []line
	for _, l := range contactIDLines(cid, notes) {
		out = append(out, line{l.AtMs, l})
	}
	for _, l := range bs8521Lines(bs, notes) {
		out = append(out, line{l.AtMs, l})
	}
	for _, l := range tt92Lines(tt, notes) {
		out = append(out, line{l.AtMs, l})
	}
	slices.SortStableFunc(out, func(x, y line) int { return int(x.at - y.at) })
	return out
}

func ms(s int64) int64 { return s * 1000 / dsp.SampleRate }

// tt92Lines: bursts of keys split at pauses; 24-key bursts become lines.
func tt92Lines(digits []dsp.DigitEvent, notes io.Writer) []tt92Line {
	var out []tt92Line
	for _, d := range tt92.DecodeDigits(digits, 0) {
		if len(d.Keys) != tt92.FrameKeys {
			fmt.Fprintf(notes, "decode: %d keys at %d ms (%q) make no TT92 frame\n", len(d.Keys), ms(d.Start), d.Keys)
			continue
		}
		l := tt92Line{Protocol: "tt92", Identity: d.Identity, Type: d.Type, Generic: d.Generic, CallCode: d.CallCode,
			Raw: d.Keys, Valid: d.Err == nil, AtMs: ms(d.Start)}
		if d.Err != nil {
			l.Error = d.Err.Error()
		}
		out = append(out, l)
	}
	return out
}

// bs8521Lines: 26-key bursts become lines, valid or not; others are notes.
func bs8521Lines(digits []dsp.DigitEvent, notes io.Writer) []bs8521Line {
	var out []bs8521Line
	for _, d := range bs8521.DecodeDigits(digits, 0) {
		if len(d.Keys) != bs8521.MessageKeys {
			fmt.Fprintf(notes, "decode: %d keys at %d ms (%q) make no BS 8521 message\n", len(d.Keys), ms(d.Start), d.Keys)
			continue
		}
		l := bs8521Line{Protocol: "bs8521", Controller: d.Controller, Unit: d.Unit, Event: d.Event, Location: d.Location,
			Priority: d.Priority, Status: d.Status, SystemType: d.SystemType, SpeechMode: d.SpeechMode, Conformance: d.Conformance,
			Raw: d.Keys, Valid: d.Err == nil, AtMs: ms(d.Start)}
		if d.Err != nil {
			l.Error = d.Err.Error()
		}
		out = append(out, l)
	}
	return out
}

// contactIDLines assembles Contact ID messages; partial messages go to
// notes, every 16-digit message (valid or not) to the result.
func contactIDLines(digits []dsp.DigitEvent, notes io.Writer) []contactIDLine {
	var out []contactIDLine
	for _, d := range contactid.DecodeDigits(digits, contactid.DecodeConfig{}) {
		if len(d.Keys) != contactid.MessageDigits {
			fmt.Fprintf(notes, "decode: %d digits at %d ms (%q) make no message: %v\n", len(d.Keys), ms(d.Start), d.Keys, d.Err)
			continue
		}
		l := contactIDLine{
			Protocol: "contactid", Account: d.Account, Qualifier: d.Qualifier, Code: d.Code,
			Group: d.Group, Zone: d.Zone, Raw: d.Raw, Valid: d.Err == nil, AtMs: ms(d.Start), Rebuilt: d.Rebuilt,
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
		if h, ok := contactid.HexFromKey(b[i]); ok {
			b[i] = h
		} else {
			b[i] = '?'
		}
	}
	return string(b)
}
