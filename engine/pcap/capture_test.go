package pcap

import (
	"net/netip"
	"testing"
	"time"
)

// A capture keeps packets within its time from the first one and within
// its buffer, in order, with their addresses, and adds them without
// allocating.
func TestCaptureBoundedInTimeAndBytes(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.1:4000")
	b := netip.MustParseAddrPort("[2001:db8::1]:5000")
	pkt := make([]byte, 172)
	t0 := time.Unix(1_700_000_000, 0)
	c := NewCapture(time.Second, 10*(captureHeader+len(pkt)))
	i := 0
	if allocs := testing.AllocsPerRun(20, func() {
		pkt[0] = byte(i)
		c.Add(t0.Add(time.Duration(i)*20*time.Millisecond), a, b, pkt)
		i++
	}); allocs != 0 {
		t.Errorf("Add: %.2f allocations per packet", allocs)
	}
	if c.Packets() != 10 {
		t.Fatalf("capture keeps %d packets, want the 10 its buffer holds", c.Packets())
	}
	n := 0
	c.Each(func(ts time.Time, src, dst netip.AddrPort, p []byte) bool {
		if !ts.Equal(t0.Add(time.Duration(n)*20*time.Millisecond)) || src != a || dst != b || len(p) != 172 || p[0] != byte(n) {
			t.Fatalf("packet %d: %v %v→%v %d bytes first %d", n, ts, src, dst, len(p), p[0])
		}
		n++
		return true
	})
	long := NewCapture(time.Second, 1<<20)
	for i := range 100 {
		long.Add(t0.Add(time.Duration(i)*20*time.Millisecond), a, b, pkt)
	}
	if long.Packets() != 51 { // 0 to 1000 ms inclusive
		t.Fatalf("1 s capture keeps %d packets of 20 ms, want 51", long.Packets())
	}
}
