package store

import (
	"bytes"
	"testing"
	"time"
)

// FuzzSIPLogSegment reads arbitrary bytes as a segment file (a torn tail,
// a corrupted disk, a file that is not ours): it never panics, what it
// accepts ends within the input, every record it accepts encodes back to
// exactly the bytes it was read from, and the scan ends at the first
// record that does not decode.
func FuzzSIPLogSegment(f *testing.F) {
	t0 := time.Unix(1_700_000_000, 123)
	seg := []byte(sipSegKind.magic)
	for i, m := range []SIPMessage{
		{Time: t0, Domain: "local", Direction: "in", Transport: "udp", Src: "192.0.2.10:5062", Dst: "192.0.2.1:5060", CallID: "a@b", Raw: "INVITE sip:1@local SIP/2.0\r\nCall-ID: a@b\r\n\r\n"},
		{Time: t0.Add(time.Second), Domain: "d", Direction: "out", Transport: "tls", Src: "[2001:db8::1]:5061", Dst: "[2001:db8::2]:5061", Raw: "SIP/2.0 200 OK\r\n\r\n"},
		{},
	} {
		seg = sipSegKind.appendRecord(seg, func(b []byte) []byte { return appendSIPBody(b, &m) })
		f.Add(append([]byte(nil), seg...))
		f.Add(append([]byte(nil), seg[:len(seg)-i-1]...)) // torn
	}
	f.Add([]byte(sipSegKind.magic + "\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("EBSIPLG"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var last int64 = -1
		refused := int64(-1)
		end, err := scanSegment(bytes.NewReader(data), &sipSegKind, func(off int64, body []byte) bool {
			if off <= last || off < segHeaderLen || refused >= 0 {
				t.Fatalf("record at %d after %d (one refused at %d)", off, last, refused)
			}
			var r sipRecord
			if !r.decode(body) {
				refused = off
				return false
			}
			last = off
			m := r.message()
			again := sipSegKind.appendRecord(nil, func(b []byte) []byte { return appendSIPBody(b, &m) })
			if off+int64(len(again)) > int64(len(data)) || !bytes.Equal(again, data[off:off+int64(len(again))]) {
				t.Fatalf("record at %d does not encode back to its bytes", off)
			}
			return true
		})
		if err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		if end > int64(len(data)) || (end != 0 && end < segHeaderLen) || end <= last || (refused >= 0 && end != refused) {
			t.Fatalf("end %d of %d bytes (last record at %d)", end, len(data), last)
		}
	})
}
