package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/engine/pcap"
)

// audio is a recording loaded for the dtmf and decode commands: 8 kHz
// linear PCM plus the digits that travelled out of band (RFC 4733 events
// in a capture), on the same sample time line.
type audio struct {
	pcm     []int16
	rfc4733 []dsp.DigitEvent
	format  string // "wav/pcm16", "wav/alaw", "raw/ulaw", "pcap/pcma", ...
}

// loadAudio reads any audio file edgebridge accepts: WAV (16-bit PCM,
// A-law, µ-law; mono; 8 kHz), raw .alaw/.ulaw, and .pcap/.pcapng with one
// RTP stream of G.711 (with or without RFC 4733 events). A capture of both
// directions of a call is mixed into one recording, as a call recorder
// would hear it, so that digits are found whichever side sent them. Errors
// name the file and what is wrong with it.
func loadAudio(path string) (audio, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return audio{}, err // *PathError names the file
	}
	if pcap.IsCapture(data) {
		a, err := captureAudio(data)
		if err != nil {
			return audio{}, fmt.Errorf("%s: %w", path, err)
		}
		return a, nil
	}
	pcm, enc, err := audiofile.Parse(path, data)
	if err != nil {
		return audio{}, fmt.Errorf("%s: %w", path, err)
	}
	kind := "raw/"
	if audiofile.IsWAV(data) {
		kind = "wav/"
	}
	return audio{pcm: pcm, format: kind + enc.String()}, nil
}

// captureAudio puts every G.711 stream of a capture on one time line (by
// capture time) and mixes them.
func captureAudio(data []byte) (audio, error) {
	streams, err := pcap.ReadStreams(data)
	if err != nil {
		return audio{}, err
	}
	t0 := streams[0].Start
	for _, st := range streams[1:] {
		if st.Start.Before(t0) {
			t0 = st.Start
		}
	}
	offs := make([]int64, len(streams))
	var total int64
	for i, st := range streams {
		// Divided, not multiplied first: streams weeks apart would overflow.
		offs[i] = int64(st.Start.Sub(t0) / (time.Second / dsp.SampleRate))
		total = max(total, offs[i]+int64(len(st.PCM)))
	}
	if total > pcap.MaxStreamSamples {
		return audio{}, fmt.Errorf("pcap: %d streams span %d samples, more than %d (4 h)", len(streams), total, pcap.MaxStreamSamples)
	}
	a := audio{pcm: make([]int16, total), format: "pcap/pcmu"}
	for i, st := range streams {
		if st.PayloadType == 8 {
			a.format = "pcap/pcma"
		}
		dst := a.pcm[offs[i]:]
		for j, s := range st.PCM {
			dst[j] = int16(max(-32768, min(32767, int32(dst[j])+int32(s))))
		}
		for _, e := range st.Events {
			e.Start += offs[i]
			e.End += offs[i]
			a.rfc4733 = append(a.rfc4733, e)
		}
	}
	sort.Slice(a.rfc4733, func(i, j int) bool { return a.rfc4733[i].Start < a.rfc4733[j].Start })
	if len(streams) > 1 {
		a.format += fmt.Sprintf(" (%d streams mixed)", len(streams))
	}
	return a, nil
}

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
