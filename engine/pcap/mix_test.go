package pcap

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/pion/rtp"
)

// mixWhole is the mix as a whole-capture reader builds it: every stream in
// memory, added onto one time line by capture time.
func mixWhole(t *testing.T, data []byte) ([]int16, []dsp.DigitEvent) {
	t.Helper()
	streams, err := ReadStreams(data)
	if err != nil {
		t.Fatal(err)
	}
	t0 := streams[0].Start
	for _, st := range streams {
		if st.Start.Before(t0) {
			t0 = st.Start
		}
	}
	var total int64
	offs := make([]int64, len(streams))
	for i, st := range streams {
		offs[i] = int64(st.Start.Sub(t0) / (time.Second / dsp.SampleRate))
		total = max(total, offs[i]+int64(len(st.PCM)))
	}
	pcm := make([]int16, total)
	var events []dsp.DigitEvent
	for i, st := range streams {
		for j, s := range st.PCM {
			d := &pcm[offs[i]+int64(j)]
			*d = int16(max(-32768, min(32767, int32(*d)+int32(s))))
		}
		for _, e := range st.Events {
			e.Start += offs[i]
			e.End += offs[i]
			events = append(events, e)
		}
	}
	slices.SortStableFunc(events, func(a, b dsp.DigitEvent) int { return int(a.Start - b.Start) })
	return pcm, events
}

func readMix(t *testing.T, data []byte, chunk int) ([]int16, *Mixer) {
	t.Helper()
	m, err := NewMixer(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var got []int16
	buf := make([]int16, chunk)
	for {
		n, err := m.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got, m
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestMixerMatchesWholeCapture(t *testing.T) {
	c := makeCall(t) // two streams, a lost packet, two swapped, events across a timestamp wrap
	want, wantEv := mixWhole(t, c.file)
	for _, chunk := range []int{1, 160, 333, 1 << 17} {
		got, m := readMix(t, c.file, chunk)
		if !slices.Equal(got, want) {
			t.Fatalf("chunk %d: %d samples differ from the whole-capture mix (%d)", chunk, len(got), len(want))
		}
		if ev := m.Events(); !slices.Equal(ev, wantEv) || len(ev) != 2 {
			t.Fatalf("chunk %d: events %+v, want %+v", chunk, ev, wantEv)
		}
		if len(m.Streams()) != 2 {
			t.Fatalf("%d streams", len(m.Streams()))
		}
	}
}

// A capture longer than the window, with a gap, reordering within the
// window and a packet later than it: the mix is the whole-capture one
// except for the late packet, which is silence.
func TestMixerWindow(t *testing.T) {
	var b bytes.Buffer
	w, _ := NewWriter(&b)
	payload := func(i int) []byte {
		p := make([]byte, 160)
		for j := range p {
			p[j] = byte(i + j)
		}
		return p
	}
	var order []int
	for i := range 1000 {
		order = append(order, i)
	}
	order[10], order[12] = order[12], order[10] // reordered by two packets
	late := 20
	order = append(slices.Delete(order, late, late+1), late)                          // 980 packets (19.6 s) late
	order = slices.DeleteFunc(order, func(i int) bool { return i >= 600 && i < 700 }) // 2 s lost
	for k, i := range order {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 7}, Payload: payload(i)}
		pb, _ := p.Marshal()
		if err := w.WritePacket(t0.Add(time.Duration(k)*20*time.Millisecond), phone, gw, pb); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := mixWhole(t, b.Bytes())
	clear(want[late*160 : (late+1)*160])
	got, _ := readMix(t, b.Bytes(), 4096)
	if len(got) != 1000*160 || !slices.Equal(got, want) {
		t.Fatalf("%d samples; equal to the whole-capture mix without the late packet: %v", len(got), slices.Equal(got, want))
	}
}

func TestMixerErrors(t *testing.T) {
	c := makeCall(t)
	if _, err := NewMixer(bytes.NewReader(c.file[:24+16+42+len(invite())])); !errors.Is(err, ErrNoRTP) {
		t.Errorf("capture without RTP: %v", err)
	}
	if _, err := NewMixer(bytes.NewReader(c.file[:len(c.file)-5])); !errors.Is(err, ErrTruncated) {
		t.Errorf("cut capture: %v", err)
	}
}

func FuzzMixer(f *testing.F) {
	f.Add(makeCall(&testing.T{}).file)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := NewMixer(bytes.NewReader(data))
		if err != nil {
			return
		}
		buf := make([]int16, 1000)
		var n int64
		for {
			k, err := m.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
			if n > MaxStreamSamples {
				t.Fatalf("%d samples, more than the 4 h bound", n)
			}
		}
		for i, e := range m.Events() {
			if e.End < e.Start || e.Start < 0 || (i > 0 && e.Start < m.Events()[i-1].Start) || !dsp.IsDTMFKey(e.Key) {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}
