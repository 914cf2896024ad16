package pcap

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// Capture keeps the first packets of one call (its RTP) in memory, for a
// pcap written later: those within Seconds of the first packet, as many as
// fit in a buffer allocated once, when the capture is made. Add copies a
// packet in without allocating, so that the RTP path stays free of
// allocation while a capture is on; packets past the time or the buffer are
// not kept. It is safe for concurrent use (a call's receive and send paths
// add to it at once).
type Capture struct {
	mu      sync.Mutex
	dur     time.Duration
	created time.Time
	start   time.Time
	buf     []byte // records: captureHeader bytes, then the packet
	n       int    // packets kept
}

// captureHeader is one record's header: time (Unix ns), source and
// destination (16-byte address, 2-byte port each), packet length.
const captureHeader = 8 + 18 + 18 + 2

// NewCapture makes a capture of the first dur of packets, at most maxBytes
// of memory (its size, allocated now).
func NewCapture(dur time.Duration, maxBytes int) *Capture {
	return &Capture{dur: dur, created: time.Now(), buf: make([]byte, 0, maxBytes)}
}

// Done says the capture takes no more packets at now: its time from the
// first packet is over, or (no packet yet) a minute more than that has
// passed since it was made.
func (c *Capture) Done(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() {
		return now.Sub(c.created) > c.dur+time.Minute
	}
	return now.Sub(c.start) > c.dur
}

// Size is the memory the capture holds: what NewCapture allocated.
func (c *Capture) Size() int { return cap(c.buf) }

// Packets is how many packets the capture keeps.
func (c *Capture) Packets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Add keeps a copy of one packet sent at ts from src to dst, if it is within
// the capture's time and room.
func (c *Capture) Add(ts time.Time, src, dst netip.AddrPort, pkt []byte) {
	if len(pkt) > 0xffff {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.start.IsZero() {
		c.start = ts
	} else if ts.Sub(c.start) > c.dur {
		return
	}
	at := len(c.buf)
	if cap(c.buf)-at < captureHeader+len(pkt) {
		return
	}
	b := c.buf[:at+captureHeader]
	binary.BigEndian.PutUint64(b[at:], uint64(ts.UnixNano()))
	putAddrPort(b[at+8:], src)
	putAddrPort(b[at+26:], dst)
	binary.BigEndian.PutUint16(b[at+44:], uint16(len(pkt)))
	c.buf = append(b, pkt...)
	c.n++
}

func putAddrPort(b []byte, a netip.AddrPort) {
	ip := a.Addr().As16()
	copy(b, ip[:])
	binary.BigEndian.PutUint16(b[16:], a.Port())
}

func addrPort(b []byte) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])).Unmap(), binary.BigEndian.Uint16(b[16:]))
}

// Each calls fn for the packets kept, in the order they were added (which
// is the order of their times, give or take the scheduling of the paths
// that add them). pkt stays as it is while the capture lives: records are
// never rewritten. It stops when fn returns false.
// It does not hold the capture's lock while fn runs (a slow reader must not
// stall a live call's RTP): records are only appended, into a buffer that is
// never reallocated, so those present when Each starts stay as they are.
func (c *Capture) Each(fn func(ts time.Time, src, dst netip.AddrPort, pkt []byte) bool) {
	c.mu.Lock()
	kept := c.buf
	c.mu.Unlock()
	for b := kept; len(b) >= captureHeader; {
		n := int(binary.BigEndian.Uint16(b[44:]))
		ts := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
		if !fn(ts, addrPort(b[8:]), addrPort(b[26:]), b[captureHeader:captureHeader+n]) {
			return
		}
		b = b[captureHeader+n:]
	}
}
