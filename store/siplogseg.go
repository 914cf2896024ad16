package store

import (
	"encoding/binary"
	"time"
)

// A SIP log record's body (the segment format is segments.go's):
//
//	i64 LE  time, Unix nanoseconds
//	uvarint length + bytes, six times: domain, direction, transport, src,
//	        dst, Call-ID
//	the raw message: the rest of the body
var sipSegKind = segKind{
	what:      "SIP log",
	magic:     "EBSIPLG1",
	maxRecord: 1 << 20,
	valid:     func(body []byte) bool { var r sipRecord; return r.decode(body) },
}

// sipRecord is one decoded record; its byte fields point into the reader's
// buffer and are valid until the next record is read.
type sipRecord struct {
	time                                           int64
	domain, direction, transport, src, dst, callID []byte
	raw                                            []byte
}

// appendSIPBody appends m's record body to b; nothing when it would be
// longer than a record may be.
func appendSIPBody(b []byte, m *SIPMessage) []byte {
	n := 8 + len(m.Raw)
	for _, s := range [...]string{m.Domain, m.Direction, m.Transport, m.Src, m.Dst, m.CallID} {
		n += binary.MaxVarintLen64 + len(s)
	}
	if n > sipSegKind.maxRecord {
		return b
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Time.UnixNano()))
	for _, s := range [...]string{m.Domain, m.Direction, m.Transport, m.Src, m.Dst, m.CallID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, m.Raw...)
}

// decode reads a record's body into r; false when it is not one.
func (r *sipRecord) decode(body []byte) bool {
	if len(body) < 8 {
		return false
	}
	r.time = int64(binary.LittleEndian.Uint64(body))
	body = body[8:]
	for _, f := range [...]*[]byte{&r.domain, &r.direction, &r.transport, &r.src, &r.dst, &r.callID} {
		var ok bool
		if *f, body, ok = cutUvarintBytes(body); !ok {
			return false
		}
	}
	r.raw = body
	return true
}

// cutUvarintBytes cuts a uvarint length and that many bytes off the front
// of b; false when b is short or the length not minimally encoded (so that
// every record decodes from exactly one encoding).
func cutUvarintBytes(b []byte) (field, rest []byte, ok bool) {
	n, rest, ok := cutUvarint(b)
	if !ok || n > uint64(len(rest)) {
		return nil, b, false
	}
	return rest[:n:n], rest[n:], true
}

// message copies the record out of the reader's buffer.
func (r *sipRecord) message() SIPMessage {
	return SIPMessage{
		Time: time.Unix(0, r.time), Domain: string(r.domain), Direction: string(r.direction),
		Transport: string(r.transport), Src: string(r.src), Dst: string(r.dst),
		CallID: string(r.callID), Raw: string(r.raw),
	}
}
