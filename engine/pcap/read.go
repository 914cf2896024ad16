package pcap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"
)

// Packet is one UDP datagram found in a capture.
type Packet struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Payload  []byte // aliases the capture data
}

// ErrTruncated is wrapped by errors about captures that end mid-record.
var ErrTruncated = errors.New("truncated")

// Link types (tcpdump.org/linktypes.html).
const (
	linkNull     = 0
	linkEthernet = 1
	linkRaw      = 101
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// IsCapture reports whether data starts like a pcap or pcapng file.
func IsCapture(data []byte) bool {
	if len(data) < 4 {
		return false
	}
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a:
		return true
	}
	return false
}

// ReadUDP returns the UDP datagrams of a pcap or pcapng capture held in
// memory, in file order, as a PacketReader reads them.
func ReadUDP(data []byte) ([]Packet, error) {
	r, err := NewPacketReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var out []Packet
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		p.Payload = bytes.Clone(p.Payload)
		out = append(out, p)
	}
}

// maxRecord is the largest record or block read into memory: the largest
// snap length tcpdump and Wireshark use. Larger ones cannot hold a whole
// UDP datagram of audio and are skipped unread, so that a hostile length
// cannot ask for gigabytes.
const maxRecord = 262144

// PacketReader reads the UDP datagrams of a pcap or pcapng capture one at
// a time, in file order, in constant memory, so that captures of hours are
// read as fast as short ones. Packets that are not UDP over IPv4/IPv6, IP
// fragments and records cut short by the snap length are skipped; a file
// that ends inside a record is an error.
type PacketReader struct {
	r    *bufio.Reader
	ng   bool
	bo   binary.ByteOrder
	nano bool   // classic: nanosecond timestamps
	link uint32 // classic: link type
	// pcapng interfaces of the current section
	ifaces []ngIface
	buf    []byte
	n      int   // record or block number, from 1
	off    int64 // file offset of the next record or block
}

// NewPacketReader reads the capture header of r.
func NewPacketReader(r io.Reader) (*PacketReader, error) {
	pr := &PacketReader{r: bufio.NewReaderSize(r, 64<<10), buf: make([]byte, 2048), bo: binary.LittleEndian}
	head, _ := pr.r.Peek(24)
	if len(head) < 4 {
		return nil, fmt.Errorf("pcap: %d bytes, too short for a capture header: %w", len(head), ErrTruncated)
	}
	if binary.LittleEndian.Uint32(head) == 0x0a0d0d0a {
		pr.ng = true
		return pr, nil
	}
	switch binary.LittleEndian.Uint32(head) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		pr.nano = true
	case 0xd4c3b2a1:
		pr.bo = binary.BigEndian
	case 0x4d3cb2a1:
		pr.bo, pr.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("pcap: not a pcap or pcapng file (magic %#08x)", binary.LittleEndian.Uint32(head))
	}
	if len(head) < 24 {
		return nil, fmt.Errorf("pcap: %d bytes, global header needs 24: %w", len(head), ErrTruncated)
	}
	pr.link = pr.bo.Uint32(head[20:]) & 0xFFFF
	pr.r.Discard(24)
	pr.off = 24
	return pr, nil
}

// Next returns the next UDP datagram, or io.EOF after the last one. Its
// Payload is valid until the following call.
func (r *PacketReader) Next() (Packet, error) {
	for {
		r.n++
		var p Packet
		var ok bool
		var err error
		if r.ng {
			p, ok, err = r.nextNG()
		} else {
			p, ok, err = r.nextClassic()
		}
		if err != nil || ok {
			return p, err
		}
	}
}

// read fills the first n bytes of the buffer, growing it up to maxRecord.
func (r *PacketReader) read(n int) ([]byte, int, error) {
	if n > len(r.buf) {
		r.buf = make([]byte, n)
	}
	got, err := io.ReadFull(r.r, r.buf[:n])
	r.off += int64(got)
	return r.buf[:got], got, err
}

// skip discards n bytes of a record too large to read, returning how many
// there were.
func (r *PacketReader) skip(n int64) (int64, error) {
	got, err := io.CopyN(io.Discard, r.r, n)
	r.off += got
	return got, err
}

