package pcap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
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
	sc, err := scanCapture(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for _, s := range sc.streams {
		s.st.PCM = make([]int16, s.hi-s.lo)
	}
	rp, err := sc.replay(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	for {
		s, at, pt, payload, err := rp.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		decodeG711(s.st.PCM[at:at+int64(len(payload))], payload, pt)
	}
	out := make([]*Stream, len(sc.streams))
	for i, s := range sc.streams {
		out[i] = s.finish()
	}
	return out, nil
}

func decodeG711(dst []int16, payload []byte, pt uint8) {
	if pt == 0 {
		dsp.UlawDecode(dst, payload)
	} else {
		dsp.AlawDecode(dst, payload)
	}
}

// maxSSRCs bounds the RTP streams a capture may hold: each costs memory
// while the capture is read.
const maxSSRCs = 1024

// scanned is what a first pass over a capture learns: the telephone-event
// payload type and, for each G.711 stream, where its samples lie, so that a
// second pass can place every packet without holding the capture.
type scanned struct {
	tePT    int
	streams []*scanStream // G.711 streams, in order of their first packet
	bySSRC  map[uint32]*scanStream
	udp     int // UDP packets
}

type scanStream struct {
	st       *Stream
	n        int    // packets seen (this pass)
	prevTS   uint32 // of the last packet, for the extended timestamp
	cur      int64  // extended timestamp of the last packet
	lo, hi   int64  // audio span in extended timestamps
	minExt   int64
	first    time.Time
	audio    bool
	pts      [2]uint64 // payload types seen
	shapedTE bool      // a packet shaped like a telephone event (RFC 4733 §2.3)
	// filled by the second pass: events by start, relative to lo
	events map[int64]*teEvent
}

type teEvent struct {
	key   byte
	start int64
	dur   int64
}

// ext extends a packet's 32-bit timestamp across wrap-around, relative to
// the stream's first packet, in arrival order.
func (s *scanStream) ext(ts uint32) int64 {
	if s.n > 0 {
		s.cur += int64(int32(ts - s.prevTS))
	}
	s.prevTS = ts
	s.n++
	return s.cur
}

// rtpOf returns the RTP packet in a datagram, if it is one of audio or
// events (not RTCP).
func rtpOf(p *rtp.Packet, payload []byte) bool {
	if len(payload) < 12 || payload[0]>>6 != 2 {
		return false
	}
	if err := p.Unmarshal(payload); err != nil {
		return false
	}
	return p.PayloadType < 72 || p.PayloadType > 76 // RTCP (RFC 5761 §4)
}

func scanCapture(r io.Reader) (*scanned, error) {
	pr, err := NewPacketReader(r)
	if err != nil {
		return nil, err
	}
	sc := &scanned{tePT: -1, bySSRC: map[uint32]*scanStream{}}
	var all []*scanStream
	var p rtp.Packet
	for {
		u, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		sc.udp++
		if pt, ok := sdpTelephoneEvent(u.Payload); ok {
			sc.tePT = pt
			continue
		}
		if !rtpOf(&p, u.Payload) {
			continue
		}
		s := sc.bySSRC[p.SSRC]
		if s == nil {
			if len(all) == maxSSRCs {
				return nil, fmt.Errorf("pcap: more than %d RTP streams", maxSSRCs)
			}
			s = &scanStream{st: &Stream{SSRC: p.SSRC, Src: u.Src, Dst: u.Dst}, first: u.Time}
			sc.bySSRC[p.SSRC] = s
			all = append(all, s)
		}
		e := s.ext(p.Timestamp)
		s.minExt = min(s.minExt, e)
		pt := p.PayloadType
		s.pts[pt/64] |= 1 << (pt % 64)
		switch {
		case pt == 0 || pt == 8:
			end := e + int64(len(p.Payload))
			if !s.audio {
				s.st.PayloadType = pt
				s.lo, s.hi = e, end
			}
			s.lo, s.hi = min(s.lo, e), max(s.hi, end)
			s.audio = true
			s.st.Packets++
		case pt >= 96 && pt <= 127 && len(p.Payload) >= 4 && len(p.Payload)%4 == 0 && p.Payload[0] <= 15:
			s.shapedTE = true
		}
	}
	for _, s := range all {
		switch {
		case s.audio:
		case sc.tePT >= 0 && s.pts[sc.tePT/64]&(1<<(sc.tePT%64)) != 0, sc.tePT < 0 && s.shapedTE:
			s.lo, s.hi = s.minExt, s.minExt
		default:
			delete(sc.bySSRC, s.st.SSRC)
			continue
		}
		// Sample 0 of the time line was captured when the first packet
		// was, less its distance in timestamps from the earliest one.
		s.st.Start = s.first.Add(time.Duration(s.lo) * time.Second / dsp.SampleRate)
		if s.hi-s.lo > MaxStreamSamples {
			return nil, fmt.Errorf("pcap: RTP timestamps of SSRC %#08x span %d samples, more than %d (4 h)", s.st.SSRC, s.hi-s.lo, MaxStreamSamples)
		}
		s.n, s.cur = 0, 0
		s.events = map[int64]*teEvent{}
		sc.streams = append(sc.streams, s)
	}
	if len(sc.streams) == 0 {
		return nil, fmt.Errorf("pcap: %d UDP packets: %w", sc.udp, ErrNoRTP)
	}
	for _, s := range sc.streams {
		s.st.Streams = len(sc.streams)
	}
	return sc, nil
}

// replayer is the second pass over a capture: it returns the audio packets
// of the scanned streams with their place in samples from the stream's
// first sample, and keeps the telephone events on the way.
type replayer struct {
	sc *scanned
	pr *PacketReader
	p  rtp.Packet
}

func (sc *scanned) replay(r io.Reader) (*replayer, error) {
	pr, err := NewPacketReader(r)
	if err != nil {
		return nil, err
	}
	return &replayer{sc: sc, pr: pr}, nil
}

func (sc *scanned) isEvent(pt uint8, payload []byte) bool {
	if sc.tePT >= 0 {
		return int(pt) == sc.tePT
	}
	return pt >= 96 && pt <= 127 && len(payload) >= 4 && len(payload)%4 == 0 && payload[0] <= 15
}

// next returns the next audio packet: its stream, place and payload (valid
// until the following call), or io.EOF.
func (rp *replayer) next() (s *scanStream, at int64, pt uint8, payload []byte, err error) {
	for {
		u, err := rp.pr.Next()
		if err != nil {
			return nil, 0, 0, nil, err
		}
		if _, ok := sdpTelephoneEvent(u.Payload); ok {
			continue
		}
		if !rtpOf(&rp.p, u.Payload) {
			continue
		}
		s := rp.sc.bySSRC[rp.p.SSRC]
		if s == nil {
			continue
		}
		at := s.ext(rp.p.Timestamp) - s.lo
		pt, b := rp.p.PayloadType, rp.p.Payload
		switch {
		case pt == 0 || pt == 8:
			return s, at, pt, b, nil
		case rp.sc.isEvent(pt, b):
			// RFC 4733 §2.3: event, E|R|volume, duration; all packets of
			// one event share its start timestamp, duration grows.
			if len(b) < 4 || b[0] > 15 {
				continue
			}
			dur := int64(b[2])<<8 | int64(b[3])
			if e := s.events[at]; e != nil {
				e.dur = max(e.dur, dur)
			} else {
				s.events[at] = &teEvent{key: eventKeys[b[0]], start: at, dur: dur}
			}
		}
	}
}

// finish sets the stream's Events from those the second pass kept.
func (s *scanStream) finish() *Stream {
	st := s.st
	st.Events = st.Events[:0]
	for _, e := range s.events {
		if e.start < 0 {
			continue
		}
		st.Events = append(st.Events, dsp.DigitEvent{Key: e.key, Start: e.start, End: e.start + e.dur})
	}
	sort.Slice(st.Events, func(i, j int) bool { return st.Events[i].Start < st.Events[j].Start })
	return st
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
