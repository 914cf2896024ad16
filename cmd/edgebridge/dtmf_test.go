package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/pion/rtp"
)

// The recordings in testdata/audio are made by this generator. Without
// -update-audio the test checks that the committed files are what it makes
// (to within one G.711 step, so that floating-point differences between
// machines do not matter); with it, it rewrites them:
//
//	go test ./cmd/edgebridge -run TestAudioTestdata -update-audio
var updateAudio = flag.Bool("update-audio", false, "rewrite testdata/audio from its generator")

const audioDir = "../../testdata/audio"

// noise is a fixed pseudo-random line noise (an LCG, so that the files do
// not depend on math/rand's algorithms), about −60 dBm0.
type noise uint32

func (n *noise) add(pcm []int16) []int16 {
	for i := range pcm {
		*n = *n*1664525 + 1013904223
		pcm[i] = int16(max(-32768, min(32767, int(pcm[i])+int(*n>>24)%32-16)))
	}
	return pcm
}

func tones(segs ...dsp.ToneSegment) []int16 {
	g, err := dsp.NewToneGenerator(false, segs...)
	if err != nil {
		panic(err)
	}
	var out []int16
	f := make([]int16, 160)
	for !g.Done() {
		n := g.Generate(f)
		out = append(out, f[:n]...)
	}
	return out
}

func keys(s string, on, off int) []int16 {
	pcm, err := dsp.AppendDTMF(nil, s, dsp.DTMFGenConfig{LowDBm0: -8, HighDBm0: -6, OnMs: on, OffMs: off})
	if err != nil {
		panic(err)
	}
	return pcm
}

// contactIDKeys is the message 1234 18 1 130 01 015 with check digit E,
// as DTMF keys: hex E travels as the key B (SIA DC-05).
const contactIDKeys = "123418113001015B"

// contactIDCall is the receiver's view of a Contact ID call: 500 ms after
// answer the handshake (1400 Hz 100 ms, 100 ms silence, 2300 Hz 100 ms),
// 250 ms later the panel's 16 digits (55 ms on, 55 ms off), 200 ms later
// the kissoff (1400 Hz 800 ms), then 300 ms of line.
func contactIDCall() []int16 {
	var pcm []int16
	pcm = append(pcm, tones(dsp.ToneSegment{Ms: 500}, dsp.ToneSegment{Freq1: 1400, DBm0: -10, Ms: 100}, dsp.ToneSegment{Ms: 100},
		dsp.ToneSegment{Freq1: 2300, DBm0: -10, Ms: 100}, dsp.ToneSegment{Ms: 250})...)
	pcm = append(pcm, keys(contactIDKeys, 55, 55)...)
	pcm = append(pcm, tones(dsp.ToneSegment{Ms: 145}, dsp.ToneSegment{Freq1: 1400, DBm0: -10, Ms: 800}, dsp.ToneSegment{Ms: 300})...)
	n := noise(1)
	return n.add(pcm)
}

const allKeys = "0123456789*#ABCD"

func digitsRecording() []int16 {
	pcm := append(make([]int16, 800), keys(allKeys, 70, 70)...)
	n := noise(2)
	return n.add(pcm)
}

