package audiofile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	r, err := newWAVReader(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		return nil, 0, err
	}
	return r.readAll(len(data))
}

// readChunk is how many bytes a Reader decodes at a time.
const readChunk = 32 << 10

// Reader streams the samples of a WAV or raw G.711 file as linear PCM in
// fixed-size chunks, so that a recording of hours takes no more memory
// than one of seconds.
type Reader struct {
	r    *bufio.Reader
	enc  Encoding
	wav  bool
	size int64 // the data chunk's length; -1 for up to the end of the file
	got  int64 // data bytes read
	buf  []byte
}

// NewReader reads the header of the file called name from r: WAV by its
// header, raw G.711 by the name's extension.
func NewReader(name string, r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, readChunk)
	head, _ := br.Peek(12)
	if IsWAV(head) || strings.EqualFold(filepath.Ext(name), ".wav") {
		return newWAVReader(br)
	}
	if enc, ok := RawEncoding(name); ok {
		return &Reader{r: br, enc: enc, size: -1}, nil
	}
	return nil, &FormatError{What: "audio", Err: fmt.Errorf("unknown format (starts with %q): want WAV, .alaw or .ulaw", printable(head[:min(len(head), 8)]))}
}

// Encoding is how the file stores its samples.
func (r *Reader) Encoding() Encoding { return r.enc }

// IsWAV reports whether the file is a WAV file (else raw G.711).
func (r *Reader) IsWAV() bool { return r.wav }

// newWAVReader reads the chunks up to the data chunk's body.
func newWAVReader(br *bufio.Reader) (*Reader, error) {
	head, _ := br.Peek(12)
	if len(head) < 12 {
		return nil, wavErr("%d bytes is too short for a RIFF header (12): %w", len(head), ErrTruncated)
	}
	if !IsWAV(head) {
		return nil, wavErr("not a RIFF WAVE file (starts with %q)", printable(head))
	}
	br.Discard(12)
	var enc Encoding
	off := int64(12)
	var h [8]byte
	for {
		n, err := io.ReadFull(br, h[:])
		if n == 0 && err == io.EOF {
			if enc == 0 {
				return nil, wavErr("no fmt chunk")
			}
			return nil, wavErr("no data chunk")
		}
		if err != nil {
			return nil, wavErr("chunk header at offset %d: %d bytes left, need 8: %w", off, n, ErrTruncated)
		}
		id := string(h[:4])
		size := binary.LittleEndian.Uint32(h[4:8])
		adv := int64(size) + int64(size&1) // chunks are padded to even length
		switch id {
		case "fmt ":
			// Only the first 40 bytes mean anything to us; the rest is skipped.
			b := make([]byte, min(size, 40))
			n, err := io.ReadFull(br, b)
			if err == nil && int64(size) > int64(n) {
				var k int64
				k, err = io.CopyN(io.Discard, br, int64(size)-int64(n))
				n += int(k)
			}
			if err != nil {
				return nil, wavErr("fmt chunk says %d bytes, %d left: %w", size, n, ErrTruncated)
			}
			if enc, err = parseFmt(b); err != nil {
				return nil, err
			}
			br.Discard(int(adv) - int(size))
		case "data":
			if enc == 0 {
				return nil, wavErr("data chunk before fmt chunk")
			}
			r := &Reader{r: br, enc: enc, wav: true, size: int64(size)}
			if size == 0xFFFFFFFF || size == 0 {
				// Streaming writers leave the size unset: take the rest.
				r.size = -1
			} else if enc == PCM16 && size%2 != 0 {
				return nil, wavErr("16-bit data has an odd length %d: %w", size, ErrTruncated)
			}
			return r, nil
		default:
			if k, err := io.CopyN(io.Discard, br, adv); err != nil {
				return nil, wavErr("%q chunk at offset %d says %d bytes, %d left: %w", printable([]byte(id)), off, size, k, ErrTruncated)
			}
		}
		off += 8 + adv
	}
}

