package audiofile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sweep() []int16 {
	pcm := make([]int16, 4000)
	for i := range pcm {
		pcm[i] = int16((i*97)%65536 - 32768)
	}
	return pcm
}

func wav(t *testing.T, pcm []int16, enc Encoding) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteWAV(&b, pcm, enc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWAVRoundTrip(t *testing.T) {
	pcm := sweep()
	for _, enc := range []Encoding{PCM16, Alaw, Ulaw} {
		data := wav(t, pcm, enc)
		got, genc, err := ParseWAV(data)
		if err != nil {
			t.Fatalf("%v: %v", enc, err)
		}
		if genc != enc || len(got) != len(pcm) {
			t.Fatalf("%v: got %v with %d samples", enc, genc, len(got))
		}
		want := pcm
		if enc != PCM16 {
			want = DecodeRaw(EncodeRaw(pcm, enc), enc)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%v: sample %d is %d, want %d", enc, i, got[i], want[i])
			}
		}
		if binary.LittleEndian.Uint32(data[4:]) != uint32(len(data)-8) {
			t.Errorf("%v: RIFF size %d for %d bytes", enc, binary.LittleEndian.Uint32(data[4:]), len(data))
		}
	}
}

// patch returns a copy of b with v written at off (little endian, size by type).
func patch(b []byte, off int, v any) []byte {
	c := bytes.Clone(b)
	switch x := v.(type) {
	case uint16:
		binary.LittleEndian.PutUint16(c[off:], x)
	case uint32:
		binary.LittleEndian.PutUint32(c[off:], x)
	}
	return c
}

func TestWAVErrors(t *testing.T) {
	good := wav(t, sweep()[:100], PCM16) // fmt at 12, 16 bytes; data header at 36
	ext := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x28\x00\x00\x00\xfe\xff\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00\x16\x00\x10\x00\x04\x00\x00\x00\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71data\x04\x00\x00\x00\x01\x00\x02\x00")
	if pcm, enc, err := ParseWAV(ext); err != nil || enc != PCM16 || len(pcm) != 2 || pcm[1] != 2 {
		t.Errorf("WAVE_FORMAT_EXTENSIBLE PCM: %v %v %v", pcm, enc, err)
	}
	cases := []struct {
		name, want string
		data       []byte
		truncated  bool
	}{
		{"empty", "too short", nil, true},
		{"not RIFF", "not a RIFF WAVE", append([]byte("OggS"), good[4:]...), false},
		{"stereo", "2 channels, want mono", patch(good, 22, uint16(2)), false},
		{"16 kHz", "sample rate 16000 Hz, want 8000", patch(good, 24, uint32(16000)), false},
		{"8-bit PCM", "linear PCM with 8 bits", patch(good, 34, uint16(8)), false},
		{"float", "audio format 3", patch(good, 20, uint16(3)), false},
		{"A-law 16 bits", "G.711 with 16 bits", patch(good, 20, uint16(6)), false},
		{"truncated data", "data chunk says 200 bytes, file has 150", good[:44+150], true},
		{"odd data", "odd length", patch(good[:44+151], 40, uint32(151)), true},
		{"cut chunk header", "chunk header", good[:40], true},
		{"no data", "no data chunk", patch(good[:36], 4, uint32(28)), false},
		{"data first", "data chunk before fmt", append(append([]byte("RIFF\x10\x00\x00\x00WAVE"), []byte("data\x00\x00\x00\x00")...), good[12:36]...), false},
		{"fmt too long", "fmt chunk says", patch(good, 16, uint32(1000)), true},
		{"short fmt", "fmt chunk is 4 bytes", patch(good[:28], 16, uint32(4)), false},
	}
	for _, c := range cases {
		_, _, err := ParseWAV(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
			continue
		}
		if errors.Is(err, ErrTruncated) != c.truncated {
			t.Errorf("%s: errors.Is(err, ErrTruncated) = %v", c.name, !c.truncated)
		}
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %T is not a *FormatError", c.name, err)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	pcm := sweep()
	files := map[string][]byte{
		"a.wav":  wav(t, pcm, Ulaw),
		"b.alaw": EncodeRaw(pcm, Alaw),
		"c.ulaw": EncodeRaw(pcm, Ulaw),
		"d.al":   EncodeRaw(pcm, Alaw),
		"e.mp3":  []byte("ID3\x03"),
		"f.wav":  []byte("RIFF"),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[string]Encoding{"a.wav": Ulaw, "b.alaw": Alaw, "c.ulaw": Ulaw, "d.al": Alaw} {
		got, enc, err := ReadFile(filepath.Join(dir, n))
		if err != nil || enc != want || len(got) != len(pcm) {
			t.Errorf("%s: %v, %d samples, %v", n, enc, len(got), err)
		}
	}
	for n, want := range map[string]string{"e.mp3": "unknown format", "f.wav": "too short", "missing.wav": "no such file"} {
		_, _, err := ReadFile(filepath.Join(dir, n))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), n) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", n, err, want)
		}
	}
	if err := WriteWAV(&bytes.Buffer{}, pcm, Encoding(9)); err == nil {
		t.Error("WriteWAV accepted an unknown encoding")
	}
}

