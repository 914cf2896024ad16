package pcap

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/pion/rtp"
)

// Stream is the audio of one RTP stream taken from a capture.
type Stream struct {
	SSRC        uint32
	Src, Dst    netip.AddrPort // of its first packet
	Start       time.Time      // capture time of sample 0
	PayloadType uint8          // 0 PCMU or 8 PCMA (RFC 3551 §6)
	Packets     int            // audio packets used
	Streams     int            // RTP streams (audio or events) in the capture
	PCM         []int16
	// Events are the RFC 4733 telephone events (DTMF keys) of the stream,
	// with Start and End in samples on the same time line as PCM.
	Events []dsp.DigitEvent
}

// MaxStreamSamples bounds the time line rebuilt from RTP timestamps (4 h),
// so that a damaged timestamp cannot ask for gigabytes.
const MaxStreamSamples = 4 * 3600 * dsp.SampleRate

// ErrNoRTP is returned for captures without a G.711 RTP stream.
var ErrNoRTP = errors.New("no RTP stream of G.711 (payload type 0 or 8) found")

type rtpPkt struct {
	ts       uint32
	pt       uint8
	payload  []byte
	at       time.Time
	src, dst netip.AddrPort
}

// ReadRTP rebuilds the audio of the G.711 RTP stream in a pcap or pcapng
// capture: samples are placed by RTP timestamp, lost packets become
// silence. The capture should hold one stream; if it holds several (both
// directions of a call), the one carrying telephone events, else the one
// with most packets, is returned (ReadStreams returns them all). Telephone events are recognised by the
// payload type an SDP in the capture gives "telephone-event/8000", or else
// by their shape (RFC 4733 §2.3: dynamic payload type, 4-byte payloads).
func ReadRTP(data []byte) (*Stream, error) {
	all, err := ReadStreams(data)
	if err != nil {
		return nil, err
	}
	best := all[0]
	for _, st := range all[1:] {
		if (len(st.Events) > 0) != (len(best.Events) > 0) {
			if len(st.Events) > 0 {
				best = st
			}
			continue
		}
		if st.Packets > best.Packets {
			best = st
		}
	}
	return best, nil
}

// ReadStreams rebuilds every G.711 RTP stream of a capture (both directions
// of a call, say), in the order their first packets were captured; each
// carries its Start, so that callers can put them on one time line.
func ReadStreams(data []byte) ([]*Stream, error) {
	pkts, err := ReadUDP(data)
	if err != nil {
		return nil, err
	}
	tePT := -1
	bySSRC := map[uint32][]rtpPkt{}
	var order []uint32
	var p rtp.Packet
	for _, u := range pkts {
		if pt, ok := sdpTelephoneEvent(u.Payload); ok {
			tePT = pt
			continue
		}
		if len(u.Payload) < 12 || u.Payload[0]>>6 != 2 {
			continue
		}
		if err := p.Unmarshal(u.Payload); err != nil {
			continue
		}
		if p.PayloadType >= 72 && p.PayloadType <= 76 { // RTCP (RFC 5761 §4)
			continue
		}
		if _, seen := bySSRC[p.SSRC]; !seen {
			order = append(order, p.SSRC)
		}
		bySSRC[p.SSRC] = append(bySSRC[p.SSRC], rtpPkt{ts: p.Timestamp, pt: p.PayloadType, payload: p.Payload, at: u.Time, src: u.Src, dst: u.Dst})
	}
	isEvent := func(q rtpPkt) bool {
		if tePT >= 0 {
			return int(q.pt) == tePT
		}
		return q.pt >= 96 && q.pt <= 127 && len(q.payload) >= 4 && len(q.payload)%4 == 0 && q.payload[0] <= 15
	}
	var out []*Stream
	audioOrEvent := func(q rtpPkt) bool { return q.pt == 0 || q.pt == 8 || isEvent(q) }
	for _, ssrc := range order {
		if !slices.ContainsFunc(bySSRC[ssrc], audioOrEvent) {
			continue
		}
		st, err := assemble(ssrc, bySSRC[ssrc], isEvent)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pcap: %d UDP packets: %w", len(pkts), ErrNoRTP)
	}
	for _, st := range out {
		st.Streams = len(out)
	}
	return out, nil
}