func (r *PacketReader) nextClassic() (Packet, bool, error) {
	at := r.off
	h, got, err := r.read(16)
	if got == 0 && err == io.EOF {
		return Packet{}, false, io.EOF
	}
	if err != nil {
		return Packet{}, false, fmt.Errorf("pcap: record %d at offset %d: header needs 16 bytes, %d left: %w", r.n, at, got, ErrTruncated)
	}
	bo := r.bo
	sec, frac := bo.Uint32(h[0:]), bo.Uint32(h[4:])
	incl, orig := bo.Uint32(h[8:]), bo.Uint32(h[12:])
	if incl > maxRecord {
		if got, err := r.skip(int64(incl)); err != nil {
			return Packet{}, false, fmt.Errorf("pcap: record %d at offset %d: says %d bytes, %d left: %w", r.n, at, incl, got, ErrTruncated)
		}
		return Packet{}, false, nil
	}
	pkt, got, err := r.read(int(incl))
	if err != nil {
		return Packet{}, false, fmt.Errorf("pcap: record %d at offset %d: says %d bytes, %d left: %w", r.n, at, incl, got, ErrTruncated)
	}
	if incl < orig {
		return Packet{}, false, nil // cut by the snap length
	}
	ns := int64(frac) * 1000
	if r.nano {
		ns = int64(frac)
	}
	p, ok := decodeLink(r.link, pkt)
	if ok {
		p.Time = time.Unix(int64(sec), ns).UTC()
	}
	return p, ok, nil
}

func (r *PacketReader) nextNG() (Packet, bool, error) {
	at := r.off
	h, got, err := r.read(12)
	if got == 0 && err == io.EOF {
		return Packet{}, false, io.EOF
	}
	if err != nil {
		return Packet{}, false, fmt.Errorf("pcapng: block %d at offset %d: header needs 12 bytes, %d left: %w", r.n, at, got, ErrTruncated)
	}
	typ := r.bo.Uint32(h)
	if typ == 0x0a0d0d0a {
		// Section header: its byte-order magic fixes the order of the
		// whole section (pcapng §4.1).
		switch binary.LittleEndian.Uint32(h[8:]) {
		case 0x1a2b3c4d:
			r.bo = binary.LittleEndian
		case 0x4d3c2b1a:
			r.bo = binary.BigEndian
		default:
			return Packet{}, false, fmt.Errorf("pcapng: section header at offset %d: bad byte-order magic %#08x", at, binary.LittleEndian.Uint32(h[8:]))
		}
		r.ifaces = r.ifaces[:0]
	}
	bo := r.bo
	blen := bo.Uint32(h[4:])
	if blen < 12 || blen%4 != 0 {
		return Packet{}, false, fmt.Errorf("pcapng: block %d at offset %d: bad length %d", r.n, at, blen)
	}
	truncated := func(left int64) error {
		return fmt.Errorf("pcapng: block %d at offset %d: says %d bytes, %d left: %w", r.n, at, blen, left, ErrTruncated)
	}
	if blen > maxRecord {
		if typ == 1 {
			return Packet{}, false, fmt.Errorf("pcapng: interface block %d at offset %d: %d bytes, more than %d", r.n, at, blen, maxRecord)
		}
		if got, err := r.skip(int64(blen) - 12); err != nil {
			return Packet{}, false, truncated(12 + got)
		}
		return Packet{}, false, nil
	}
	first := [4]byte(h[8:12])
	if int(blen)-8 > len(r.buf) {
		r.buf = make([]byte, blen-8)
	}
	copy(r.buf, first[:])
	got, err = io.ReadFull(r.r, r.buf[4:blen-8])
	r.off += int64(got)
	if err != nil {
		return Packet{}, false, truncated(12 + int64(got))
	}
	body := r.buf[:blen-12]
	n := r.n
	switch typ {
	case 1: // interface description
		if len(body) < 8 {
			return Packet{}, false, fmt.Errorf("pcapng: interface block %d too short (%d bytes)", n, len(body))
		}
		ifc := ngIface{link: uint32(bo.Uint16(body)), snap: bo.Uint32(body[4:]), res: 6}
		opts := body[8:]
		for len(opts) >= 4 {
			code, l := bo.Uint16(opts), int(bo.Uint16(opts[2:]))
			if code == 0 || 4+l > len(opts) {
				break
			}
			if code == 9 && l >= 1 { // if_tsresol
				v := opts[4]
				ifc.res, ifc.bin = int(v&0x7f), v&0x80 != 0
				if !ifc.bin && ifc.res > 18 {
					return Packet{}, false, fmt.Errorf("pcapng: interface block %d: if_tsresol 10^-%d is finer than 1e-18 s", n, ifc.res)
				}
			}
			opts = opts[4+(l+3)&^3:]
		}
		if len(r.ifaces) == maxInterfaces {
			return Packet{}, false, fmt.Errorf("pcapng: interface block %d: more than %d interfaces in a section", n, maxInterfaces)
		}
		r.ifaces = append(r.ifaces, ifc)
	case 6, 3, 2: // enhanced, simple, obsolete packet blocks
		var ifID int
		var ts uint64
		var pkt []byte
		var orig uint32
		switch typ {
		case 6, 2:
			if len(body) < 20 {
				return Packet{}, false, fmt.Errorf("pcapng: packet block %d too short (%d bytes)", n, len(body))
			}
			if typ == 6 {
				ifID = int(bo.Uint32(body))
			} else {
				ifID = int(bo.Uint16(body))
			}
			ts = uint64(bo.Uint32(body[4:]))<<32 | uint64(bo.Uint32(body[8:]))
			capLen := bo.Uint32(body[12:])
			orig = bo.Uint32(body[16:])
			if uint64(capLen) > uint64(len(body)-20) {
				return Packet{}, false, fmt.Errorf("pcapng: packet block %d says %d captured bytes, %d in block: %w", n, capLen, len(body)-20, ErrTruncated)
			}
			pkt = body[20 : 20+capLen]
		case 3:
			if len(body) < 4 || len(r.ifaces) == 0 {
				return Packet{}, false, fmt.Errorf("pcapng: simple packet block %d without interface or too short", n)
			}
			orig = bo.Uint32(body)
			capLen := min(uint64(orig), uint64(len(body)-4))
			if s := r.ifaces[0].snap; s != 0 && uint64(s) < capLen {
				capLen = uint64(s)
			}
			pkt = body[4 : 4+capLen]
		}
		if ifID >= len(r.ifaces) {
			return Packet{}, false, fmt.Errorf("pcapng: packet block %d names interface %d, %d described", n, ifID, len(r.ifaces))
		}
		if uint64(len(pkt)) < uint64(orig) {
			return Packet{}, false, nil
		}
		p, ok := decodeLink(r.ifaces[ifID].link, pkt)
		if ok {
			p.Time = time.Unix(0, r.ifaces[ifID].ns(ts)).UTC()
		}
		return p, ok, nil
	}
	return Packet{}, false, nil
}

