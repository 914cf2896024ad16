package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/pcap"
)

func init() {
	register("dtmf", "print the DTMF digits heard in a recording (WAV, raw G.711, pcap)", runDTMF)
}

// dtmfLine is one line of `edgebridge dtmf` output (a stable interface: README).
type dtmfLine struct {
	Digit   string `json:"digit"`
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms"`
	Source  string `json:"source,omitempty"`
}

func runDTMF(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dtmf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := inFlag(fs)
	if code := parseWithIn(fs, args, in, stderr); code >= 0 {
		return code
	}
	rec, err := pcap.OpenRecording(*in)
	if err != nil {
		fmt.Fprintf(stderr, "dtmf: %v\n", err)
		return 1
	}
	defer rec.Close()
	lines, err := dtmfLines(rec)
	if err != nil {
		fmt.Fprintf(stderr, "dtmf: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			fmt.Fprintf(stderr, "dtmf: %v\n", err)
			return 1
		}
	}
	return 0
}

// dtmfLines runs the detector over the recording and merges its digits with
// the RFC 4733 ones, in order of start.
func dtmfLines(rec *pcap.Recording) ([]dtmfLine, error) {
	inband, err := rec.InbandDigits()
	if err != nil {
		return nil, err
	}
	oob := rec.RFC4733()
	out := make([]dtmfLine, 0, len(inband)+len(oob))
	i, j := 0, 0
	for i < len(inband) || j < len(oob) {
		if j == len(oob) || (i < len(inband) && inband[i].Start <= oob[j].Start) {
			e := inband[i]
			out = append(out, dtmfLine{Digit: string(e.Key), StartMs: ms(e.Start), EndMs: ms(e.End)})
			i++
		} else {
			e := oob[j]
			out = append(out, dtmfLine{Digit: string(e.Key), StartMs: ms(e.Start), EndMs: ms(e.End), Source: "rfc4733"})
			j++
		}
	}
	return out, nil
}

// ms turns a sample count into milliseconds.
func ms(s int64) int64 { return s * 1000 / dsp.SampleRate }
