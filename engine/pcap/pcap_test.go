package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/pion/rtp"
)

var (
	phone = netip.MustParseAddrPort("192.168.1.10:4000")
	gw    = netip.MustParseAddrPort("192.168.1.1:10002")
	t0    = time.Unix(1700000000, 0).UTC()
)

const sdp = "v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

func invite() []byte {
	return []byte("INVITE sip:100@192.168.1.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:1@192.168.1.10>;tag=1\r\nTo: <sip:100@192.168.1.1>\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:1@192.168.1.10>\r\nContent-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(sdp)) + sdp)
}

type call struct {
	pcm    []int16 // what the phone sent, as G.711 decodes it
	events []dsp.DigitEvent
	file   []byte
}

// makeCall writes a capture: SIP INVITE with SDP, the phone's A-law RTP
// (20 ms packets, one lost, two swapped), RFC 4733 events for "5" and "#",
// and a shorter stream the other way.
func makeCall(t *testing.T) call {
	t.Helper()
	pcm, err := dsp.AppendDTMF(make([]int16, 800), "12", dsp.DTMFGenConfig{LowDBm0: -6, HighDBm0: -4, OnMs: 100, OffMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	pcm = append(pcm, make([]int16, 1600-len(pcm)%160)...)
	alaw := make([]byte, len(pcm))
	dsp.AlawEncode(alaw, pcm)
	want := make([]int16, len(pcm))
	dsp.AlawDecode(want, alaw)
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WritePacket(t0, netip.MustParseAddrPort("192.168.1.10:5060"), netip.MustParseAddrPort("192.168.1.1:5060"), invite()))
	const ts0 = 0xFFFFF000 // wraps inside the call
	var pkts [][]byte
	lost := 7
	for i := 0; i*160 < len(alaw); i++ {
		if i == lost {
			for j := range 160 {
				want[i*160+j] = 0
			}
			continue
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(100 + i), Timestamp: ts0 + uint32(i*160), SSRC: 0x1234}, Payload: alaw[i*160 : (i+1)*160]}
		b, _ := p.Marshal()
		pkts = append(pkts, b)
	}
	pkts[3], pkts[4] = pkts[4], pkts[3]
	// RFC 4733 §2.5: three packets per event, the last with E set, then
	// the end repeated; all carry the event's start timestamp.
	var events []dsp.DigitEvent
	for k, ev := range []struct {
		code byte
		at   uint32
	}{{5, 3200}, {11, 8000}} {
		for j, dur := range []uint16{160, 320, 640, 640, 640} {
			e := byte(0)
			if j >= 3 {
				e = 0x80
			}
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: j == 0, SequenceNumber: uint16(500 + 10*k + j), Timestamp: ts0 + ev.at, SSRC: 0x1234},
				Payload: []byte{ev.code, e | 10, byte(dur >> 8), byte(dur)}}
			b, _ := p.Marshal()
			pkts = append(pkts, b)
		}
		events = append(events, dsp.DigitEvent{Key: "0123456789*#"[ev.code], Start: int64(ev.at), End: int64(ev.at) + 640})
	}
	for i, b := range pkts {
		must(w.WritePacket(t0.Add(time.Duration(i)*20*time.Millisecond), phone, gw, b))
		if i%3 == 0 { // the other direction, sparser
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 0x9999}, Payload: make([]byte, 160)}
			b, _ := p.Marshal()
			must(w.WritePacket(t0.Add(time.Duration(i)*20*time.Millisecond), gw, phone, b))
		}
	}
	return call{pcm: want, events: events, file: buf.Bytes()}
}

