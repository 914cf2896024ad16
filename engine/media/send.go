package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// sender is the send path: WriteFrame and SendDigit through G.711, RFC 4733
// or the in-band generator, SRTP, to the far end. mu guards all of it.
type sender struct {
	s *Session // for the socket and whether the session ended

	mu         sync.Mutex
	seq        uint16
	ts         uint32
	first      bool
	srtp       *srtp.Context
	key        []byte
	buf        *sendBuf   // made on the first packet: a leg that never sends needs none
	enc        *packetBuf // SRTP's ciphertext, made when SRTP is applied
	hdr        rtp.Header
	ev         eventSender
	generator  *dsp.DTMFGenerator // in-band digits when the leg has no telephone-event; made on the first in-band key
	dir        sdp.Direction
	remote     netip.AddrPort
	events     bool
	eventPT    uint8
	pt         uint8
	codec      Codec
	packets    uint64
	octets     uint64
	lastTS     uint32
	lastAt     time.Time
	inbandSent uint64
	// ptime is the packet size in samples the far end asked for (a=ptime,
	// 10-60 ms), 0 for one packet per frame. Audio waits in pend until a
	// packet is full; pendTS is the timestamp of its first sample.
	ptime  int
	npend  int
	pendTS uint32
}

// packetBuf holds one datagram.
type packetBuf [1500]byte

// sendBuf is what the send path builds packets in.
type sendBuf struct {
	pkt  packetBuf
	code [maxFrame]byte
	pcm  [maxFrame]int16
	pend [maxPtime + maxFrame]byte
}

// bufs is the send path's buffers, made on first use. Called with mu.
func (t *sender) bufs() *sendBuf {
	if t.buf == nil {
		t.buf = new(sendBuf)
	}
	return t.buf
}

// maxPtime is the longest packet honoured, in samples (60 ms).
const maxPtime = 480

// ptimeSamples is the packet size for the far end's a=ptime ms: 0 (one
// packet per frame) when absent or outside 10-60 ms.
func ptimeSamples(ms int) int {
	if ms < 10 || ms*8 > maxPtime {
		return 0
	}
	return ms * 8
}

func (t *sender) init(s *Session, seq uint16, ts uint32) {
	t.s = s
	t.seq, t.ts, t.first = seq, ts, true
	t.dir = sdp.SendRecv
}

// hasKey reports whether the send side already encrypts with key.
func (t *sender) hasKey(key []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Equal(t.key, key)
}

// apply takes a negotiation; ctx, when not nil, is a new SRTP context for key.
func (t *sender) apply(n sdp.Negotiated, codec Codec, remote netip.AddrPort, srtpOn bool, ctx *srtp.Context, key []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.codec, t.pt, t.events, t.eventPT, t.dir, t.remote = codec, n.PT, n.Events, n.EventPT, n.Direction, remote
	if p := ptimeSamples(n.Ptime); p != t.ptime {
		t.ptime, t.npend = p, 0 // a new size starts with a new packet
	}
	if !srtpOn {
		t.srtp, t.key = nil, nil
	} else if ctx != nil {
		t.srtp, t.key = ctx, key
	}
	if srtpOn && t.enc == nil {
		t.enc = new(packetBuf)
	}
}

// setRemote is where the receive path latched the far end (symmetric RTP).
func (t *sender) setRemote(to netip.AddrPort) {
	t.mu.Lock()
	t.remote = to
	t.mu.Unlock()
}

// WriteFrame encodes pcm with the leg's codec and sends it as one RTP
// packet. While a digit from SendDigit is being played, the frame carries
// the digit instead (RFC 4733 events, or the tone in-band). Nothing is sent
// while the leg is on hold or the far end is unknown. Allocation-free.
func (s *Session) WriteFrame(pcm []int16) error {
	n := len(pcm)
	if n == 0 || n > maxFrame {
		return fmt.Errorf("media: WriteFrame of %d samples, want 1-%d", n, maxFrame)
	}
	if s.isDone() {
		return io.EOF
	}
	return s.out.frame(pcm)
}

func (t *sender) frame(pcm []int16) error {
	n := len(pcm)
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.ts
	t.ts += uint32(n)
	if t.ev.startNext(ts) {
		if err := t.flush(); err != nil {
			return err
		}
		return t.sendEventFrame(uint32(n))
	}
	b := t.bufs()
	if t.generator != nil && t.generator.Busy() {
		// In-band digit or its pause replaces the caller's audio.
		t.generator.Generate(b.pcm[:n])
		pcm = b.pcm[:n]
	}
	if t.ptime == 0 || t.ptime == n && t.npend == 0 {
		t.codec.encode(b.code[:n], pcm)
		return t.sendRTP(t.pt, t.first, ts, b.code[:n])
	}
	// The far end's ptime: frames are cut or joined into its packets
	// (G.711 is a byte a sample).
	if t.npend == 0 {
		t.pendTS = ts
	}
	t.codec.encode(b.pend[t.npend:t.npend+n], pcm)
	t.npend += n
	for t.npend >= t.ptime {
		if err := t.sendRTP(t.pt, t.first, t.pendTS, b.pend[:t.ptime]); err != nil {
			return err
		}
		t.npend = copy(b.pend[:], b.pend[t.ptime:t.npend])
		t.pendTS += uint32(t.ptime)
	}
	return nil
}

