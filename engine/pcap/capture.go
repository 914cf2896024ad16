package pcap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Capture writes the first packets of one call (its RTP) to a pcap file as
// they come: those within its time of the first packet, as many as fit in
// its byte budget. Add goes through a buffer of captureBuffer bytes made
// once, with the one pcap Writer, so that the RTP path stays free of
// allocation and memory does not grow with the capture; the file is
// written when the buffer fills, when a reader asks (Each) and when the
// capture is closed. A capture opened from its file (after a restart) is
// finished: it takes no packet and is read from the file. It is safe for
// concurrent use (a call's receive and send paths add to it at once).
type Capture struct {
	mu      sync.Mutex
	path    string
	dur     time.Duration
	created time.Time
	start   time.Time
	max     int64 // bytes the file may take
	size    int64 // bytes written to it (header included)
	n       int   // packets kept; -1: not counted (opened from its file)
	f       *os.File
	bw      *bufio.Writer
	pw      *Writer
	full    bool // no more packets: past the time or the bytes
}

// captureBuffer is the memory a capture holds while it is written.
const captureBuffer = 8 << 10

// recordOverhead is what WritePacket adds to a UDP payload over IPv6: the
// pcap record header, Ethernet, IPv6 and UDP (IPv4's header is 20 less).
const recordOverhead = 16 + 14 + 40 + 8

// NewCapture makes the capture file path (which must not exist) for the
// first dur of packets, at most maxBytes of file.
func NewCapture(path string, dur time.Duration, maxBytes int64) (*Capture, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pcap: capture: %w", err)
	}
	bw := bufio.NewWriterSize(f, captureBuffer)
	pw, err := NewWriter(bw)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return &Capture{path: path, dur: dur, created: time.Now(), max: maxBytes, size: 24, f: f, bw: bw, pw: pw}, nil
}

// OpenCapture is a finished capture already on disk at path.
func OpenCapture(path string) (*Capture, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("pcap: capture: %w", err)
	}
	return &Capture{path: path, created: st.ModTime(), max: st.Size(), size: st.Size(), n: -1, full: true}, nil
}

// Path is the capture's file.
func (c *Capture) Path() string { return c.path }

// Done says the capture takes no more packets at now: its time from the
// first packet is over, its bytes are used up, or (no packet yet) a minute
// more than its time has passed since it was made.
func (c *Capture) Done(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.full:
		return true
	case c.start.IsZero():
		return now.Sub(c.created) > c.dur+time.Minute
	}
	return now.Sub(c.start) > c.dur
}

// Size is the disk the capture holds: its byte budget while it may still
// grow, the file's size once it is closed.
func (c *Capture) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return c.size
	}
	return c.max
}

// Packets is how many packets the capture kept (counted when it was
// written; a capture opened from its file counts them there).
func (c *Capture) Packets() int {
	c.mu.Lock()
	n := c.n
	c.mu.Unlock()
	if n >= 0 {
		return n
	}
	n = 0
	c.Each(func(time.Time, netip.AddrPort, netip.AddrPort, []byte) bool { n++; return true })
	return n
}

// Add writes one packet sent at ts from src to dst, if it is within the
// capture's time and bytes.
func (c *Capture) Add(ts time.Time, src, dst netip.AddrPort, pkt []byte) {
	if len(pkt) > MaxPayload {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full || c.pw == nil {
		return
	}
	if c.start.IsZero() {
		c.start = ts
	} else if ts.Sub(c.start) > c.dur {
		c.finish()
		return
	}
	rec := int64(recordOverhead + len(pkt))
	if src.Addr().Unmap().Is4() {
		rec -= 20 // an IPv4 header
	}
	if c.size+rec > c.max {
		c.finish()
		return
	}
	if c.pw.WritePacket(ts, src, dst, pkt) != nil {
		return // addresses of two families: not written
	}
	c.size += rec
	c.n++
}

// finish takes no more packets and writes what the buffer holds (c.mu held).
func (c *Capture) finish() {
	c.full = true
	if c.bw != nil {
		c.bw.Flush()
	}
}

// Close writes what is buffered and closes the file; the capture stays
// readable.
func (c *Capture) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	c.full = true
	err := c.bw.Flush()
	if st, serr := c.f.Stat(); serr == nil {
		c.size = st.Size()
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f, c.bw, c.pw = nil, nil, nil
	return err
}

// Remove closes the capture and deletes its file.
func (c *Capture) Remove() error {
	c.Close()
	return os.Remove(c.path)
}

// Each calls fn for the packets kept, in the order they were added (which
// is the order of their times, give or take the scheduling of the paths
// that add them), reading the file in constant memory; pkt is valid until
// fn returns. It stops when fn returns false. The buffer is written first
// under the capture's lock, but the file is read without it (a slow reader
// must not stall a live call's RTP): packets added meanwhile are not read.
func (c *Capture) Each(fn func(ts time.Time, src, dst netip.AddrPort, pkt []byte) bool) {
	r, err := c.Open()
	if err != nil {
		return
	}
	defer r.Close()
	for {
		p, err := r.Next()
		if err != nil || !fn(p.Time, p.Src, p.Dst, p.Payload) {
			return
		}
	}
}

// Created is when the capture was made (its file's time when opened from it).
func (c *Capture) Created() time.Time { return c.created }

// CaptureReader reads a capture's packets in the order they were added, in
// constant memory.
type CaptureReader struct {
	f *os.File
	r *PacketReader
}

// Open writes what the capture buffers and opens its file for reading
// (see Each); packets added later are not read.
func (c *Capture) Open() (*CaptureReader, error) {
	c.mu.Lock()
	if c.bw != nil {
		c.bw.Flush()
	}
	c.mu.Unlock()
	f, err := os.Open(c.path)
	if err != nil {
		return nil, err
	}
	r, err := NewPacketReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &CaptureReader{f: f, r: r}, nil
}

// Next returns the next packet, io.EOF after the last (a record cut short,
// by a crash or a write under way, ends the capture too). Its Payload is
// valid until the following call.
func (r *CaptureReader) Next() (Packet, error) {
	p, err := r.r.Next()
	if err != nil && errors.Is(err, ErrTruncated) {
		err = io.EOF
	}
	return p, err
}

// Close closes the file.
func (r *CaptureReader) Close() error { return r.f.Close() }