func TestReadRTP(t *testing.T) {
	c := makeCall(t)
	st, err := ReadRTP(c.file)
	if err != nil {
		t.Fatal(err)
	}
	if st.SSRC != 0x1234 || st.PayloadType != 8 || st.Streams != 2 {
		t.Errorf("stream %#x pt %d of %d streams, want 0x1234, 8, 2", st.SSRC, st.PayloadType, st.Streams)
	}
	if len(st.PCM) != len(c.pcm) {
		t.Fatalf("%d samples, want %d", len(st.PCM), len(c.pcm))
	}
	for i := range c.pcm {
		if st.PCM[i] != c.pcm[i] {
			t.Fatalf("sample %d: %d, want %d (lost packet silent, swapped ones in place)", i, st.PCM[i], c.pcm[i])
		}
	}
	if fmt.Sprint(st.Events) != fmt.Sprint(c.events) {
		t.Errorf("events %+v, want %+v", st.Events, c.events)
	}
}

func TestReadRTPWithoutSDP(t *testing.T) {
	// Events recognised by shape when no SDP names the payload type.
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	for i := range 10 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 7}, Payload: bytes.Repeat([]byte{0xff}, 160)}
		b, _ := p.Marshal()
		_ = w.WritePacket(t0, phone, gw, b)
	}
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Timestamp: 320, SSRC: 7}, Payload: []byte{12, 0x80, 0, 200}}
	b, _ := p.Marshal()
	_ = w.WritePacket(t0, phone, gw, b)
	st, err := ReadRTP(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if st.PayloadType != 0 || len(st.PCM) != 1600 || len(st.Events) != 1 || st.Events[0] != (dsp.DigitEvent{Key: 'A', Start: 320, End: 520}) {
		t.Errorf("got pt %d, %d samples, events %+v", st.PayloadType, len(st.PCM), st.Events)
	}
}

func TestWriterIsValidForTshark(t *testing.T) {
	bin := testkit.NeedTool(t, "tshark")
	c := makeCall(t)
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	buf.Write(c.file[24:]) // the same records after our own header
	if err := w.WritePacket(t0, netip.MustParseAddrPort("[2001:db8::1]:5060"), netip.MustParseAddrPort("[2001:db8::2]:5060"), invite()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "call.pcap")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-r", p, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-T", "fields", "-e", "frame.protocols", "-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "rtpevent.event_id").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	counts := map[string]int{}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) < 3 {
			t.Fatalf("tshark line %q", l)
		}
		counts[f[0]]++
		if f[2] != "1" || (strings.Contains(f[0], ":ip:") && f[1] != "1") {
			t.Errorf("tshark: checksums not good in %q (1 = good)", l)
		}
	}
	if counts["eth:ethertype:ip:udp:sip:sdp"] != 1 || counts["eth:ethertype:ipv6:udp:sip:sdp"] != 1 ||
		counts["eth:ethertype:ip:udp:rtp"] < 20 || counts["eth:ethertype:ip:udp:rtp:rtpevent"] != 10 {
		t.Errorf("tshark saw %v", counts)
	}
}

// toNG rewrites a classic little-endian pcap as pcapng (section header,
// interface with if_tsresol 9, enhanced packet blocks), big-endian if asked.
func toNG(t *testing.T, classic []byte, bo interface {
	binary.ByteOrder
	binary.AppendByteOrder
}) []byte {
	var out []byte
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		out = bo.AppendUint32(out, typ)
		out = bo.AppendUint32(out, n)
		out = append(out, body...)
		out = bo.AppendUint32(out, n)
	}
	shb := bo.AppendUint32(nil, 0x1a2b3c4d)
	shb = bo.AppendUint16(shb, 1)
	shb = bo.AppendUint16(shb, 0)
	shb = bo.AppendUint64(shb, ^uint64(0))
	block(0x0a0d0d0a, shb)
	idb := bo.AppendUint16(nil, 1)
	idb = bo.AppendUint16(idb, 0)
	idb = bo.AppendUint32(idb, 0)
	idb = bo.AppendUint16(idb, 9) // if_tsresol
	idb = bo.AppendUint16(idb, 1)
	idb = append(idb, 9, 0, 0, 0)
	idb = append(idb, 0, 0, 0, 0) // opt_endofopt
	block(1, idb)
	for off := 24; off < len(classic); {
		le := binary.LittleEndian
		sec, ns, n := le.Uint32(classic[off:]), le.Uint32(classic[off+4:]), le.Uint32(classic[off+8:])
		ts := uint64(sec)*1e9 + uint64(ns)
		epb := bo.AppendUint32(nil, 0)
		epb = bo.AppendUint32(epb, uint32(ts>>32))
		epb = bo.AppendUint32(epb, uint32(ts))
		epb = bo.AppendUint32(epb, n)
		epb = bo.AppendUint32(epb, n)
		epb = append(epb, classic[off+16:off+16+int(n)]...)
		block(6, epb)
		off += 16 + int(n)
	}
	return out
}

