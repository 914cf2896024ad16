package pcap

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A capture writes packets within its time from the first one and within
// its bytes to its file, in order, with their addresses, without
// allocating; closed, its file takes what it holds, and opened again (a
// restart) it reads the same packets and takes no more.
func TestCaptureBoundedInTimeAndBytes(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.1:4000")
	b := netip.MustParseAddrPort("192.0.2.2:5000")
	pkt := make([]byte, 172)
	t0 := time.Unix(1_700_000_000, 0)
	dir := t.TempDir()
	path := filepath.Join(dir, "c.pcap")
	c, err := NewCapture(path, time.Second, 24+10*int64(recordOverhead+len(pkt)))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if allocs := testing.AllocsPerRun(200, func() {
		pkt[0] = byte(i)
		c.Add(t0.Add(time.Duration(i)*time.Millisecond), a, b, pkt)
		i++
	}); allocs != 0 {
		t.Errorf("Add: %.2f allocations per packet", allocs)
	}
	if c.Packets() != 10 || c.Size() != 24+10*int64(recordOverhead+len(pkt)) {
		t.Fatalf("capture keeps %d packets, takes %d bytes: want the 10 its bytes hold", c.Packets(), c.Size())
	}
	check := func(c *Capture, want int) {
		t.Helper()
		n := 0
		c.Each(func(ts time.Time, src, dst netip.AddrPort, p []byte) bool {
			if !ts.Equal(t0.Add(time.Duration(n)*time.Millisecond)) || src != a || dst != b || len(p) != 172 || p[0] != byte(n) {
				t.Fatalf("packet %d: %v %v→%v %d bytes first %d", n, ts, src, dst, len(p), p[0])
			}
			n++
			return true
		})
		if n != want {
			t.Fatalf("read %d packets back, want %d", n, want)
		}
	}
	check(c, 10)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || c.Size() != st.Size() || st.Size() != 24+10*(16+14+20+8+172) {
		t.Fatalf("closed: size %d, file %v %v: want the file's, IPv4 records", c.Size(), st, err)
	}
	again, err := OpenCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	again.Add(t0, a, b, pkt)
	check(again, 10)
	if !again.Done(t0) || again.Packets() != 10 {
		t.Fatalf("a capture opened from its file takes packets (done %v, %d packets)", again.Done(t0), again.Packets())
	}

	long, err := NewCapture(filepath.Join(dir, "long.pcap"), time.Second, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		long.Add(t0.Add(time.Duration(i)*20*time.Millisecond), a, b, pkt)
	}
	if long.Packets() != 51 || !long.Done(t0) { // 0 to 1000 ms inclusive
		t.Fatalf("1 s capture keeps %d packets of 20 ms, want 51", long.Packets())
	}
	if _, err := NewCapture(path, time.Second, 1<<20); err == nil {
		t.Fatal("a capture was made over an existing file")
	}
}

// BenchmarkCaptureAdd is the cost of writing one G.711 packet of 20 ms to a
// capture file (go test -bench CaptureAdd ./engine/pcap).
func BenchmarkCaptureAdd(b *testing.B) {
	src := netip.MustParseAddrPort("192.0.2.1:4000")
	dst := netip.MustParseAddrPort("192.0.2.2:5000")
	pkt := make([]byte, 172)
	c, err := NewCapture(filepath.Join(b.TempDir(), "b.pcap"), time.Hour, 1<<40)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	t0 := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := 0; b.Loop(); i++ {
		c.Add(t0.Add(time.Duration(i)*time.Microsecond), src, dst, pkt)
	}
}