func FuzzParseWAV(f *testing.F) {
	for _, enc := range []Encoding{PCM16, Alaw, Ulaw} {
		var b bytes.Buffer
		_ = WriteWAV(&b, []int16{0, 1000, -1000, 32767, -32768}, enc)
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pcm, enc, err := ParseWAV(data)
		if err != nil {
			if pcm != nil {
				t.Fatal("samples returned with an error")
			}
			return
		}
		// Whatever parsed must survive a write and a second parse.
		var b bytes.Buffer
		if err := WriteWAV(&b, pcm, PCM16); err != nil {
			t.Fatal(err)
		}
		again, enc2, err := ParseWAV(b.Bytes())
		if err != nil || enc2 != PCM16 || len(again) != len(pcm) {
			t.Fatalf("re-parse of %v (%d samples): %v %v %d", enc, len(pcm), err, enc2, len(again))
		}
		for i := range pcm {
			if again[i] != pcm[i] {
				t.Fatalf("sample %d changed", i)
			}
		}
		if enc != PCM16 {
			// Decoded G.711 values are fixed points of a round trip.
			back := DecodeRaw(EncodeRaw(pcm, enc), enc)
			for i := range pcm {
				if back[i] != pcm[i] {
					t.Fatalf("%v sample %d: %d is not a G.711 value (round trip %d)", enc, i, pcm[i], back[i])
				}
			}
		}
	})
}

// oneByte hands out one byte per Read, the worst a file or pipe can do.
type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), 1)]) }

func TestReaderStreamsInChunks(t *testing.T) {
	pcm := sweep()
	var hdr40 []byte // a streaming writer's WAV: data size left at 0
	files := map[string][]byte{
		"a.wav":  wav(t, pcm, PCM16),
		"b.wav":  wav(t, pcm, Alaw),
		"c.wav":  wav(t, pcm, Ulaw),
		"d.alaw": EncodeRaw(pcm, Alaw),
	}
	hdr40, _ = WAVHeader(PCM16, 0)
	files["e.wav"] = append(hdr40, files["a.wav"][len(hdr40):]...)
	for name, data := range files {
		want, enc, err := Parse(name, data)
		if err != nil || len(want) != len(pcm) {
			t.Fatalf("%s: %d samples, %v", name, len(want), err)
		}
		r, err := NewReader(name, oneByte{bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Encoding() != enc || r.IsWAV() != strings.HasSuffix(name, ".wav") {
			t.Errorf("%s: %v wav=%v", name, r.Encoding(), r.IsWAV())
		}
		var got []int16
		buf := make([]int16, 333)
		for {
			n, err := r.Read(buf)
			if n != len(buf) && err == nil && len(got)+n != len(want) {
				t.Fatalf("%s: short read of %d samples before the end", name, n)
			}
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: streamed samples differ from the whole-file ones", name)
		}
	}
	// A data chunk cut short is reported after the samples that are there.
	cut := wav(t, pcm, Ulaw)[:len(wav(t, pcm, Ulaw))-100]
	r, err := NewReader("cut.wav", bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 8000)
	n, err := r.Read(buf)
	if n != len(pcm)-100 || !errors.Is(err, ErrTruncated) {
		t.Errorf("cut file: %d samples, %v", n, err)
	}
}
