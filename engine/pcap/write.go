package pcap

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"
)

// Writer writes UDP datagrams and TCP segments as a classic pcap file
// (nanosecond timestamps, Ethernet link type) that tshark, Wireshark and
// sngrep decode as SIP and RTP. It is safe for concurrent use; it reuses one buffer, so writing a
// packet does not allocate.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// MaxPayload is the largest UDP payload one IPv4 datagram carries.
const MaxPayload = 65535 - 20 - 8

// NewWriter writes the pcap global header to w and returns the writer.
func NewWriter(w io.Writer) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d) // nanosecond pcap
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535+14+40) // snap length
	binary.LittleEndian.PutUint32(h[20:], linkEthernet)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap: writing header: %w", err)
	}
	return &Writer{w: w, buf: make([]byte, 0, 2048)}, nil
}

// WritePacket writes one UDP datagram sent at ts from src to dst. Both
// addresses must be of the same family (IPv4, IPv4-mapped IPv6 counts as
// IPv4) and the payload at most MaxPayload bytes.
func (w *Writer) WritePacket(ts time.Time, src, dst netip.AddrPort, payload []byte) error {
	return w.write(ts, src, dst, protoUDP, 0, 0, payload)
}

// WriteSegment writes one TCP segment (flags PSH and ACK) sent at ts from
// src to dst with sequence number seq and acknowledgement number ack; the
// caller keeps each direction's sequence numbers running so that a reader
// reassembles the stream. The payload is at most MaxSegment bytes.
func (w *Writer) WriteSegment(ts time.Time, src, dst netip.AddrPort, seq, ack uint32, payload []byte) error {
	if len(payload) > MaxSegment {
		return fmt.Errorf("pcap: segment of %d bytes, more than %d fit in one", len(payload), MaxSegment)
	}
	return w.write(ts, src, dst, protoTCP, seq, ack, payload)
}

// MaxSegment is the largest TCP payload one IPv4 packet carries.
const MaxSegment = 65535 - 20 - 20

const (
	protoTCP = 6
	protoUDP = 17
)

func (w *Writer) write(ts time.Time, src, dst netip.AddrPort, proto uint8, seq, ack uint32, payload []byte) error {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if !sa.IsValid() || !da.IsValid() {
		return fmt.Errorf("pcap: source %v or destination %v is not a valid address", src, dst)
	}
	if sa.Is4() != da.Is4() {
		return fmt.Errorf("pcap: source %v and destination %v are of different IP families", src, dst)
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("pcap: payload of %d bytes, more than %d fit in one datagram", len(payload), MaxPayload)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf[:0]
	b = append(b, make16...) // pcap record header, filled below
	// Ethernet: locally administered MACs, so that dissectors are happy.
	b = append(b, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1)
	l4Len := 8 + len(payload)
	if proto == protoTCP {
		l4Len = 20 + len(payload)
	}
	var pseudo uint32
	if sa.Is4() {
		b = append(b, 0x08, 0x00)
		ip := len(b)
		s4, d4 := sa.As4(), da.As4()
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+l4Len))
		b = append(b, 0, 0, 0x40, 0, 64, proto, 0, 0) // id, DF, TTL 64, protocol, checksum
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
		binary.BigEndian.PutUint16(b[ip+10:], ^fold(sum(b[ip:ip+20], 0)))
		pseudo = sum(s4[:], sum(d4[:], uint32(proto)+uint32(l4Len)))
	} else {
		b = append(b, 0x86, 0xdd)
		s16, d16 := sa.As16(), da.As16()
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(l4Len))
		b = append(b, proto, 64)
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
		pseudo = sum(s16[:], sum(d16[:], uint32(proto)+uint32(l4Len)))
	}
	l4 := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	csAt := l4 + 6
	if proto == protoTCP {
		b = binary.BigEndian.AppendUint32(b, seq)
		b = binary.BigEndian.AppendUint32(b, ack)
		b = append(b, 5<<4, 0x18, 0xff, 0xff, 0, 0, 0, 0) // 20-byte header, PSH+ACK, window, checksum, urgent
		csAt = l4 + 16
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(l4Len))
		b = append(b, 0, 0)
	}
	b = append(b, payload...)
	cs := ^fold(sum(b[l4:], pseudo))
	if cs == 0 && proto == protoUDP {
		cs = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(b[csAt:], cs)
	n := len(b) - 16
	binary.LittleEndian.PutUint32(b[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(b[4:], uint32(ts.Nanosecond()))
	binary.LittleEndian.PutUint32(b[8:], uint32(n))
	binary.LittleEndian.PutUint32(b[12:], uint32(n))
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("pcap: writing packet: %w", err)
	}
	return nil
}

var make16 = make([]byte, 16)

// sum adds b as big-endian 16-bit words to acc (RFC 1071).
func sum(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
