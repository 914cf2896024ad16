package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/multi"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/pcap"
)

func init() {
	register("decode", "print the alarm messages in a recording (Contact ID, BS 8521, TT92; WAV, raw G.711, pcap)", runDecode)
}

// The JSON lines of `edgebridge decode` (a stable interface: README) are
// owned by the protocol packages; these are the names this command's tests
// read them by.
type (
	contactIDLine = contactid.Line
	tt92Line      = tt92.Line
)

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
	note := func(s string) { fmt.Fprintf(stderr, "decode: %s\n", s) }
	var lines []multi.Decoded
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
		lines = multi.DecodeDigits(digits, "tt92", note)
	} else {
		digits, err := rec.InbandDigits()
		if err != nil {
			fmt.Fprintf(stderr, "decode: %v\n", err)
			return 1
		}
		lines = multi.DecodeDigits(contactid.MergeOutOfBand(digits, rec.RFC4733()), *proto, note)
	}
	enc := json.NewEncoder(stdout)
	n := 0
	for _, l := range lines {
		if err := enc.Encode(l.Line); err != nil {
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
