package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/edgebridge/edgebridge/dsp"
)

func init() {
	register("dtmf", "print the DTMF digits heard in a recording (WAV, raw G.711, pcap)", runDTMF)
}

// dtmfLine is one line of `edgebridge dtmf` output (DESIGN.md, stable).
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
	a, err := loadAudio(*in)
	if err != nil {
		fmt.Fprintf(stderr, "dtmf: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	for _, l := range dtmfLines(a) {
		if err := enc.Encode(l); err != nil {
			fmt.Fprintf(stderr, "dtmf: %v\n", err)
			return 1
		}
	}
	return 0
}

// dtmfLines runs the detector over the recording and merges its digits with
// the RFC 4733 ones, in order of start.
func dtmfLines(a audio) []dtmfLine {
	var inband []dsp.DigitEvent
	d := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	emit := func(e dsp.DigitEvent) { inband = append(inband, e) }
	const frame = 160 // 20 ms, as the engine feeds it
	for i := 0; i < len(a.pcm); i += frame {
		d.Process(a.pcm[i:min(i+frame, len(a.pcm))], emit)
	}
	d.Flush(emit)
	ms := func(s int64) int64 { return s * 1000 / dsp.SampleRate }
	out := make([]dtmfLine, 0, len(inband)+len(a.rfc4733))
	i, j := 0, 0
	for i < len(inband) || j < len(a.rfc4733) {
		if j == len(a.rfc4733) || (i < len(inband) && inband[i].Start <= a.rfc4733[j].Start) {
			e := inband[i]
			out = append(out, dtmfLine{Digit: string(e.Key), StartMs: ms(e.Start), EndMs: ms(e.End)})
			i++
		} else {
			e := a.rfc4733[j]
			out = append(out, dtmfLine{Digit: string(e.Key), StartMs: ms(e.Start), EndMs: ms(e.End), Source: "rfc4733"})
			j++
		}
	}
	return out
}