func TestPcapng(t *testing.T) {
	c := makeCall(t)
	want, err := ReadUDP(c.file)
	if err != nil {
		t.Fatal(err)
	}
	for _, bo := range []interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}{binary.LittleEndian, binary.BigEndian} {
		ng := toNG(t, c.file, bo)
		if !IsCapture(ng) {
			t.Fatal("IsCapture(pcapng) = false")
		}
		got, err := ReadUDP(ng)
		if err != nil {
			t.Fatalf("%v: %v", bo, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%v: %d packets, want %d", bo, len(got), len(want))
		}
		for i := range got {
			if !got[i].Time.Equal(want[i].Time) || got[i].Src != want[i].Src || got[i].Dst != want[i].Dst || !bytes.Equal(got[i].Payload, want[i].Payload) {
				t.Fatalf("%v: packet %d differs: %v %v→%v", bo, i, got[i].Time, got[i].Src, got[i].Dst)
			}
		}
		st, err := ReadRTP(ng)
		if err != nil || len(st.Events) != 2 {
			t.Fatalf("%v: ReadRTP: %v %+v", bo, err, st)
		}
	}
}

func TestCaptureErrors(t *testing.T) {
	c := makeCall(t)
	ng := toNG(t, c.file, binary.LittleEndian)
	for _, tc := range []struct {
		name, want string
		data       []byte
		truncated  bool
	}{
		{"empty", "too short", nil, true},
		{"not a capture", "not a pcap or pcapng", []byte("RIFF0000WAVEfmt 0000000000000000"), false},
		{"cut global header", "global header needs 24", c.file[:20], true},
		{"cut record header", "record 2 at offset", c.file[:24+16+42+len(invite())+10], true},
		{"cut record", "says 58 bytes, 53 left", c.file[:len(c.file)-5], true},
		{"cut pcapng block", "says 248 bytes, 21 left", ng[:4520+21], true},
		{"no RTP", "no RTP stream", c.file[:24+16+42+len(invite())], false},
	} {
		_, err := ReadRTP(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
			continue
		}
		if errors.Is(err, ErrTruncated) != tc.truncated {
			t.Errorf("%s: errors.Is(ErrTruncated) = %v", tc.name, !tc.truncated)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	w, _ := NewWriter(&bytes.Buffer{})
	if err := w.WritePacket(t0, phone, netip.MustParseAddrPort("[2001:db8::1]:5"), nil); err == nil {
		t.Error("mixed families accepted")
	}
	if err := w.WritePacket(t0, netip.AddrPort{}, phone, nil); err == nil {
		t.Error("invalid address accepted")
	}
	if err := w.WritePacket(t0, phone, gw, make([]byte, MaxPayload+1)); err == nil {
		t.Error("oversized payload accepted")
	}
	payload := make([]byte, 172)
	if a := testing.AllocsPerRun(100, func() { _ = w.WritePacket(t0, phone, gw, payload) }); a != 0 {
		t.Errorf("WritePacket: %.1f allocations, want 0", a)
	}
}

func FuzzReadRTP(f *testing.F) {
	var b bytes.Buffer
	w, _ := NewWriter(&b)
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, Timestamp: 160, SSRC: 1}, Payload: make([]byte, 20)}
	pb, _ := p.Marshal()
	_ = w.WritePacket(t0, phone, gw, pb)
	ev := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Timestamp: 160, SSRC: 1}, Payload: []byte{1, 0x80, 0, 160}}
	eb, _ := ev.Marshal()
	_ = w.WritePacket(t0, phone, gw, eb)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ReadRTP(data)
		if err != nil {
			return
		}
		if len(st.PCM) > MaxStreamSamples {
			t.Fatalf("%d samples", len(st.PCM))
		}
		for i, e := range st.Events {
			if e.End < e.Start || e.Start < 0 || (i > 0 && e.Start < st.Events[i-1].Start) || !dsp.IsDTMFKey(e.Key) {
				t.Fatalf("bad event %+v", e)
			}
		}
	})
}

