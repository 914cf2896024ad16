package media

import (
	"encoding/binary"
	"fmt"
	"time"
)

// RFC 4733 §3.2 event codes 0-15 are the DTMF keys.
const dtmfKeys = "0123456789*#ABCD"

func eventKey(code uint8) (byte, bool) {
	if int(code) < len(dtmfKeys) {
		return dtmfKeys[code], true
	}
	return 0, false
}

func keyEvent(key byte) (uint8, error) {
	if key >= 'a' && key <= 'd' {
		key -= 'a' - 'A'
	}
	for i := range len(dtmfKeys) {
		if dtmfKeys[i] == key {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("media: DTMF key %q is not one of %s", key, dtmfKeys)
}

// eventBlock is one telephone-event payload (RFC 4733 §2.3).
type eventBlock struct {
	code     uint8
	end      bool
	volume   uint8 // -dBm0, 0-63
	duration uint16
}

func parseEventBlock(b []byte) (eventBlock, bool) {
	if len(b) < 4 {
		return eventBlock{}, false
	}
	return eventBlock{
		code:     b[0],
		end:      b[1]&0x80 != 0,
		volume:   b[1] & 0x3f,
		duration: binary.BigEndian.Uint16(b[2:4]),
	}, true
}

func (e eventBlock) put(b []byte) {
	b[0] = e.code
	b[1] = e.volume & 0x3f
	if e.end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], e.duration)
}

// eventReceiver turns telephone-event packets into key presses (RFC 4733
// §2.5.2): the RTP timestamp identifies an event, updates lengthen it, the
// first packet with the E bit ends it, repeated end packets are ignored, and
// an event whose end packets were all lost ends when the next event starts,
// when audio from well past it arrives, or after a second with no packet.
// Events may also arrive inside RFC 2198 redundancy (Session.receiveRed).
type eventReceiver struct {
	active  bool   // an event is in progress or just ended
	ended   bool   // its end was reported
	ts      uint32 // RTP timestamp of the event (its start)
	code    uint8
	dur     uint32    // samples, segments of long events added up
	segBase uint32    // duration of earlier segments (§2.5.1.3)
	segTS   uint32    // timestamp of the current segment
	lastAt  time.Time // arrival of the last packet of the event
}

// An event whose end packets never came ends when audio arrives from past
// its last known end by eventGap samples (200 ms: ten update intervals in
// which it was not extended), or, when nothing arrives at all, after
// eventTimeout of wall time.
const (
	eventGap     = 1600
	eventTimeout = time.Second
)

// digit is a finished key press in RTP time: ts is its start, dur its
// length; code is its event code, key the DTMF key of it.
type digit struct {
	key     byte
	code    uint8
	ts, dur uint32
}

// handle processes one event payload with RTP timestamp ts and returns the
// key presses it completes (at most two: a previous event whose end packets
// were lost, and this one).
func (r *eventReceiver) handle(ts uint32, payload []byte, now time.Time, out *[2]digit) int {
	e, ok := parseEventBlock(payload)
	if !ok {
		return 0
	}
	if _, ok := eventKey(e.code); !ok {
		return 0 // not DTMF (flash, tones): ignored
	}
	n := 0
	switch {
	case r.active && ts == r.segTS:
		// Update or (repeated) end of the current segment.
		if r.ended {
			r.lastAt = now
			return 0
		}
	case r.active && !r.ended && e.code == r.code && ts-r.segTS == r.dur-r.segBase && r.dur-r.segBase >= 0xffff-320:
		// Next segment of a long event (§2.5.1.3): same key, timestamp
		// where the previous segment's maximal duration ended.
		r.segBase, r.segTS = r.dur, ts
	case r.active && int32(ts-r.segTS) < 0:
		return 0 // a stale packet of an older event
	default:
		if r.active && !r.ended {
			// A new event while the previous one never ended: its end
			// packets were lost; it ends with the duration last heard.
			out[n] = r.digit()
			n++
		}
		*r = eventReceiver{active: true, ts: ts, segTS: ts, code: e.code}
	}
	r.lastAt = now
	if d := r.segBase + uint32(e.duration); d > r.dur {
		r.dur = d
	}
	if e.end {
		r.ended = true
		out[n] = r.digit()
		n++
	}
	return n
}

