package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"time"
)

// A SIP log segment file is sipSegMagic followed by records:
//
//	u32 LE  body length (at most sipMaxRecord)
//	u32 LE  CRC-32 (IEEE) of the body
//	body:   i64 LE  time, Unix nanoseconds
//	        uvarint length + bytes, six times: domain, direction,
//	        transport, src, dst, Call-ID
//	        the raw message: the rest of the body
//
// A reader stops at the first record that is short, too long, fails its
// CRC or does not decode: after a kill -9 or a power cut the last record may
// be torn, and everything before it is whole (records are only appended).
const (
	sipSegMagic     = "EBSIPLG1"
	sipSegHeaderLen = int64(len(sipSegMagic))
	sipRecHeaderLen = 8
	sipMaxRecord    = 1 << 20
)

// sipRecord is one decoded record; its byte fields point into the reader's
// buffer and are valid until the next record is read.
type sipRecord struct {
	time                                           int64
	domain, direction, transport, src, dst, callID []byte
	raw                                            []byte
}

// appendSIPRecord appends m's record (header and body) to b. A message
// whose body would exceed sipMaxRecord is not appended.
func appendSIPRecord(b []byte, m *SIPMessage) []byte {
	n := 8 + len(m.Raw)
	for _, s := range [...]string{m.Domain, m.Direction, m.Transport, m.Src, m.Dst, m.CallID} {
		n += binary.MaxVarintLen64 + len(s)
	}
	if n > sipMaxRecord {
		return b
	}
	start := len(b)
	b = append(b, make([]byte, sipRecHeaderLen)...)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Time.UnixNano()))
	for _, s := range [...]string{m.Domain, m.Direction, m.Transport, m.Src, m.Dst, m.CallID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, m.Raw...)
	body := b[start+sipRecHeaderLen:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.ChecksumIEEE(body))
	return b
}

// decode reads a record's body into r; false when it is not one.
func (r *sipRecord) decode(body []byte) bool {
	if len(body) < 8 {
		return false
	}
	r.time = int64(binary.LittleEndian.Uint64(body))
	body = body[8:]
	for _, f := range [...]*[]byte{&r.domain, &r.direction, &r.transport, &r.src, &r.dst, &r.callID} {
		n, k := binary.Uvarint(body)
		if k <= 0 || n > uint64(len(body)-k) || (k > 1 && body[k-1] == 0) { // short, or not minimal
			return false
		}
		*f = body[k : k+int(n) : k+int(n)]
		body = body[k+int(n):]
	}
	r.raw = body
	return true
}

// message copies the record out of the reader's buffer.
func (r *sipRecord) message() SIPMessage {
	return SIPMessage{
		Time: time.Unix(0, r.time), Domain: string(r.domain), Direction: string(r.direction),
		Transport: string(r.transport), Src: string(r.src), Dst: string(r.dst),
		CallID: string(r.callID), Raw: string(r.raw),
	}
}

// checkSIPRecordHeader returns the body length a record header announces,
// or -1 when no record can be that long.
func checkSIPRecordHeader(h []byte) int {
	n := binary.LittleEndian.Uint32(h)
	if n < 8 || n > sipMaxRecord {
		return -1
	}
	return int(n)
}

// scanSIPSegment reads a segment from its start and calls fn (when not
// nil) with the offset and contents of each whole record, in order. It
// returns the offset just past the last whole record: where appending may
// go on. A segment without the magic header gives 0. Only a read error
// other than the end of the data is returned as an error.
func scanSIPSegment(rd io.Reader, fn func(off int64, r *sipRecord)) (int64, error) {
	br := bufio.NewReaderSize(rd, 32<<10)
	var magic [len(sipSegMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return 0, eofOK(err)
	}
	if string(magic[:]) != sipSegMagic {
		return 0, nil
	}
	off := sipSegHeaderLen
	var hdr [sipRecHeaderLen]byte
	var body []byte
	var rec sipRecord
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, eofOK(err)
		}
		n := checkSIPRecordHeader(hdr[:])
		if n < 0 {
			return off, nil
		}
		if cap(body) < n {
			body = make([]byte, n, max(n, 4<<10))
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return off, eofOK(err)
		}
		if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(hdr[4:]) || !rec.decode(body) {
			return off, nil
		}
		if fn != nil {
			fn(off, &rec)
		}
		off += sipRecHeaderLen + int64(n)
	}
}

// readSIPRecordAt decodes the record at off of a segment scanSIPSegment
// has accepted, reusing buf; r points into the buffer returned.
func readSIPRecordAt(f *os.File, off int64, buf []byte, r *sipRecord) ([]byte, error) {
	var hdr [sipRecHeaderLen]byte
	if _, err := f.ReadAt(hdr[:], off); err != nil {
		return buf, err
	}
	n := checkSIPRecordHeader(hdr[:])
	if n < 0 {
		return buf, errSIPRecord
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := f.ReadAt(buf, off+sipRecHeaderLen); err != nil {
		return buf, err
	}
	if crc32.ChecksumIEEE(buf) != binary.LittleEndian.Uint32(hdr[4:]) || !r.decode(buf) {
		return buf, errSIPRecord
	}
	return buf, nil
}

var errSIPRecord = errors.New("store: SIP log record changed while read")

func eofOK(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
