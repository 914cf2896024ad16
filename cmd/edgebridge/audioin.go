package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/engine/pcap"
)

// recording is a recording opened for the dtmf and decode commands: 8 kHz
// linear PCM read in fixed-size chunks (so hours of audio take the memory
// of seconds), plus the digits that travelled out of band (RFC 4733 events
// in a capture), on the same sample time line.
type recording struct {
	f      *os.File
	src    interface{ Read([]int16) (int, error) }
	mix    *pcap.Mixer // a capture's, for its RFC 4733 events
	format string      // "wav/pcm16", "wav/alaw", "raw/ulaw", "pcap/pcma", ...
}

// openAudio opens any audio file edgebridge accepts: WAV (16-bit PCM,
// A-law, µ-law; mono; 8 kHz), raw .alaw/.ulaw, and .pcap/.pcapng with one
// RTP stream of G.711 (with or without RFC 4733 events). A capture of both
// directions of a call is mixed into one recording, as a call recorder
// would hear it, so that digits are found whichever side sent them. Errors
// name the file and what is wrong with it.
func openAudio(path string) (*recording, error) {
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

func openRecording(path string, f *os.File) (*recording, error) {
	var head [4]byte
	n, err := f.ReadAt(head[:], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if pcap.IsCapture(head[:n]) {
		m, err := pcap.NewMixer(f)
		if err != nil {
			return nil, err
		}
		rec := &recording{f: f, src: m, mix: m, format: "pcap/pcmu"}
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
	return &recording{f: f, src: r, format: kind + r.Encoding().String()}, nil
}

func (r *recording) Close() error { return r.f.Close() }

// frame is what the detectors are fed at a time: 20 ms, as the engine
// feeds them during a call.
const frame = 160

// frames calls fn with each frame of the recording in order (the last one
// may be shorter). Errors name the file.
func (r *recording) frames(fn func([]int16)) error {
	buf := make([]int16, 64*frame)
	for {
		n, err := r.src.Read(buf)
		for i := 0; i < n; i += frame {
			fn(buf[i:min(i+frame, n)])
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", r.f.Name(), err)
		}
	}
}

// inbandDigits runs the DTMF detector over the whole recording.
func (r *recording) inbandDigits() ([]dsp.DigitEvent, error) {
	var digits []dsp.DigitEvent
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	emit := func(e dsp.DigitEvent) { digits = append(digits, e) }
	if err := r.frames(func(f []int16) { det.Process(f, emit) }); err != nil {
		return nil, err
	}
	det.Flush(emit)
	return digits, nil
}

// rfc4733 are the digits sent as RFC 4733 events, in order of start;
// complete once frames has read the recording to its end.
func (r *recording) rfc4733() []dsp.DigitEvent {
	if r.mix == nil {
		return nil
	}
	return r.mix.Events()
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
