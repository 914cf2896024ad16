package hal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The simulated line reads and writes the one WAV flavour the gateway's
// line carries: 16-bit PCM, mono, 8 kHz. (The full set of formats, A-law,
// µ-law and pcap, is dsp/audiofile's job; the line needs only this.)

// openWAVReader opens path and returns a reader positioned at the PCM data.
func openWAVReader(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, err := wavDataLen(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, n), f}, nil
}

// wavDataLen walks the RIFF chunks up to "data", checking "fmt ".
func wavDataLen(r io.Reader) (int64, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, errors.New("not a WAV file: too short")
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, errors.New("not a WAV file: no RIFF/WAVE header")
	}
	sawFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return 0, errors.New("WAV file has no data chunk")
		}
		size := int64(binary.LittleEndian.Uint32(ch[4:]))
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 64 {
				return 0, fmt.Errorf("WAV fmt chunk of %d bytes", size)
			}
			b := make([]byte, size+size&1)
			if _, err := io.ReadFull(r, b); err != nil {
				return 0, errors.New("WAV fmt chunk truncated")
			}
			format, ch, rate, bits := binary.LittleEndian.Uint16(b[0:]), binary.LittleEndian.Uint16(b[2:]), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint16(b[14:])
			if format != 1 || ch != 1 || rate != 8000 || bits != 16 {
				return 0, fmt.Errorf("WAV must be 16-bit PCM mono 8000 Hz, got format %d, %d channels, %d Hz, %d bits", format, ch, rate, bits)
			}
			sawFmt = true
		case "data":
			if !sawFmt {
				return 0, errors.New("WAV data chunk before fmt chunk")
			}
			return size, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size&1); err != nil {
				return 0, errors.New("WAV chunk truncated")
			}
		}
	}
}

// wavWriter writes 16-bit mono 8 kHz PCM and fixes the sizes on Close.
type wavWriter struct {
	f *os.File
	n int64
}

func createWAV(path string) (*wavWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &wavWriter{f: f}
	if _, err := f.Write(wavHeader(0)); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func wavHeader(dataLen uint32) []byte {
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], 36+dataLen)
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)     // PCM
	binary.LittleEndian.PutUint16(h[22:], 1)     // mono
	binary.LittleEndian.PutUint32(h[24:], 8000)  // rate
	binary.LittleEndian.PutUint32(h[28:], 16000) // byte rate
	binary.LittleEndian.PutUint16(h[32:], 2)     // block align
	binary.LittleEndian.PutUint16(h[34:], 16)    // bits
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], dataLen)
	return h
}

func (w *wavWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *wavWriter) Close() error {
	if _, err := w.f.WriteAt(wavHeader(uint32(w.n)), 0); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}
