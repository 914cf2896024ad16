package dc09

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary frames to Parse: it must not panic, and whatever
// it accepts must encode back to a frame that parses to the same message.
func FuzzParse(f *testing.F) {
	for _, c := range realFrames {
		f.Add([]byte(c.frame))
	}
	key := bytes.Repeat([]byte{7}, 16)
	enc, _ := Encode(nil, Message{ID: IDADMCID, Encrypted: true, Seq: 3, Line: "0", Account: "1234", Data: "#1234|1130 01 015", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, key)
	f.Add(enc)
	nak, _ := Encode(nil, Nak(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), nil)
	f.Add(nak)
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Parse(frame, func(string) []byte { return key })
		if err != nil {
			return
		}
		out, err := Encode(nil, m, key)
		if err != nil {
			return // e.g. an id with characters Encode refuses
		}
		m2, err := Parse(out, func(string) []byte { return key })
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", out, err)
		}
		if m2.ID != m.ID || m2.Seq != m.Seq || m2.Account != m.Account || m2.Data != m.Data || !m2.Time.Equal(m.Time) || len(m2.Ext) != len(m.Ext) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

// FuzzParseReply feeds arbitrary replies to ParseReply: it must not panic,
// and what it takes is a reply (ACK, NAK or DUH) with a sequence in range.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{`"ACK"0001NoneL0#4321[]`, `"ACK"0002L0#4321[]`, `"DUH"0003R1L0#12[]`, `"NAK"0000R0L0A0[]_10:00:00,12-07-2026`, `"*ACK"0004L0#1234[0011]`} {
		f.Add(frameOf(s))
		f.Add([]byte(s))
	}
	key := bytes.Repeat([]byte{7}, 16)
	enc, _ := Encode(nil, Message{ID: IDAck, Encrypted: true, Seq: 3, Line: "0", Account: "1234", Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, key)
	f.Add(enc)
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, _, err := ParseReply(frame, func(string) []byte { return key })
		if err != nil {
			return
		}
		if m.ID != IDAck && m.ID != IDNak && m.ID != IDDuh || m.Seq < 0 || m.Seq > MaxSeq {
			t.Fatalf("%q taken as %+v", frame, m)
		}
	})
}
