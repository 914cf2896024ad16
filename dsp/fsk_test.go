package dsp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func modulate(t *testing.T, std FSKStandard, dBm0 float64, typ byte, data []byte, seizure, mark int) []int16 {
	t.Helper()
	m := NewFSKModulator(std, dBm0)
	if err := m.Queue(typ, data, seizure, mark); err != nil {
		t.Fatal(err)
	}
	if err := m.Queue(typ, data, seizure, mark); err != ErrFSKBusy {
		t.Fatalf("second Queue while busy: %v", err)
	}
	out := silence(50)
	f := make([]int16, 160)
	for m.Busy() {
		n := m.Generate(f)
		out = append(out, f[:n]...)
	}
	return append(out, silence(50)...)
}

func demodulate(pcm []int16, cfg FSKConfig, frame int) []FSKMessage {
	d := NewFSKDemodulator(cfg)
	var got []FSKMessage
	emit := func(m FSKMessage) {
		m.Data = bytes.Clone(m.Data)
		got = append(got, m)
	}
	for i := 0; i < len(pcm); i += frame {
		d.Process(pcm[i:min(i+frame, len(pcm))], emit)
	}
	return got
}

func TestFSKRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	for trial := range 40 {
		std := []FSKStandard{Bell202, V23}[trial%2]
		c := codecs[trial%3]
		data := make([]byte, 1+rng.IntN(120))
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		typ := []byte{FSKTypeSDMF, FSKTypeMDMF}[rng.IntN(2)]
		level := -5 - 25*rng.Float64()
		pcm := modulate(t, std, level, typ, data, 30, 80+rng.IntN(100))
		pcm = addNoise(pcm, level-20, rng) // 20 dB S/N
		frame := 1 + rng.IntN(320)
		got := demodulate(c.f(pcm), FSKConfig{Standard: std}, frame)
		if len(got) != 1 {
			t.Fatalf("trial %d (%v, %s, %.0f dBm0): %d messages, want 1", trial, std, c.name, level, len(got))
		}
		m := got[0]
		if m.Type != typ || !bytes.Equal(m.Data, data) || !m.ChecksumOK {
			t.Fatalf("trial %d (%v): got type %#x ok %v data %x, want %#x %x", trial, std, m.Type, m.ChecksumOK, m.Data, typ, data)
		}
		if m.Seizure < 25 {
			t.Errorf("trial %d: %d seizure bytes heard of 30", trial, m.Seizure)
		}
	}
}

func TestFSKMDMF(t *testing.T) {
	// ETSI EN 300 659-3 MDMF: date/time (0x01), number (0x02), name (0x07).
	body := []byte("\x01\x0812241530\x02\x0a0123456789\x07\x05ALARM")
	pcm := modulate(t, V23, -12, FSKTypeMDMF, body, 30, 150)
	got := demodulate(pcm, FSKConfig{Standard: V23}, 160)
	if len(got) != 1 || !got[0].ChecksumOK {
		t.Fatalf("got %+v", got)
	}
	params := map[byte]string{}
	if err := MDMFParams(got[0].Data, func(typ byte, v []byte) { params[typ] = string(v) }); err != nil {
		t.Fatal(err)
	}
	if params[1] != "12241530" || params[2] != "0123456789" || params[7] != "ALARM" {
		t.Errorf("params %q", params)
	}
	if err := MDMFParams([]byte{0x02, 0x0a, '1'}, func(byte, []byte) {}); err == nil {
		t.Error("MDMFParams accepted a cut parameter")
	}
}

func TestFSKRejects(t *testing.T) {
	data := []byte("0101123405551234")
	pcm := modulate(t, Bell202, -10, FSKTypeSDMF, data, 30, 150)
	if got := demodulate(pcm, FSKConfig{}, 160); len(got) != 1 || !got[0].ChecksumOK {
		t.Fatalf("clean message: %+v", got)
	}
	// No mark period: no message.
	if got := demodulate(modulate(t, Bell202, -10, FSKTypeSDMF, data, 30, 0), FSKConfig{}, 160); len(got) != 0 {
		t.Errorf("without mark: %d messages", len(got))
	}
	// Below the carrier level: nothing.
	if got := demodulate(modulate(t, Bell202, -50, FSKTypeSDMF, data, 30, 150), FSKConfig{}, 160); len(got) != 0 {
		t.Errorf("at −50 dBm0: %d messages", len(got))
	}
	// A corrupted byte: the checksum says so.
	m := NewFSKModulator(Bell202, -10)
	_ = m.Queue(FSKTypeSDMF, data, 30, 150)
	m.bits[30*10+150+5*10+3] ^= 1 // a data bit of the 4th data byte
	var out []int16
	f := make([]int16, 160)
	for m.Busy() {
		n := m.Generate(f)
		out = append(out, f[:n]...)
	}
	got := demodulate(append(out, silence(50)...), FSKConfig{}, 160)
	if len(got) != 1 || got[0].ChecksumOK {
		t.Errorf("corrupted message: %+v, want one with ChecksumOK false", got)
	}
	if err := NewFSKModulator(V23, -10).Queue(FSKTypeSDMF, make([]byte, 256), 30, 150); err == nil {
		t.Error("Queue accepted 256 data bytes")
	}
}
