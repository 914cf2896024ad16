package media

import "testing"

func TestRxStatsLossAndJitter(t *testing.T) {
	var r rxStats
	// 1000 packets, every 10th lost, sequence wrapping; arrival alternates
	// 0 and +80 samples around the nominal time. |D| is 80 between
	// neighbours, 0 across each loss (packets 4 and 6 are both on time), so
	// the A.8 estimate converges to the mean |D| = 80·8/9 ≈ 71.
	seq := uint16(65000)
	for i := range 1000 {
		s := seq + uint16(i)
		if i%10 == 5 {
			continue
		}
		ts := uint32(i * 160)
		arr := ts + 12345
		if i%2 == 1 {
			arr += 80
		}
		r.update(42, s, ts, arr, true)
	}
	if r.expected() != 1000 || r.received != 900 || r.lost() != 100 {
		t.Fatalf("expected %d received %d lost %d", r.expected(), r.received, r.lost())
	}
	if j := r.jitterTS(); j < 68 || j > 74 {
		t.Errorf("jitter %d, want ~71", j)
	}
	frac, cum := r.interval()
	if frac != 25 || cum != 100 { // 100/1000*256 = 25.6
		t.Errorf("fraction %d cumulative %d", frac, cum)
	}
	// Next interval: 100 more, none lost.
	for i := 1000; i < 1100; i++ {
		r.update(42, seq+uint16(i), uint32(i*160), uint32(i*160)+12345, true)
	}
	if frac, cum = r.interval(); frac != 0 || cum != 100 {
		t.Errorf("second interval: fraction %d cumulative %d", frac, cum)
	}
	// Telephone events (timestamp = event start) leave the jitter alone.
	j := r.jitterTS()
	for i := 1100; i < 1110; i++ {
		r.update(42, seq+uint16(i), 1100*160, uint32(i*160)+12345, false)
	}
	if r.jitterTS() != j || r.lost() != 100 {
		t.Errorf("events moved jitter %d→%d or loss %d", j, r.jitterTS(), r.lost())
	}
	// A new SSRC starts over.
	r.update(7, 10, 0, 0, true)
	if r.expected() != 1 || r.lost() != 0 {
		t.Errorf("new source: expected %d lost %d", r.expected(), r.lost())
	}
}
