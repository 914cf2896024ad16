package main

import (
	"fmt"
	"os"

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
// RTP stream of G.711 (with or without RFC 4733 events). Errors name the
// file and what is wrong with it.
func loadAudio(path string) (audio, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return audio{}, err // *PathError names the file
	}
	if pcap.IsCapture(data) {
		st, err := pcap.ReadRTP(data)
		if err != nil {
			return audio{}, fmt.Errorf("%s: %w", path, err)
		}
		f := "pcap/pcmu"
		if st.PayloadType == 8 {
			f = "pcap/pcma"
		}
		return audio{pcm: st.PCM, rfc4733: st.Events, format: f}, nil
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
