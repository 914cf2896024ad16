package pcap

import (
	"fmt"
	"io"
	"os"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
)

// Recording is an audio file opened for offline decoding (the dtmf and
// decode commands): 8 kHz linear PCM read in fixed-size chunks (so hours of
// audio take the memory of seconds), plus the digits that travelled out of
// band (RFC 4733 events in a capture), on the same sample time line.
type Recording struct {
	f      *os.File
	src    interface{ Read([]int16) (int, error) }
	mix    *Mixer // a capture's, for its RFC 4733 events
	format string // "wav/pcm16", "wav/alaw", "raw/ulaw", "pcap/pcma", ...
}

// OpenRecording opens any audio file edgebridge accepts: WAV (16-bit PCM,
// A-law, µ-law; mono; 8 kHz), raw .alaw/.ulaw, and .pcap/.pcapng with one
// RTP stream of G.711 (with or without RFC 4733 events). A capture of both
// directions of a call is mixed into one recording, as a call recorder
// would hear it, so that digits are found whichever side sent them. Errors
// name the file and what is wrong with it.
func OpenRecording(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	rec, err := openRecording(path, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}

func openRecording(path string, f *os.File) (*Recording, error) {
	var head [4]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if IsCapture(head[:n]) {
		m, err := NewMixer(f)
		if err != nil {
			return nil, err
		}
		rec := &Recording{f: f, src: m, mix: m, format: "pcap/pcmu"}
		streams := m.Streams()
		for _, st := range streams {
			if st.PayloadType == 8 {
				rec.format = "pcap/pcma"
			}
		}
		if len(streams) > 1 {
			rec.format += fmt.Sprintf(" (%d streams mixed)", len(streams))
		}
		return rec, nil
	}
	r, err := audiofile.NewReader(path, f)
	if err != nil {
		return nil, err
	}
	kind := "raw/"
	if r.IsWAV() {
		kind = "wav/"
	}
	return &Recording{f: f, src: r, format: kind + r.Encoding().String()}, nil
}

// Close closes the file.
func (r *Recording) Close() error { return r.f.Close() }

// Format names the container and encoding ("wav/alaw", "pcap/pcmu (2
// streams mixed)", ...), for messages.
func (r *Recording) Format() string { return r.format }

// recordingFrame is what the detectors are fed at a time: 20 ms, as the
// engine feeds them during a call.
const recordingFrame = 160

// Frames calls fn with each 20 ms frame of the recording in order (the
// last one may be shorter). Errors name the file.
func (r *Recording) Frames(fn func([]int16)) error {
	buf := make([]int16, 64*recordingFrame)
	for {
		n, err := r.src.Read(buf)
		for i := 0; i < n; i += recordingFrame {
			fn(buf[i:min(i+recordingFrame, n)])
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.f.Name(), err)
		}
	}
}

// InbandDigits runs the DTMF detector over the whole recording.
func (r *Recording) InbandDigits() ([]dsp.DigitEvent, error) {
	var digits []dsp.DigitEvent
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	emit := func(e dsp.DigitEvent) { digits = append(digits, e) }
	if err := r.Frames(func(f []int16) { det.Process(f, emit) }); err != nil {
		return nil, err
	}
	det.Flush(emit)
	return digits, nil
}

// RFC4733 are the digits sent as RFC 4733 events, in order of start;
// complete once Frames has read the recording to its end.
func (r *Recording) RFC4733() []dsp.DigitEvent {
	if r.mix == nil {
		return nil
	}
	return r.mix.Events()
}
