package media

import (
	"encoding/binary"
	"testing"
)

// TestPtimeHonoured: a far end that asks for 10 or 30 ms packets (a=ptime)
// gets them, with timestamps that follow, from 20 ms frames; its own audio
// still plays out.
func TestPtimeHonoured(t *testing.T) {
	for _, ms := range []int{10, 30} {
		a, b, negA, _ := pair(t, func(_, b *legOpts) { b.caps.Ptime = ms })
		if negA.Ptime != ms {
			t.Fatalf("negotiated ptime %d, want %d", negA.Ptime, ms)
		}
		r := via(t, a, b, negA, nil)
		rd := startReader(b, false)
		sendFrames(t, a, 30, toneFrames(0, 30))
		rd.closeAfterPlayout(t)
		pkts := r.packets()
		if len(pkts) < 30*20/ms-1 {
			t.Fatalf("ptime %d: %d packets for 30 frames", ms, len(pkts))
		}
		for i, p := range pkts {
			if got := len(p) - 12; got != ms*8 {
				t.Fatalf("ptime %d: packet %d carries %d samples", ms, i, got)
			}
			if i > 0 {
				if d := binary.BigEndian.Uint32(p[4:]) - binary.BigEndian.Uint32(pkts[i-1][4:]); d != uint32(ms*8) {
					t.Fatalf("ptime %d: packet %d timestamp step %d", ms, i, d)
				}
			}
		}
		if count, _ := loud(rd.snapshot(), 1000); count < 20 {
			t.Fatalf("ptime %d: %d loud frames played out of 30", ms, count)
		}
	}
}

func TestPtimePathAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	a, _, _, _ := pair(t, func(_, b *legOpts) { b.caps.Ptime = 30 })
	var pcm [FrameSamples]int16
	tone(pcm[:], 1000, 8000, 0)
	if allocs := testing.AllocsPerRun(300, func() {
		if err := a.WriteFrame(pcm[:]); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("WriteFrame with ptime 30: %.2f allocations per frame", allocs)
	}
	if st := a.Stats(); st.PacketsSent < 150 {
		t.Errorf("sent %d packets for 300 frames of 20 ms in 30 ms packets", st.PacketsSent)
	}
}
