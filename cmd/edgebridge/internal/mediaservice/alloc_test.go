package mediaservice

import (
	"bytes"
	"testing"

	"github.com/edgebridge/edgebridge/dsp"
)

// The per-frame work of a participant in the IVR (the next frame of a
// prompt, in-band DTMF detection, the recording's mix and write) allocates
// nothing.
func TestFramePathAllocatesNothing(t *testing.T) {
	p := newPrompts(t.TempDir(), 0, []byte("k"))
	if _, err := p.Put("d", "long.wav", bytes.NewReader(toneWAV(t, 1000, 60_000))); err != nil {
		t.Fatal(err)
	}
	var slot recSlot
	rec, err := p.newRecording("d", "rec.wav", "c")
	if err != nil {
		t.Fatal(err)
	}
	slot.start(rec)
	m := newMediaLoop(nil, p, "d", &slot, func(w string, err error) { t.Errorf("%s: %v", w, err) })
	m.play([]phrase{{FileName: "long.wav"}})
	m.next(m.out[:]) // opens the file: once per phrase, not per frame
	emit := func(dsp.DigitEvent) {}
	allocs := testing.AllocsPerRun(1000, func() {
		m.det.Process(m.in[:], emit)
		m.next(m.out[:])
		m.rec.write(m.mix[:], m.in[:], m.out[:])
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per frame", allocs)
	}
	if _, err := p.finishRecording(slot.stop()); err != nil {
		t.Fatal(err)
	}
}