func assemble(ssrc uint32, pkts []rtpPkt, isEvent func(rtpPkt) bool) (*Stream, error) {
	st := &Stream{SSRC: ssrc, Src: pkts[0].src, Dst: pkts[0].dst}
	// Extend 32-bit timestamps across wrap-around, relative to the first
	// packet, in arrival order.
	ext := make([]int64, len(pkts))
	var cur int64
	for i, q := range pkts {
		if i > 0 {
			cur += int64(int32(q.ts - pkts[i-1].ts))
		}
		ext[i] = cur
	}
	lo, hi := int64(0), int64(0)
	haveAudio := false
	for i, q := range pkts {
		if q.pt != 0 && q.pt != 8 {
			continue
		}
		if !haveAudio || ext[i] < lo {
			lo = ext[i]
		}
		if end := ext[i] + int64(len(q.payload)); !haveAudio || end > hi {
			hi = end
		}
		if !haveAudio {
			st.PayloadType = q.pt
		}
		haveAudio = true
	}
	if !haveAudio {
		lo = ext[0]
		for _, e := range ext {
			lo = min(lo, e)
		}
		hi = lo
	}
	// Sample 0 of the time line was captured when the first packet was,
	// less its distance in timestamps from the earliest one.
	st.Start = pkts[0].at.Add(-time.Duration(ext[0]-lo) * time.Second / dsp.SampleRate)
	if hi-lo > MaxStreamSamples {
		return nil, fmt.Errorf("pcap: RTP timestamps of SSRC %#08x span %d samples, more than %d (4 h)", ssrc, hi-lo, MaxStreamSamples)
	}
	st.PCM = make([]int16, hi-lo)
	type ev struct {
		key   byte
		start int64
		dur   int64
	}
	events := map[int64]*ev{}
	for i, q := range pkts {
		at := ext[i] - lo
		switch {
		case q.pt == 0 || q.pt == 8:
			dst := st.PCM[at : at+int64(len(q.payload))]
			if q.pt == 0 {
				dsp.UlawDecode(dst, q.payload)
			} else {
				dsp.AlawDecode(dst, q.payload)
			}
			st.Packets++
		case isEvent(q):
			// RFC 4733 §2.3: event, E|R|volume, duration; all packets of
			// one event share its start timestamp, duration grows.
			b := q.payload
			if len(b) < 4 || b[0] > 15 {
				continue
			}
			dur := int64(b[2])<<8 | int64(b[3])
			if e := events[at]; e != nil {
				e.dur = max(e.dur, dur)
			} else {
				events[at] = &ev{key: eventKeys[b[0]], start: at, dur: dur}
			}
		}
	}
	for _, e := range events {
		if e.start < 0 {
			continue
		}
		st.Events = append(st.Events, dsp.DigitEvent{Key: e.key, Start: e.start, End: e.start + e.dur})
	}
	sort.Slice(st.Events, func(i, j int) bool { return st.Events[i].Start < st.Events[j].Start })
	return st, nil
}

// eventKeys maps RFC 4733 §3.2 DTMF event codes 0–15 to keys.
var eventKeys = [16]byte{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'}

// sdpTelephoneEvent finds "a=rtpmap:N telephone-event/8000" in a SIP
// message carrying SDP.
func sdpTelephoneEvent(b []byte) (int, bool) {
	i := bytes.Index(b, []byte("telephone-event/8000"))
	if i < 0 {
		return 0, false
	}
	line := b[:i]
	j := bytes.LastIndex(line, []byte("a=rtpmap:"))
	if j < 0 {
		return 0, false
	}
	pt, err := strconv.Atoi(string(bytes.TrimSpace(line[j+len("a=rtpmap:"):])))
	if err != nil || pt < 0 || pt > 127 {
		return 0, false
	}
	return pt, true
}
