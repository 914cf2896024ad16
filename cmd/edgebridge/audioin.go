package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// The recording that dtmf and decode read is a pcap.Recording
// (pcap.OpenRecording: WAV, raw G.711 or a capture); here are their flags.

// inFlag registers --in, the recording that dtmf and decode read.
func inFlag(fs *flag.FlagSet) *string {
	return fs.String("in", "", "recording: .wav (PCM16, A-law, µ-law; mono 8 kHz), .alaw, .ulaw, .pcap or .pcapng with one G.711 RTP stream")
}

// parseWithIn parses args for a command that reads one recording: it
// returns -1 to go on, else the exit code (0 for -h, 2 for bad flags or a
// missing --in).
func parseWithIn(fs *flag.FlagSet, args []string, in *string, stderr io.Writer) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *in == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: --in FILE is required and takes no other arguments\n", fs.Name())
		fs.Usage()
		return 2
	}
	return -1
}