// audio is told the timestamp of each audio packet: audio from well after
// the event's last known end shows the event is over (sample time, so a
// stalled sender does not cut events short).
func (r *eventReceiver) audio(ts uint32, out *[2]digit) int {
	if !r.active || r.ended || int32(ts-(r.segTS+(r.dur-r.segBase))) < eventGap {
		return 0
	}
	r.ended = true
	out[0] = r.digit()
	return 1
}

// tick is called once per frame read; an unended event that has had no
// packet for eventTimeout is ended with what was heard.
func (r *eventReceiver) tick(now time.Time, out *[2]digit) int {
	if !r.active || r.ended || now.Sub(r.lastAt) < eventTimeout {
		return 0
	}
	r.ended = true
	out[0] = r.digit()
	return 1
}

func (r *eventReceiver) digit() digit {
	k, _ := eventKey(r.code)
	return digit{key: k, code: r.code, ts: r.ts, dur: r.dur}
}

// eventSender plays queued key presses, one frame at a time, as RFC 4733
// packets (§2.5.1: a start packet with the marker bit, updates every frame
// with the duration so far, the end packet sent three times). A digit
// relayed live from a bridged leg is open: it lasts until its source ends.
type eventSender struct {
	queue [16]queuedDigit
	head  int
	n     int

	active bool
	queuedDigit
	ts      uint32 // RTP timestamp of the event start
	elapsed uint32
	ends    int // end packets sent
	sent    uint64
}

type queuedDigit struct {
	code    uint8
	dur     uint32 // samples; while open, unknown yet
	open    bool   // relayed and not ended at its source
	relayed bool
	src     uint32 // the source event's RTP timestamp, when relayed
}

// maxLiveEvent bounds a relayed event whose source never ends it (8 s).
const maxLiveEvent = 8 * 8000

func (s *eventSender) push(d queuedDigit) error {
	if s.n == len(s.queue) {
		return fmt.Errorf("media: %d DTMF digits already queued", s.n)
	}
	s.queue[(s.head+s.n)%len(s.queue)] = d
	s.n++
	return nil
}

// relay follows an event of a bridged leg as it happens: the first call
// queues it open, later ones update it, the one with ended fixes its length.
func (s *eventSender) relay(src uint32, code uint8, dur uint32, ended bool) {
	if s.active && s.relayed && s.src == src {
		if ended && s.open {
			s.open, s.dur = false, dur
		}
		return
	}
	for i := range s.n {
		q := &s.queue[(s.head+i)%len(s.queue)]
		if q.relayed && q.src == src {
			if ended && q.open {
				q.open, q.dur = false, dur
			}
			return
		}
	}
	_ = s.push(queuedDigit{code: code, dur: dur, open: !ended, relayed: true, src: src})
}

func (s *eventSender) pending() bool { return s.active || s.n > 0 }

// startNext begins the next queued digit at timestamp ts when the sender is
// idle, reporting whether an event is in progress.
func (s *eventSender) startNext(ts uint32) bool {
	if s.active {
		return true
	}
	if s.n == 0 {
		return false
	}
	s.queuedDigit = s.queue[s.head]
	s.head = (s.head + 1) % len(s.queue)
	s.n--
	s.active, s.ts, s.elapsed, s.ends = true, ts, 0, 0
	return true
}

// advance moves the current event on by one frame of n samples and reports
// whether this frame ends it. The duration sent never shrinks.
func (s *eventSender) advance(n uint32) (end bool) {
	switch {
	case s.open:
		s.elapsed += n
		if s.elapsed >= maxLiveEvent {
			s.open, s.dur = false, s.elapsed
			return true
		}
		return false
	case s.elapsed >= s.dur:
		return true
	default:
		s.elapsed = min(s.elapsed+n, s.dur)
		return s.elapsed >= s.dur
	}
}