// flush sends the audio waiting for a full packet as a shorter one (before
// an event, which must not overtake it). Called with mu.
func (t *sender) flush() error {
	if t.npend == 0 {
		return nil
	}
	n := t.npend
	t.npend = 0
	return t.sendRTP(t.pt, t.first, t.pendTS, t.bufs().pend[:n])
}

// minDigitGapMs is the pause after an in-band digit before the next queued
// one: the shortest pause a Q.24 receiver must accept. Events need none of
// their own: the two repeated end packets already span 40 ms.
const minDigitGapMs = 40

// sendEventFrame sends the RFC 4733 packet of this frame (§2.5.1): the
// start with the marker bit, updates with the duration so far, and the end
// packet three times (§2.5.1.4), each with a new sequence number. Called
// with mu.
func (t *sender) sendEventFrame(n uint32) error {
	e := &t.ev
	var b [4]byte
	if e.ends == 0 {
		first := e.elapsed == 0
		end := e.advance(n)
		eventBlock{code: e.code, end: end, volume: 10, duration: uint16(min(e.elapsed, 0xffff))}.put(b[:])
		if end {
			e.ends = 1
			e.sent++
		}
		return t.sendRTP(t.eventPT, first, e.ts, b[:])
	}
	eventBlock{code: e.code, end: true, volume: 10, duration: uint16(min(e.elapsed, 0xffff))}.put(b[:])
	e.ends++
	if e.ends >= 3 {
		e.active = false
	}
	return t.sendRTP(t.eventPT, false, e.ts, b[:])
}

// sendRTP builds, protects and sends one packet. Called with mu.
func (t *sender) sendRTP(pt uint8, marker bool, ts uint32, payload []byte) error {
	if !t.dir.Sends() || !t.remote.IsValid() || t.remote.Port() == 0 {
		return nil
	}
	if t.s.isDone() {
		// The socket stays open for the pool's next session.
		return io.EOF
	}
	b := t.bufs().pkt[:12+len(payload)]
	b[0] = 0x80
	b[1] = pt & 0x7f
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], t.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], t.s.ssrc)
	copy(b[12:], payload)
	t.seq++
	t.first = false
	out := b
	if t.srtp != nil {
		var err error
		out, err = t.srtp.EncryptRTP(t.enc[:0], b, &t.hdr)
		if err != nil {
			return fmt.Errorf("media: SRTP encrypt: %w", err)
		}
	}
	if _, err := t.s.rtpC.WriteToUDPAddrPort(out, t.remote); err != nil {
		if t.s.isDone() {
			return io.EOF
		}
		return nil // ICMP unreachable and the like: RTP is best effort
	}
	t.packets++
	t.octets += uint64(len(payload))
	t.lastTS, t.lastAt = ts, time.Now()
	if t.s.cfg.Tap != nil {
		t.s.cfg.Tap.Add(t.lastAt, t.s.local, t.remote, out)
	}
	return nil
}

// relay is the live pass-through of a bridged leg's event.
func (t *sender) relay(src uint32, code uint8, dur uint32, ended bool) {
	t.mu.Lock()
	t.ev.relay(src, code, dur, ended)
	t.mu.Unlock()
}

// SendDigit queues a key press of durationMs (10-5000). It starts with the
// next WriteFrame and goes out over the following ones, one per 20 ms frame:
// as RFC 4733 events when the leg negotiated telephone-event (the frames'
// audio is then not sent), and as an in-band tone (dsp) replacing the
// frames' audio otherwise. Digits queued back to back are 40 ms apart, so a
// caller that starts each digit at its own time (Contact ID: 50 ms on,
// 50 ms off) gets exactly its timing.
func (s *Session) SendDigit(key byte, durationMs int) error {
	code, err := keyEvent(key)
	if err != nil {
		return err
	}
	if durationMs < 10 || durationMs > 5000 {
		return fmt.Errorf("media: DTMF duration %d ms is not 10-5000", durationMs)
	}
	if s.isDone() {
		return io.EOF
	}
	t := &s.out
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.events {
		if t.generator == nil {
			t.generator = dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())
		}
		if err := t.generator.QueueKey(key, durationMs, minDigitGapMs); err != nil {
			return err
		}
		t.inbandSent++
		return nil
	}
	return t.ev.push(queuedDigit{code: code, dur: uint32(durationMs * dsp.SampleRate / 1000)})
}

// eventsNegotiated reports whether the leg sends RFC 4733 events.
func (s *Session) eventsNegotiated() bool {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.out.events
}

// DigitsPending reports whether SendDigit has digits not yet fully sent.
func (s *Session) DigitsPending() bool {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.out.ev.pending() || s.out.generator != nil && s.out.generator.Busy()
}

// senderInfo is what an RTCP sender report says about our stream.
type senderInfo struct {
	sending         bool // sent RTP since the session began
	packets, octets uint64
	rtpTS           uint32 // our RTP clock at now
}

func (t *sender) info(now time.Time) senderInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	return senderInfo{
		sending: t.packets > 0,
		packets: t.packets, octets: t.octets,
		rtpTS: t.lastTS + uint32(now.Sub(t.lastAt)*8000/time.Second),
	}
}