// maxInterfaces bounds the interfaces of one pcapng section (each costs
// memory for as long as the section lasts).
const maxInterfaces = 1024

type ngIface struct {
	link uint32
	snap uint32
	// if_tsresol (pcapng §4.2): a timestamp unit of 10^−res seconds, or
	// 2^−res if bin.
	res int
	bin bool
}

// ns converts a timestamp in the interface's units to nanoseconds.
func (i ngIface) ns(ts uint64) int64 {
	switch {
	case i.bin:
		return int64(float64(ts) * math.Pow(2, -float64(i.res)) * 1e9)
	case i.res <= 9:
		return int64(ts) * int64(math.Pow10(9-i.res))
	default:
		return int64(ts / uint64(math.Pow10(i.res-9)))
	}
}

// decodeLink strips the link header and decodes IP and UDP.
func decodeLink(link uint32, b []byte) (Packet, bool) {
	var etype uint16
	switch link {
	case linkEthernet:
		if len(b) < 14 {
			return Packet{}, false
		}
		etype = binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		for (etype == 0x8100 || etype == 0x88a8) && len(b) >= 4 { // VLAN tags
			etype = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
	case linkNull:
		if len(b) < 4 {
			return Packet{}, false
		}
		b = b[4:]
	case linkRaw, linkIPv4, linkIPv6:
	case linkSLL:
		if len(b) < 16 {
			return Packet{}, false
		}
		etype = binary.BigEndian.Uint16(b[14:])
		b = b[16:]
	case linkSLL2:
		if len(b) < 20 {
			return Packet{}, false
		}
		etype = binary.BigEndian.Uint16(b[0:])
		b = b[20:]
	default:
		return Packet{}, false
	}
	if etype != 0 && etype != 0x0800 && etype != 0x86dd {
		return Packet{}, false
	}
	return decodeIP(b)
}

func decodeIP(b []byte) (Packet, bool) {
	if len(b) < 1 {
		return Packet{}, false
	}
	var src, dst netip.Addr
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return Packet{}, false
		}
		ihl := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || total < ihl || total > len(b) || b[9] != 17 {
			return Packet{}, false
		}
		if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 { // MF flag or offset: a fragment
			return Packet{}, false
		}
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		b = b[ihl:total]
	case 6:
		if len(b) < 40 {
			return Packet{}, false
		}
		plen := int(binary.BigEndian.Uint16(b[4:]))
		next := b[6]
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		if 40+plen > len(b) {
			return Packet{}, false
		}
		b = b[40 : 40+plen]
		for next == 0 || next == 43 || next == 60 { // hop-by-hop, routing, destination options
			if len(b) < 8 {
				return Packet{}, false
			}
			l := 8 + int(b[1])*8
			if l > len(b) {
				return Packet{}, false
			}
			next = b[0]
			b = b[l:]
		}
		if next != 17 {
			return Packet{}, false
		}
	default:
		return Packet{}, false
	}
	if len(b) < 8 {
		return Packet{}, false
	}
	ulen := int(binary.BigEndian.Uint16(b[4:]))
	if ulen < 8 || ulen > len(b) {
		return Packet{}, false
	}
	return Packet{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
		Payload: b[8:ulen],
	}, true
}