// Read fills pcm with the next samples, all of it unless the file ends; it
// returns io.EOF after the last sample. A data chunk that ends before its
// stated length is an error wrapping ErrTruncated.
func (r *Reader) Read(pcm []int16) (int, error) {
	width := 1
	if r.enc == PCM16 {
		width = 2
	}
	if r.buf == nil {
		r.buf = make([]byte, readChunk)
	}
	n := 0
	for n < len(pcm) {
		want := min(len(pcm)-n, len(r.buf)/width) * width
		if r.size >= 0 {
			want = int(min(int64(want), r.size-r.got))
		}
		if want == 0 {
			break
		}
		k, err := io.ReadFull(r.r, r.buf[:want])
		r.got += int64(k)
		if k%width != 0 {
			return n, wavErr("16-bit data has an odd length %d: %w", r.got, ErrTruncated)
		}
		switch r.enc {
		case PCM16:
			dst, src := pcm[n:n+k/2], r.buf[:k]
			for i := range dst {
				dst[i] = int16(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
			}
		case Ulaw:
			dsp.UlawDecode(pcm[n:n+k], r.buf[:k])
		case Alaw:
			dsp.AlawDecode(pcm[n:n+k], r.buf[:k])
		}
		n += k / width
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if r.size >= 0 {
				return n, wavErr("data chunk says %d bytes, file has %d: %w", r.size, r.got, ErrTruncated)
			}
			break
		}
		if err != nil {
			return n, err
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// readAll reads the rest of the samples; hint (a file length) bounds the
// first allocation, whatever the header claims.
func (r *Reader) readAll(hint int) ([]int16, Encoding, error) {
	if r.enc == PCM16 {
		hint /= 2
	}
	pcm := make([]int16, 0, hint)
	for {
		if len(pcm) == cap(pcm) {
			pcm = slices.Grow(pcm, readChunk)
		}
		n, err := r.Read(pcm[len(pcm):cap(pcm)])
		pcm = pcm[:len(pcm)+n]
		if err == io.EOF {
			return pcm, r.enc, nil
		}
		if err != nil {
			return nil, 0, err
		}
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
	out := wavHeader(fmtChunk, enc, len(pcm), len(data))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	_, err := w.Write(out)
	return err
}

// WAVHeader is the start of a WAV file of samples samples stored as enc, up
// to the data chunk's body, for writers that stream the samples after it
// (little-endian 16-bit PCM, or one G.711 byte per sample).
func WAVHeader(enc Encoding, samples int) ([]byte, error) {
	switch enc {
	case PCM16:
		return wavHeader(fmtBytes(waveFormatPCM, 16, 16), enc, samples, 2*samples), nil
	case Alaw:
		return wavHeader(fmtBytes(waveFormatALaw, 8, 18), enc, samples, samples), nil
	case Ulaw:
		return wavHeader(fmtBytes(waveFormatMuLaw, 8, 18), enc, samples, samples), nil
	}
	return nil, fmt.Errorf("wav: cannot write encoding %v", enc)
}

func wavHeader(fmtChunk []byte, enc Encoding, samples, dataLen int) []byte {
	var out []byte
	out = append(out, "RIFF\x00\x00\x00\x00WAVE"...)
	out = appendChunk(out, "fmt ", fmtChunk)
	if enc != PCM16 {
		// RIFF requires a fact chunk (sample count) for non-PCM data.
		out = appendChunk(out, "fact", binary.LittleEndian.AppendUint32(nil, uint32(samples)))
	}
	out = append(out, "data"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(dataLen))
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8+dataLen+dataLen&1))
	return out
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
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	hint := 0
	if fi, err := f.Stat(); err == nil {
		hint = int(min(fi.Size(), 1<<30))
	}
	pcm, enc, err := readAll(path, f, hint)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, enc, nil
}

// Parse decodes data read from a file called name: WAV by its header, raw
// G.711 by the name's extension.
func Parse(name string, data []byte) ([]int16, Encoding, error) {
	return readAll(name, bytes.NewReader(data), len(data))
}

func readAll(name string, f io.Reader, hint int) ([]int16, Encoding, error) {
	r, err := NewReader(name, f)
	if err != nil {
		return nil, 0, err
	}
	return r.readAll(hint)
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
