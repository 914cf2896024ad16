package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
)

// writeCall writes the panel side of a Contact ID call: silence for the
// handshake, then each message's keys, 1.25 s apart as a panel waits for
// kissoffs, as an A-law WAV.
func writeCall(t *testing.T, keys ...string) string {
	t.Helper()
	cfg := dsp.DefaultDTMFGen()
	cfg.OnMs, cfg.OffMs = 55, 55
	pcm := make([]int16, 2310*8) // the first digit at 2310 ms
	for _, k := range keys {
		var err error
		pcm, err = dsp.AppendDTMF(pcm, k, cfg)
		if err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, make([]int16, 1250*8)...)
	}
	path := filepath.Join(t.TempDir(), "call.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := audiofile.WriteWAV(f, pcm, audiofile.Alaw); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDecodeContactIDLines(t *testing.T) {
	good, _ := contactid.Build("1234", "18", "1", "130", "01", "015")
	bad := good.Keys()[:15] + "A" // check digit D instead of E
	path := writeCall(t, good.Keys(), bad)
	var out, errb bytes.Buffer
	if code := run([]string{"decode", "--protocol", "contactid", "--in", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out.String())
	}
	// The README's line, byte for byte but for at_ms, where the detector's
	// edge estimate may differ by a few ms.
	var l contactIDLine
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
		t.Fatal(err)
	}
	if l.AtMs < 2305 || l.AtMs > 2315 {
		t.Errorf("at_ms %d, want 2310±5", l.AtMs)
	}
	want := `{"protocol":"contactid","account":"1234","qualifier":"1","code":"130","group":"01","zone":"015","raw":"123418113001015E","valid":true,"at_ms":2310}`
	if got := strings.Replace(lines[0], fmt.Sprintf(`"at_ms":%d}`, l.AtMs), `"at_ms":2310}`, 1); got != want {
		t.Errorf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	l = contactIDLine{}
	if err := json.Unmarshal([]byte(lines[1]), &l); err != nil {
		t.Fatal(err)
	}
	if l.Valid || l.Raw != "123418113001015D" || !strings.Contains(l.Error, "checksum") {
		t.Errorf("bad message line %s: want valid false, raw ...D, a checksum error", lines[1])
	}
	if l.AtMs < 2310+16*110+1250-5 || l.AtMs > 2310+16*110+1250+5 {
		t.Errorf("second message at %d ms", l.AtMs)
	}
}