func TestReadStreamsStart(t *testing.T) {
	c := makeCall(t)
	all, err := ReadStreams(c.file)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].SSRC != 0x1234 || all[1].SSRC != 0x9999 {
		t.Fatalf("streams %+v", all)
	}
	// The phone's first packet went out at t0 (the INVITE) + 0 and carries
	// timestamp ts0, the earliest: its sample 0 is at t0.
	if !all[0].Start.Equal(t0) || all[0].Src != phone || all[0].Dst != gw {
		t.Errorf("phone stream starts %v from %v to %v", all[0].Start, all[0].Src, all[0].Dst)
	}
	if !all[1].Start.Equal(t0) || all[1].Src != gw {
		t.Errorf("gateway stream starts %v from %v", all[1].Start, all[1].Src)
	}
}

// relink rewrites an Ethernet classic pcap to another link type, replacing
// each record's 14-byte Ethernet header by hdr(ethertype).
func relink(classic []byte, link uint32, hdr func(etype []byte) []byte) []byte {
	out := bytes.Clone(classic[:24])
	binary.LittleEndian.PutUint32(out[20:], link)
	for off := 24; off < len(classic); {
		n := int(binary.LittleEndian.Uint32(classic[off+8:]))
		rec := classic[off+16 : off+16+n]
		body := append(hdr(rec[12:14]), rec[14:]...)
		h := bytes.Clone(classic[off : off+16])
		binary.LittleEndian.PutUint32(h[8:], uint32(len(body)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(body)))
		out = append(append(out, h...), body...)
		off += 16 + n
	}
	return out
}

func TestLinkTypes(t *testing.T) {
	c := makeCall(t)
	want, _ := ReadUDP(c.file)
	for name, f := range map[string][]byte{
		// tcpdump -i any: Linux cooked v1 and v2 (protocol at 14 and 0).
		"SLL":  relink(c.file, linkSLL, func(e []byte) []byte { return append(make([]byte, 14), e...) }),
		"SLL2": relink(c.file, linkSLL2, func(e []byte) []byte { return append(bytes.Clone(e), make([]byte, 18)...) }),
		// BSD loopback: a 4-byte address family.
		"NULL": relink(c.file, linkNull, func([]byte) []byte { return []byte{2, 0, 0, 0} }),
		"RAW":  relink(c.file, linkRaw, func([]byte) []byte { return nil }),
		// 802.1Q tagged Ethernet.
		"VLAN": relink(c.file, linkEthernet, func(e []byte) []byte {
			return append(append(make([]byte, 12), 0x81, 0x00, 0x00, 0x64), e...)
		}),
	} {
		got, err := ReadUDP(f)
		if err != nil || len(got) != len(want) {
			t.Errorf("%s: %d packets of %d, %v", name, len(got), len(want), err)
			continue
		}
		for i := range got {
			if got[i].Src != want[i].Src || !bytes.Equal(got[i].Payload, want[i].Payload) {
				t.Errorf("%s: packet %d differs", name, i)
				break
			}
		}
	}
}
