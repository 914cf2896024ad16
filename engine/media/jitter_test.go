package media

import (
	"net/netip"
	"testing"
	"time"
)

func frameOf(b byte) []byte {
	p := make([]byte, FrameSamples)
	for i := range p {
		p[i] = b
	}
	return p
}

func TestJitterReorderAndDelay(t *testing.T) {
	var j jitterBuffer
	j.delay = 320
	const base = 0xfffff000 // crosses the timestamp wrap
	// Packets 0..5 arrive as 0 2 1 3 5 4.
	for _, k := range []int{0, 2, 1, 3, 5, 4} {
		j.put(base+uint32(k*FrameSamples), frameOf(byte(k+1)), k == 0)
	}
	out := make([]byte, FrameSamples)
	// Two frames of pre-roll (the fixed 40 ms delay), then 1..6 in order.
	for f := range 8 {
		present := j.get(out, 0xff)
		want := byte(0xff)
		if f >= 2 {
			want = byte(f - 1)
		}
		if out[0] != want || out[FrameSamples-1] != want {
			t.Fatalf("frame %d: got %d, want %d", f, out[0], want)
		}
		if (f >= 2) != (present == FrameSamples) {
			t.Fatalf("frame %d: %d samples present", f, present)
		}
	}
	if j.late != 0 || j.dups != 0 || j.resyncs != 0 {
		t.Errorf("late %d dups %d resyncs %d", j.late, j.dups, j.resyncs)
	}
}

func TestJitterLateDuplicateAndResync(t *testing.T) {
	var j jitterBuffer
	j.delay = 320
	out := make([]byte, FrameSamples)
	j.put(1000, frameOf(1), true)
	j.put(1000, frameOf(9), false) // duplicate: the first copy stays
	if j.dups != 1 {
		t.Errorf("dups %d", j.dups)
	}
	for range 3 {
		j.get(out, 0xff)
	}
	if out[0] != 1 {
		t.Fatalf("duplicate overwrote the original: %d", out[0])
	}
	j.put(1000, frameOf(2), false) // already played: late
	if j.late != 1 || j.resyncs != 0 {
		t.Errorf("late %d resyncs %d", j.late, j.resyncs)
	}
	// The far end of the window still fits; one more sample does not.
	j.put(j.playTS+ringSize-FrameSamples, frameOf(5), false)
	if j.resyncs != 0 {
		t.Errorf("packet at the window's end resynced")
	}
	// A jump far ahead (new stream) re-centres with the same fixed delay.
	j.put(500000, frameOf(3), true)
	if j.resyncs != 1 || j.playTS != 500000-320 {
		t.Errorf("resyncs %d playTS %d", j.resyncs, j.playTS)
	}
	// Three late packets in a row (a sender whose clock fell back) re-centre.
	for k := range 3 {
		j.put(100+uint32(k)*FrameSamples, frameOf(4), false)
	}
	if j.resyncs != 2 {
		t.Errorf("persistent lateness: resyncs %d", j.resyncs)
	}
}

func TestJitterMixedPtime(t *testing.T) {
	// 30 ms packets (SIPp's g711a.pcap) read as 20 ms frames.
	var j jitterBuffer
	j.delay = 320
	for k := range 4 {
		p := make([]byte, 240)
		for i := range p {
			p[i] = byte(k*240 + i)
		}
		j.put(uint32(k*240), p, false)
	}
	out := make([]byte, FrameSamples)
	j.get(out, 0)
	j.get(out, 0)
	for f := range 6 {
		if n := j.get(out, 0); n != FrameSamples {
			t.Fatalf("frame %d: %d present", f, n)
		}
		for i, b := range out {
			if b != byte(f*FrameSamples+i) {
				t.Fatalf("frame %d sample %d: %d", f, i, b)
			}
		}
	}
}

// TestNewSSRCRestartsPlayout: a far end that switches streams (new SSRC,
// unrelated timestamps, even just behind the old ones) is played from its
// first packet, none dropped as late.
func TestNewSSRCRestartsPlayout(t *testing.T) {
	s := offlineSession(t, "PCMA", false)
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	now := time.Now()
	var pcm [FrameSamples]int16
	for i := range 10 {
		s.receive(rtpPacket(8, uint16(i), 100000+uint32(i)*FrameSamples, 1, frameOf(0x55)), from, now)
		s.in.mu.Lock()
		s.frameLocked(pcm[:])
		s.in.mu.Unlock()
	}
	for i := range 10 {
		s.receive(rtpPacket(8, uint16(500+i), 99000+uint32(i)*FrameSamples, 2, frameOf(0x2a)), from, now)
	}
	st := s.Stats()
	if st.Late != 0 || st.Resyncs != 1 || st.Lost != 0 || st.Expected != 10 {
		t.Errorf("stats %+v", st)
	}
}
