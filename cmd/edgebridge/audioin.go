package main

import (
	"fmt"
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
		offs[i] = int64(st.Start.Sub(t0)) * dsp.SampleRate / int64(time.Second)
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
