package hal

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"

	"github.com/edgebridge/edgebridge/dsp/audiofile"
)

// The simulated line plays and records audio files through dsp/audiofile:
// WAV (16-bit PCM, A-law or µ-law, mono 8 kHz) or raw .alaw/.ulaw in, 16-bit
// WAV out.

// openWAVReader reads path whole and returns its PCM as the line's byte
// stream (16-bit little-endian).
func openWAVReader(path string) (io.ReadCloser, error) {
	pcm, _, err := audiofile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// wavWriter collects the gateway's side of a call and writes it as a WAV
// file on Close.
type wavWriter struct {
	f   *os.File
	buf []byte
}

func createWAV(path string) (*wavWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &wavWriter{f: f}, nil
}

func (w *wavWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *wavWriter) Close() error {
	pcm := make([]int16, len(w.buf)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(w.buf[2*i:]))
	}
	err := audiofile.WriteWAV(w.f, pcm, audiofile.PCM16)
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