// rtpCapture writes pcm as a call's RTP (20 ms packets, PT 0 or 8), after
// a SIP INVITE whose SDP maps PT 101 to telephone-event, with RFC 4733
// events for evKeys at the given sample offsets (100 ms each).
func rtpCapture(pcm []int16, pt uint8, evKeys string, evAt []int) []byte {
	var b bytes.Buffer
	w, err := pcap.NewWriter(&b)
	if err != nil {
		panic(err)
	}
	src := netip.MustParseAddrPort("192.0.2.10:4000")
	dst := netip.MustParseAddrPort("192.0.2.1:10000")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	codec := "0 PCMU/8000"
	if pt == 8 {
		codec = "8 PCMA/8000"
	}
	sdp := "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
		fmt.Sprintf("m=audio 4000 RTP/AVP %d 101\r\na=rtpmap:%s\r\na=rtpmap:101 telephone-event/8000\r\n", pt, codec)
	invite := "INVITE sip:alarm@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776\r\n" +
		"From: <sip:panel@192.0.2.10>;tag=1\r\nTo: <sip:alarm@192.0.2.1>\r\nCall-ID: testdata-1\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:panel@192.0.2.10:5060>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(sdp), sdp)
	if err := w.WritePacket(t0, netip.MustParseAddrPort("192.0.2.10:5060"), netip.MustParseAddrPort("192.0.2.1:5060"), []byte(invite)); err != nil {
		panic(err)
	}
	enc := make([]byte, 160)
	seq := uint16(1000)
	send := func(at int, p rtp.Packet) {
		p.Version, p.SSRC, p.SequenceNumber = 2, 0x0EDB0001, seq
		seq++
		raw, _ := p.Marshal()
		if err := w.WritePacket(t0.Add(time.Second+time.Duration(at)*time.Second/dsp.SampleRate), src, dst, raw); err != nil {
			panic(err)
		}
	}
	ev := 0
	for i := 0; i+160 <= len(pcm); i += 160 {
		if pt == 8 {
			dsp.AlawEncode(enc, pcm[i:i+160])
		} else {
			dsp.UlawEncode(enc, pcm[i:i+160])
		}
		send(i, rtp.Packet{Header: rtp.Header{PayloadType: pt, Timestamp: uint32(i)}, Payload: enc})
		// RFC 4733 §2.5.1: an event's packets every 20 ms, all with its
		// start timestamp; the end (E bit) sent three times.
		for ev < len(evKeys) && i >= evAt[ev] && i < evAt[ev]+800+2*160 {
			code := byte(strings.IndexByte("0123456789*#ABCD", evKeys[ev]))
			dur := min(i-evAt[ev]+160, 800)
			flags := byte(10) // volume −10 dBm0
			if dur == 800 {
				flags |= 0x80
			}
			send(i, rtp.Packet{Header: rtp.Header{PayloadType: 101, Marker: i == evAt[ev], Timestamp: uint32(evAt[ev])},
				Payload: []byte{code, flags, byte(dur >> 8), byte(dur)}})
			if i+160 >= evAt[ev]+800+2*160 {
				ev++
			}
			break
		}
	}
	return b.Bytes()
}

func wavBytes(pcm []int16, enc audiofile.Encoding) []byte {
	var b bytes.Buffer
	if err := audiofile.WriteWAV(&b, pcm, enc); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// audioFiles is every file in testdata/audio and its content.
func audioFiles() map[string][]byte {
	cid := contactIDCall()
	dig := digitsRecording()
	oob := make([]int16, 2*dsp.SampleRate)
	copy(oob[4000:], keys("5", 80, 0)) // one in-band key among the events
	n := noise(3)
	oob = n.add(oob)
	return map[string][]byte{
		"contactid-1234-alaw.wav": wavBytes(cid, audiofile.Alaw),
		"contactid-1234.pcap":     rtpCapture(cid, 8, "", nil),
		"digits-pcm16.wav":        wavBytes(dig, audiofile.PCM16),
		"digits-ulaw.wav":         wavBytes(dig, audiofile.Ulaw),
		"digits.alaw":             audiofile.EncodeRaw(dig, audiofile.Alaw),
		"digits.ulaw":             audiofile.EncodeRaw(dig, audiofile.Ulaw),
		"rfc4733-pcmu.pcap":       rtpCapture(oob, 0, "1#", []int{1600, 8000}),
	}
}

func TestAudioTestdata(t *testing.T) {
	files := audioFiles()
	total := 0
	for name, want := range files {
		p := filepath.Join(audioDir, name)
		total += len(want)
		if *updateAudio {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (regenerate with -update-audio)", err)
		}
		if bytes.Equal(got, want) {
			continue
		}
		// Same length and decoded samples within one G.711 step: the same
		// recording made on another machine.
		ga, err1 := readRecording(p)
		tmp := filepath.Join(t.TempDir(), name)
		_ = os.WriteFile(tmp, want, 0o644)
		wa, err2 := readRecording(tmp)
		if err1 != nil || err2 != nil || len(got) != len(want) || len(ga) != len(wa) {
			t.Fatalf("%s differs from its generator (%v, %v); regenerate with -update-audio", name, err1, err2)
		}
		for i := range ga {
			if d := math.Abs(float64(ga[i]) - float64(wa[i])); d > math.Max(16, math.Abs(float64(wa[i]))/16) {
				t.Fatalf("%s: sample %d is %d, generator makes %d; regenerate with -update-audio", name, i, ga[i], wa[i])
			}
		}
	}
	if total > 1<<20 {
		t.Errorf("testdata/audio holds %d bytes, keep it under 1 MB", total)
	}
}

// readRecording reads a whole recording as the commands stream it.
func readRecording(path string) ([]int16, error) {
	rec, err := pcap.OpenRecording(path)
	if err != nil {
		return nil, err
	}
	defer rec.Close()
	var pcm []int16
	err = rec.Frames(func(f []int16) { pcm = append(pcm, f...) })
	return pcm, err
}

type jsonLine struct {
	Digit   string `json:"digit"`
	StartMs int64  `json:"start_ms"`
	EndMs   int64  `json:"end_ms"`
	Source  string `json:"source"`
}

func runDTMFFile(t *testing.T, path string) ([]jsonLine, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run([]string{"dtmf", "--in", path}, &out, &errb)
	var lines []jsonLine
	dec := json.NewDecoder(&out)
	for dec.More() {
		var l jsonLine
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("stdout is not JSON lines: %v", err)
		}
		lines = append(lines, l)
	}
	return lines, errb.String(), code
}

