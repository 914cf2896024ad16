// Package audiofile reads and writes the audio files edgebridge accepts:
// WAV (16-bit linear PCM, G.711 A-law or µ-law; mono; 8 kHz) and raw
// headerless A-law or µ-law. Anything else is refused with an error that
// says what the file is and what was expected.
package audiofile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgebridge/edgebridge/dsp"
)

// Encoding is how samples are stored in a file.
type Encoding int

// Encodings, with the WAVE format codes of RFC 2361 for the WAV container.
const (
	PCM16 Encoding = iota + 1 // WAVE_FORMAT_PCM (1), 16 bits
	Alaw                      // WAVE_FORMAT_ALAW (6)
	Ulaw                      // WAVE_FORMAT_MULAW (7)
)

func (e Encoding) String() string {
	switch e {
	case PCM16:
		return "pcm16"
	case Alaw:
		return "alaw"
	case Ulaw:
		return "ulaw"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// FormatError says why a file is not audio edgebridge accepts.
type FormatError struct {
	What string // "wav", "audio"
	Err  error
}

func (e *FormatError) Error() string { return e.What + ": " + e.Err.Error() }
func (e *FormatError) Unwrap() error { return e.Err }

// wavErr formats like fmt.Errorf (%w included).
func wavErr(format string, args ...any) error {
	return &FormatError{What: "wav", Err: fmt.Errorf(format, args...)}
}

// ErrTruncated is wrapped by errors about files that end early.
var ErrTruncated = errors.New("truncated")

const (
	waveFormatPCM        = 1
	waveFormatALaw       = 6
	waveFormatMuLaw      = 7
	waveFormatExtensible = 0xFFFE
)

// IsWAV reports whether data starts like a RIFF WAVE file.
func IsWAV(data []byte) bool {
	return len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WAVE"
}

// ParseWAV decodes a whole WAV file held in memory into linear PCM.
func ParseWAV(data []byte) ([]int16, Encoding, error) {
	if len(data) < 12 {
		return nil, 0, wavErr("%d bytes is too short for a RIFF header (12): %w", len(data), ErrTruncated)
	}
	if !IsWAV(data) {
		return nil, 0, wavErr("not a RIFF WAVE file (starts with %q)", printable(data[:12]))
	}
	var enc Encoding
	p := data[12:]
	off := 12
	for {
		if len(p) == 0 {
			if enc == 0 {
				return nil, 0, wavErr("no fmt chunk")
			}
			return nil, 0, wavErr("no data chunk")
		}
		if len(p) < 8 {
			return nil, 0, wavErr("chunk header at offset %d: %d bytes left, need 8: %w", off, len(p), ErrTruncated)
		}
		id := string(p[:4])
		size := binary.LittleEndian.Uint32(p[4:8])
		body := p[8:]
		switch id {
		case "fmt ":
			if uint64(size) > uint64(len(body)) {
				return nil, 0, wavErr("fmt chunk says %d bytes, %d left: %w", size, len(body), ErrTruncated)
			}
			var err error
			if enc, err = parseFmt(body[:size]); err != nil {
				return nil, 0, err
			}
		case "data":
			if enc == 0 {
				return nil, 0, wavErr("data chunk before fmt chunk")
			}
			n := uint64(size)
			if size == 0xFFFFFFFF || (size == 0 && len(body) > 0) {
				// Streaming writers leave the size unset: take the rest.
				n = uint64(len(body))
			} else if n > uint64(len(body)) {
				return nil, 0, wavErr("data chunk says %d bytes, file has %d: %w", size, len(body), ErrTruncated)
			}
			return decode(body[:n], enc)
		}
		adv := uint64(size) + uint64(size&1) // chunks are padded to even length
		if adv > uint64(len(body)) {
			return nil, 0, wavErr("%q chunk at offset %d says %d bytes, %d left: %w", printable([]byte(id)), off, size, len(body), ErrTruncated)
		}
		p = body[adv:]
		off += 8 + int(adv)
	}
}

func parseFmt(b []byte) (Encoding, error) {
	if len(b) < 16 {
		return 0, wavErr("fmt chunk is %d bytes, need at least 16", len(b))
	}
	format := binary.LittleEndian.Uint16(b[0:2])
	channels := binary.LittleEndian.Uint16(b[2:4])
	rate := binary.LittleEndian.Uint32(b[4:8])
	bits := binary.LittleEndian.Uint16(b[14:16])
	if format == waveFormatExtensible {
		if len(b) < 26 {
			return 0, wavErr("WAVE_FORMAT_EXTENSIBLE fmt chunk is %d bytes, need 40", len(b))
		}
		// The sub-format GUID starts with the format code (RFC 2361 GUIDs).
		format = binary.LittleEndian.Uint16(b[24:26])
	}
	if channels != 1 {
		return 0, wavErr("%d channels, want mono (1)", channels)
	}
	if rate != dsp.SampleRate {
		return 0, wavErr("sample rate %d Hz, want 8000 Hz", rate)
	}
	switch {
	case format == waveFormatPCM && bits == 16:
		return PCM16, nil
	case format == waveFormatALaw && bits == 8:
		return Alaw, nil
	case format == waveFormatMuLaw && bits == 8:
		return Ulaw, nil
	case format == waveFormatPCM:
		return 0, wavErr("linear PCM with %d bits per sample, want 16", bits)
	case format == waveFormatALaw || format == waveFormatMuLaw:
		return 0, wavErr("G.711 with %d bits per sample, want 8", bits)
	}
	return 0, wavErr("audio format %d (bits %d), want 1 (PCM 16-bit), 6 (A-law) or 7 (µ-law)", format, bits)
}

func decode(b []byte, enc Encoding) ([]int16, Encoding, error) {
	switch enc {
	case PCM16:
		if len(b)%2 != 0 {
			return nil, 0, wavErr("16-bit data has an odd length %d: %w", len(b), ErrTruncated)
		}
		pcm := make([]int16, len(b)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return pcm, enc, nil
	case Alaw, Ulaw:
		return DecodeRaw(b, enc), enc, nil
	}
	panic("unreachable")
}

// DecodeRaw expands headerless G.711 bytes (enc Alaw or Ulaw).
func DecodeRaw(b []byte, enc Encoding) []int16 {
	pcm := make([]int16, len(b))
	if enc == Ulaw {
		dsp.UlawDecode(pcm, b)
	} else {
		dsp.AlawDecode(pcm, b)
	}
	return pcm
}

// EncodeRaw compresses pcm into headerless G.711 (enc Alaw or Ulaw).
func EncodeRaw(pcm []int16, enc Encoding) []byte {
	b := make([]byte, len(pcm))
	if enc == Ulaw {
		dsp.UlawEncode(b, pcm)
	} else {
		dsp.AlawEncode(b, pcm)
	}
	return b
}

// WriteWAV writes pcm as a mono 8 kHz WAV file stored as enc.
func WriteWAV(w io.Writer, pcm []int16, enc Encoding) error {
	var fmtChunk []byte
	var data []byte
	switch enc {
	case PCM16:
		fmtChunk = fmtBytes(waveFormatPCM, 16, 16)
		data = make([]byte, 2*len(pcm))
		for i, s := range pcm {
			binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
		}
	case Alaw, Ulaw:
		code := uint16(waveFormatALaw)
		if enc == Ulaw {
			code = waveFormatMuLaw
		}
		fmtChunk = fmtBytes(code, 8, 18) // non-PCM formats carry cbSize
		data = EncodeRaw(pcm, enc)
	default:
		return fmt.Errorf("wav: cannot write encoding %v", enc)
	}
	var out []byte
	out = append(out, "RIFF\x00\x00\x00\x00WAVE"...)
	out = appendChunk(out, "fmt ", fmtChunk)
	if enc != PCM16 {
		// RIFF requires a fact chunk (sample count) for non-PCM data.
		out = appendChunk(out, "fact", binary.LittleEndian.AppendUint32(nil, uint32(len(pcm))))
	}
	out = appendChunk(out, "data", data)
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	_, err := w.Write(out)
	return err
}

func fmtBytes(code, bits uint16, size int) []byte {
	b := make([]byte, size)
	bytesPerSample := uint32(bits / 8)
	binary.LittleEndian.PutUint16(b[0:], code)
	binary.LittleEndian.PutUint16(b[2:], 1)
	binary.LittleEndian.PutUint32(b[4:], dsp.SampleRate)
	binary.LittleEndian.PutUint32(b[8:], dsp.SampleRate*bytesPerSample)
	binary.LittleEndian.PutUint16(b[12:], uint16(bytesPerSample))
	binary.LittleEndian.PutUint16(b[14:], bits)
	return b
}

func appendChunk(out []byte, id string, body []byte) []byte {
	out = append(out, id...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

// RawEncoding maps a file name's extension to a raw G.711 encoding: .alaw
// and .al are A-law, .ulaw, .ul and .mulaw µ-law.
func RawEncoding(name string) (Encoding, bool) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".alaw", ".al":
		return Alaw, true
	case ".ulaw", ".ul", ".mulaw":
		return Ulaw, true
	}
	return 0, false
}

// ReadFile reads a WAV or raw G.711 file (chosen by content, then by
// extension) into linear PCM. Errors name the file.
func ReadFile(path string) ([]int16, Encoding, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	pcm, enc, err := Parse(path, data)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, enc, nil
}

// Parse decodes data read from a file called name: WAV by its header, raw
// G.711 by the name's extension.
func Parse(name string, data []byte) ([]int16, Encoding, error) {
	if IsWAV(data) || strings.EqualFold(filepath.Ext(name), ".wav") {
		return ParseWAV(data)
	}
	if enc, ok := RawEncoding(name); ok {
		return DecodeRaw(data, enc), enc, nil
	}
	return nil, 0, &FormatError{What: "audio", Err: fmt.Errorf("unknown format (starts with %q): want WAV, .alaw or .ulaw", printable(data[:min(len(data), 8)]))}
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
