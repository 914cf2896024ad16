package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/dsp"
)

func init() {
	register("decode", "print the alarm messages in a recording (Contact ID; WAV, raw G.711, pcap)", runDecode)
}

// contactIDLine is one line of `edgebridge decode` for Contact ID
// (DESIGN.md, stable): raw in the hex digits 0-9, B-F of SIA DC-05.
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

// decoders are the protocols decode knows, in the order auto tries them.
var decoders = []string{"contactid"}

func runDecode(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	proto := fs.String("protocol", "auto", "alarm protocol: "+strings.Join(decoders, "|")+"|auto")
	mode := fs.String("mode", "dtmf", "signalling mode: dtmf|sdmf (sdmf applies to tt92)")
	in := fs.String("in", "", "recording: .wav (PCM16, A-law, µ-law; mono 8 kHz), .alaw, .ulaw, .pcap or .pcapng with one G.711 RTP stream")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *in == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "decode: --in FILE is required and takes no other arguments")
		fs.Usage()
		return 2
	}
	switch *proto {
	case "auto", "contactid":
	case "bs8521", "tt92":
		fmt.Fprintf(stderr, "decode: --protocol %s is not implemented yet; use contactid or auto\n", *proto)
		return 2
	default:
		fmt.Fprintf(stderr, "decode: --protocol %q: must be one of %s, auto\n", *proto, strings.Join(decoders, ", "))
		return 2
	}
	if *mode != "dtmf" && *mode != "sdmf" {
		fmt.Fprintf(stderr, "decode: --mode %q: must be dtmf or sdmf\n", *mode)
		return 2
	}
	if *mode == "sdmf" && *proto == "contactid" {
		fmt.Fprintln(stderr, "decode: --mode sdmf: Contact ID is DTMF only")
		return 2
	}
	a, err := loadAudio(*in)
	if err != nil {
		fmt.Fprintf(stderr, "decode: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	n := 0
	if *mode == "dtmf" {
		for _, l := range contactIDLines(a, stderr) {
			if err := enc.Encode(l); err != nil {
				fmt.Fprintf(stderr, "decode: %v\n", err)
				return 1
			}
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(stderr, "decode: no alarm message found in %s (%s)\n", *in, a.format)
	}
	return 0
}

// contactIDLines decodes the recording; partial messages go to stderr as
// notes, every 16-digit message (valid or not) to the result.
func contactIDLines(a audio, notes io.Writer) []contactIDLine {
	ms := func(s int64) int64 { return s * 1000 / dsp.SampleRate }
	var out []contactIDLine
	for _, d := range contactid.Decode(a.pcm, a.rfc4733, contactid.DecodeConfig{}) {
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