func TestDTMFCommandFormats(t *testing.T) {
	for _, name := range []string{"digits-pcm16.wav", "digits-ulaw.wav", "digits.alaw", "digits.ulaw"} {
		lines, stderr, code := runDTMFFile(t, filepath.Join(audioDir, name))
		if code != 0 || stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", name, code, stderr)
		}
		var got string
		for i, l := range lines {
			got += l.Digit
			start := int64(100 + 140*i)
			if l.Source != "" || l.StartMs < start-5 || l.StartMs > start+5 || l.EndMs < start+65 || l.EndMs > start+75 {
				t.Errorf("%s: line %d %+v, want %s from %d ms for 70 ms", name, i, l, l.Digit, start)
			}
		}
		if got != allKeys {
			t.Errorf("%s: digits %q, want %q", name, got, allKeys)
		}
	}
	for _, name := range []string{"contactid-1234-alaw.wav", "contactid-1234.pcap"} {
		lines, stderr, code := runDTMFFile(t, filepath.Join(audioDir, name))
		var got string
		for _, l := range lines {
			got += l.Digit
			if d := l.EndMs - l.StartMs; d < 50 || d > 60 {
				t.Errorf("%s: %+v lasts %d ms, want 55", name, l, d)
			}
		}
		// The handshake and kissoff tones are no digits.
		if code != 0 || stderr != "" || got != contactIDKeys || lines[0].StartMs < 1045 || lines[0].StartMs > 1055 {
			t.Errorf("%s: exit %d, stderr %q, digits %q from %d ms, want %q from 1050 ms", name, code, stderr, got, lines[0].StartMs, contactIDKeys)
		}
	}
	lines, _, code := runDTMFFile(t, filepath.Join(audioDir, "rfc4733-pcmu.pcap"))
	want := []jsonLine{{"1", 200, 300, "rfc4733"}, {"5", 500, 580, ""}, {"#", 1000, 1100, "rfc4733"}}
	if code != 0 || len(lines) != 3 {
		t.Fatalf("rfc4733-pcmu.pcap: exit %d, %+v", code, lines)
	}
	for i, l := range lines {
		w := want[i]
		if l.Digit != w.Digit || l.Source != w.Source || l.StartMs < w.StartMs-5 || l.StartMs > w.StartMs+5 || l.EndMs < w.EndMs-5 || l.EndMs > w.EndMs+5 {
			t.Errorf("rfc4733-pcmu.pcap line %d: %+v, want %+v (±5 ms)", i, l, w)
		}
	}
}

