package store

import (
	"encoding/binary"
	"math"
	"time"
)

// A call history record's body (the segment format is segments.go's):
//
//	i64 LE   start, Unix nanoseconds
//	u8       flags: 1 answered, 2 ended
//	varint   answer − start in ns, when answered
//	varint   end − start in ns, when ended
//	uvarint  where the call's previous version is (a segPos), 0 for none
//	varint   RTP packets lost
//	u64 LE   RTP jitter in ms, float64 bits
//	uvarint length + bytes, ten times: Call-ID, kind, from, to, result,
//	         direction, local, remote, trunk, cause
//
// The domain is the folder's. Every field is minimally encoded and the
// body ends with the last string, so a body decodes from one encoding only.
var callSegKind = segKind{
	what:      "call history",
	magic:     "EBCALLS1",
	maxRecord: 16 << 10,
	valid:     func(body []byte) bool { var r callRec; return r.decode(body) },
	durable:   true,
}

const (
	callAnswered = 1 << iota
	callEnded
)

// appendCallBody appends r's record body, pointing at its previous
// version prev, to b.
func appendCallBody(b []byte, r *CallRecord, prev segPos) []byte {
	start := r.Start.UnixNano()
	b = binary.LittleEndian.AppendUint64(b, uint64(start))
	var flags byte
	if !r.Answer.IsZero() {
		flags |= callAnswered
	}
	if !r.End.IsZero() {
		flags |= callEnded
	}
	b = append(b, flags)
	if flags&callAnswered != 0 {
		b = binary.AppendVarint(b, r.Answer.UnixNano()-start)
	}
	if flags&callEnded != 0 {
		b = binary.AppendVarint(b, r.End.UnixNano()-start)
	}
	b = binary.AppendUvarint(b, uint64(prev))
	b = binary.AppendVarint(b, r.RTPLost)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.RTPJitter))
	for _, s := range [...]string{r.CallID, r.Kind, r.From, r.To, r.Result, r.Direction, r.Local, r.Remote, r.Trunk, r.Cause} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// callRec is one decoded record body; its strings point into the reader's
// buffer and are valid until the next record is read.
type callRec struct {
	start, answer, end int64 // answer and end as offsets from start
	flags              byte
	prev               segPos
	lost               int64
	jitter             uint64
	strs               [10][]byte // as appendCallBody writes them; strs[0] is the Call-ID
}

// decode reads a record's body into r; false when it is not one.
func (r *callRec) decode(body []byte) bool {
	if len(body) < 9 {
		return false
	}
	r.start = int64(binary.LittleEndian.Uint64(body))
	r.flags = body[8]
	rest := body[9:]
	if r.flags&^(callAnswered|callEnded) != 0 {
		return false
	}
	var ok bool
	r.answer, r.end = 0, 0
	if r.flags&callAnswered != 0 {
		if r.answer, rest, ok = cutVarint(rest); !ok {
			return false
		}
	}
	if r.flags&callEnded != 0 {
		if r.end, rest, ok = cutVarint(rest); !ok {
			return false
		}
	}
	prev, rest, ok := cutUvarint(rest)
	if !ok {
		return false
	}
	r.prev = segPos(prev)
	if r.lost, rest, ok = cutVarint(rest); !ok || len(rest) < 8 {
		return false
	}
	r.jitter, rest = binary.LittleEndian.Uint64(rest), rest[8:]
	for i := range r.strs {
		if r.strs[i], rest, ok = cutUvarintBytes(rest); !ok {
			return false
		}
	}
	return len(rest) == 0
}

// cutUvarint cuts a minimally encoded uvarint off the front of b.
func cutUvarint(b []byte) (uint64, []byte, bool) {
	v, k := binary.Uvarint(b)
	if k <= 0 || (k > 1 && b[k-1] == 0) {
		return 0, b, false
	}
	return v, b[k:], true
}

// cutVarint cuts a minimally encoded varint off the front of b.
func cutVarint(b []byte) (int64, []byte, bool) {
	v, k := binary.Varint(b)
	if k <= 0 || (k > 1 && b[k-1] == 0) {
		return 0, b, false
	}
	return v, b[k:], true
}

// record copies the record out of the reader's buffer.
func (r *callRec) record(domain string) CallRecord {
	c := CallRecord{
		Domain: domain, Start: time.Unix(0, r.start), RTPLost: r.lost, RTPJitter: math.Float64frombits(r.jitter),
		CallID: string(r.strs[0]), Kind: string(r.strs[1]), From: string(r.strs[2]), To: string(r.strs[3]),
		Result: string(r.strs[4]), Direction: string(r.strs[5]), Local: string(r.strs[6]), Remote: string(r.strs[7]),
		Trunk: string(r.strs[8]), Cause: string(r.strs[9]),
	}
	if r.flags&callAnswered != 0 {
		c.Answer = time.Unix(0, r.start+r.answer)
	}
	if r.flags&callEnded != 0 {
		c.End = time.Unix(0, r.start+r.end)
	}
	return c
}