func TestDecodeAutoAndFlags(t *testing.T) {
	good, _ := contactid.Build("BCDE", "18", "1", "602", "00", "000")
	path := writeCall(t, good.Keys())
	var out, errb bytes.Buffer
	if code := run([]string{"decode", "--in", path}, &out, &errb); code != 0 {
		t.Fatalf("auto: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"raw":"BCDE18160200000`) || !strings.Contains(out.String(), `"account":"BCDE"`) {
		t.Errorf("auto: %s: want the hex account BCDE in hex digits", out.String())
	}
	for _, args := range [][]string{
		{"decode"},
		{"decode", "--in", path, "--protocol", "sia"},
		{"decode", "--in", path, "--mode", "fsk"},
		{"decode", "--in", path, "--protocol", "contactid", "--mode", "sdmf"},
		{"decode", "--in", path, "--protocol", "bs8521", "--mode", "sdmf"},
		{"decode", "--bogus"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(args, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q: want 2 with a message", args, code, errb.String())
		}
	}
	if code := run([]string{"decode", "--in", filepath.Join(t.TempDir(), "nope.wav")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "nope.wav") {
		t.Errorf("missing file: exit %d, %q", code, errb.String())
	}
}

// auto tells the protocols apart by burst length: a Contact ID message and
// a BS 8521 one in the same recording each decode as their own.
func TestDecodeAutoMixed(t *testing.T) {
	cid, _ := contactid.Build("1234", "18", "1", "130", "01", "015")
	bs, err := bs8521.Build("1", "1", "01", "12345678", "0001", "021", "01", "1", "00")
	if err != nil {
		t.Fatal(err)
	}
	const tt = "D#1020461234567800000047"
	path := writeCall(t, bs.Raw, cid.Keys(), tt)
	var out, errb bytes.Buffer
	if code := run([]string{"decode", "--protocol", "auto", "--in", path}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], `"protocol":"tt92","identity":"461234567800"`) || !strings.Contains(lines[2], `"checksumChecked":false`) || !strings.Contains(lines[0], `"protocol":"bs8521"`) || !strings.Contains(lines[0], `"event":"021"`) || !strings.Contains(lines[0], `"valid":true`) ||
		!strings.Contains(lines[1], `"protocol":"contactid"`) || !strings.Contains(lines[1], `"raw":"123418113001015E"`) {
		t.Fatalf("lines:\n%s\nstderr: %s", out.String(), errb.String())
	}
	// Forced to Contact ID, the BS 8521 burst is no Contact ID message.
	out.Reset()
	errb.Reset()
	run([]string{"decode", "--protocol", "contactid", "--in", path}, &out, &errb)
	if strings.Contains(out.String(), `"valid":true`) && strings.Count(out.String(), `"valid":true`) != 1 {
		t.Errorf("contactid on mixed: %s", out.String())
	}
}

// The committed recordings of a Contact ID call (testdata/audio/README.md:
// 123418113001015E, first digit at 1050 ms), as WAV and as RTP in a pcap,
// decode to the README's line.
func TestDecodeCommittedRecordings(t *testing.T) {
	for _, f := range []string{"contactid-1234-alaw.wav", "contactid-1234.pcap"} {
		path := filepath.Join("..", "..", "testdata", "audio", f)
		for _, proto := range []string{"contactid", "auto"} {
			var out, errb bytes.Buffer
			if code := run([]string{"decode", "--protocol", proto, "--in", path}, &out, &errb); code != 0 {
				t.Fatalf("%s %s: exit %d: %s", f, proto, code, errb.String())
			}
			var l contactIDLine
			if err := json.Unmarshal(out.Bytes(), &l); err != nil || strings.Count(out.String(), "\n") != 1 {
				t.Fatalf("%s %s: %q", f, proto, out.String())
			}
			if l.AtMs < 1045 || l.AtMs > 1055 {
				t.Errorf("%s: at_ms %d, want 1050±5", f, l.AtMs)
			}
			l.AtMs = 1050
			got, _ := json.Marshal(l)
			want := `{"protocol":"contactid","account":"1234","qualifier":"1","code":"130","group":"01","zone":"015","raw":"123418113001015E","valid":true,"at_ms":1050}`
			if string(got) != want {
				t.Errorf("%s %s:\n got %s\nwant %s", f, proto, got, want)
			}
		}
	}
	// Three keys (RFC 4733 and in band) are no alarm message.
	var out, errb bytes.Buffer
	if code := run([]string{"decode", "--in", filepath.Join("..", "..", "testdata", "audio", "rfc4733-pcmu.pcap")}, &out, &errb); code != 0 || out.Len() != 0 || !strings.Contains(errb.String(), "no alarm message") {
		t.Errorf("rfc4733 pcap: exit %d, out %q, err %q", code, out.String(), errb.String())
	}
}

// TT92 in single tones (--mode sdmf), as the tt92 package's sender sounds it.
func TestDecodeTT92Sdmf(t *testing.T) {
	const frame = "D#1020461234567800000047"
	snd, err := tt92.NewStmfSender(-10)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 8000) // 1 s of line first
	snd.Queue(frame)
	buf := make([]int16, 160)
	for snd.Busy() {
		snd.Generate(buf)
		pcm = append(pcm, buf...)
	}
	pcm = append(pcm, make([]int16, 4000)...)
	path := filepath.Join(t.TempDir(), "tt92.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := audiofile.WriteWAV(f, pcm, audiofile.Ulaw); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// TTnew sends the same frame: --protocol ttnew reads it too.
	for _, proto := range []string{"tt92", "ttnew"} {
		var out, errb bytes.Buffer
		if code := run([]string{"decode", "--protocol", proto, "--mode", "sdmf", "--in", path}, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", proto, code, errb.String())
		}
		var l tt92Line
		if err := json.Unmarshal(out.Bytes(), &l); err != nil || l.Raw != frame || !l.Valid || l.AtMs < 995 || l.AtMs > 1005 {
			t.Fatalf("%s: %q (%v), stderr %q", proto, out.String(), err, errb.String())
		}
	}
}