func TestDTMFCommandErrors(t *testing.T) {
	dir := t.TempDir()
	whole, _ := os.ReadFile(filepath.Join(audioDir, "digits-pcm16.wav"))
	cap, _ := os.ReadFile(filepath.Join(audioDir, "contactid-1234.pcap"))
	files := map[string][]byte{
		"cut.wav":    whole[:len(whole)/2],
		"cut.pcap":   cap[:len(cap)-7],
		"song.mp3":   []byte("ID3\x04\x00\x00\x00\x00"),
		"stereo.wav": append(append(bytes.Clone(whole[:22]), 2, 0), whole[24:]...),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[string]string{
		"cut.wav":     "truncated",
		"cut.pcap":    "truncated",
		"song.mp3":    "unknown format",
		"stereo.wav":  "2 channels, want mono",
		"missing.wav": "no such file",
	} {
		lines, stderr, code := runDTMFFile(t, filepath.Join(dir, n))
		if code != 1 || len(lines) != 0 || !strings.Contains(stderr, n) || !strings.Contains(stderr, want) {
			t.Errorf("%s: exit %d, %d lines, stderr %q; want exit 1, nothing on stdout, the file and %q on stderr", n, code, len(lines), stderr, want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"dtmf"}, &out, &errb); code != 2 || out.Len() != 0 {
		t.Errorf("no --in: exit %d, stdout %q", code, out.String())
	}
	if code := run([]string{"dtmf", "--in", "x", "--bogus"}, &out, &errb); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

// Streams captured weeks apart (a damaged or spliced capture) span more
// than a recording may: an error, not an overflowed offset.
func TestCaptureAudioStreamsFarApart(t *testing.T) {
	var b bytes.Buffer
	w, err := pcap.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a, c := netip.MustParseAddrPort("192.0.2.10:4000"), netip.MustParseAddrPort("192.0.2.1:10000")
	for i, at := range []time.Time{t0, t0.Add(20 * 24 * time.Hour)} {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: uint32(0xA000 + i)}, Payload: make([]byte, 160)}
		raw, _ := p.Marshal()
		if err := w.WritePacket(at, a, c, raw); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "far.pcap")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pcap.OpenRecording(p); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err %v, want the span refused", err)
	}
}

func TestDTMFCommandBothDirections(t *testing.T) {
	// A capture of both directions: the gateway's handshake and kissoff
	// in a long stream one way, the panel's digits in a shorter stream the
	// other way. The digits are found in the mix, at their time.
	var b bytes.Buffer
	w, err := pcap.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	panel := netip.MustParseAddrPort("192.0.2.10:4000")
	gw := netip.MustParseAddrPort("192.0.2.1:10000")
	send := func(from, to netip.AddrPort, ssrc uint32, ts0 uint32, startMs int, pcm []int16) {
		enc := make([]byte, 160)
		for i := 0; i+160 <= len(pcm); i += 160 {
			dsp.AlawEncode(enc, pcm[i:i+160])
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i / 160), Timestamp: ts0 + uint32(i), SSRC: ssrc}, Payload: enc}
			raw, _ := p.Marshal()
			at := t0.Add(time.Duration(startMs)*time.Millisecond + time.Duration(i)*time.Second/dsp.SampleRate)
			if err := w.WritePacket(at, from, to, raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	gwAudio := tones(dsp.ToneSegment{Ms: 500}, dsp.ToneSegment{Freq1: 1400, DBm0: -10, Ms: 100}, dsp.ToneSegment{Ms: 100},
		dsp.ToneSegment{Freq1: 2300, DBm0: -10, Ms: 100}, dsp.ToneSegment{Ms: 2000}, dsp.ToneSegment{Freq1: 1400, DBm0: -10, Ms: 800})
	send(gw, panel, 0xAAAA, 5000, 0, gwAudio)
	send(panel, gw, 0xBBBB, 123456, 1000, keys(contactIDKeys, 55, 55)) // starts 1 s into the call
	p := filepath.Join(t.TempDir(), "both.pcap")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, stderr, code := runDTMFFile(t, p)
	var got string
	for _, l := range lines {
		got += l.Digit
	}
	if code != 0 || got != contactIDKeys || lines[0].StartMs < 995 || lines[0].StartMs > 1005 {
		t.Fatalf("exit %d, stderr %q, digits %q from %d ms; want %q from 1000 ms", code, stderr, got, lines[0].StartMs, contactIDKeys)
	}
}
