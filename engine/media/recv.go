package media

import (
	"bytes"
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

// receiver is the receive path: what the RTP socket's packets feed (SRTP,
// symmetric RTP, RFC 3550 statistics, telephone events, jitter buffer) and
// what ReadFrame drains. mu guards all of it.
type receiver struct {
	s *Session // for the Digits channel, the bridged peer and the send path's address

	mu        sync.Mutex
	codec     Codec
	pt        uint8
	eventPT   uint8
	events    bool
	redPT     uint8
	red       bool
	dir       sdp.Direction
	remote    netip.AddrPort // where RTP goes: negotiated, then latched
	negRemote netip.AddrPort // what SDP said
	latched   bool
	srtp      *srtp.Context
	key       []byte
	hdr       rtp.Header
	plain     *packetBuf // SRTP's plaintext, made when SRTP is applied
	jb        jitterBuffer
	stats     rxStats
	evRx      eventReceiver
	evOut     [2]digit
	readPos   int64 // samples handed out by ReadFrame
	lastRx    time.Time
	concealed uint64
	shed      uint64 // samples of silence shedSilence dropped
	counters  rxCounters
}

// rxCounters are the receive path's Stats counters.
type rxCounters struct {
	packets, octets uint64
	foreign         uint64
	malformed       uint64
	decryptErr      uint64
	unknownPT       uint64
	digitsIn        uint64
	digitsLost      uint64
}

func (r *receiver) init(s *Session, cfg SessionConfig) {
	r.s = s
	r.dir = sdp.SendRecv
	r.jb.delay = 320
	if cfg.Mode == Data {
		r.jb.delay = 480
	}
	if cfg.JitterDelay > 0 {
		r.jb.delay = uint32(cfg.JitterDelay * dsp.SampleRate / time.Second)
	}
}

// hasKey reports whether the receive side already decrypts with key.
func (r *receiver) hasKey(key []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Equal(r.key, key)
}

// apply takes a negotiation (ctx, when not nil, is a new SRTP context for
// key) and returns where RTP goes now.
func (r *receiver) apply(n sdp.Negotiated, codec Codec, srtpOn bool, ctx *srtp.Context, key []byte) netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codec, r.pt, r.events, r.eventPT, r.dir = codec, n.PT, n.Events, n.EventPT, n.Direction
	r.red, r.redPT = n.Red && n.Events, n.RedPT
	if n.Remote != r.negRemote {
		// New address (re-INVITE): learn the source again.
		r.remote, r.latched = n.Remote, false
	}
	r.negRemote = n.Remote
	if n.Events && r.s.digits == nil {
		// Made here, not per session: most B2BUA legs never carry a key.
		r.s.digits = make(chan dsp.DigitEvent, digitQueue)
	}
	if !srtpOn {
		r.srtp, r.key = nil, nil
	} else if ctx != nil {
		r.srtp, r.key = ctx, key
	}
	if srtpOn && r.plain == nil {
		r.plain = new(packetBuf)
	}
	return r.remote
}

// restartTimeout starts the RTP timeout afresh.
func (r *receiver) restartTimeout(now time.Time) {
	r.mu.Lock()
	r.lastRx = now
	r.mu.Unlock()
}

// timedOut: nothing received for timeout while the far end should send
// (not while it holds us with sendonly/inactive... from its side).
func (r *receiver) timedOut(now time.Time, timeout time.Duration) bool {
	if timeout < 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.dir.Receives() {
		r.lastRx = now // on hold: the clock restarts when media resumes
		return false
	}
	return now.Sub(r.lastRx) > timeout
}

// recvRTP is the receive loop of the RTP socket.
func (s *Session) recvRTP() {
	defer s.exit()
	buf := s.readBuf(false)
	for {
		n, from, err := s.rtpC.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if s.isDone() {
				return
			}
			continue
		}
		now := time.Now()
		if s.cfg.Tap != nil {
			s.cfg.Tap.Add(now, from, s.local, buf[:n])
		}
		s.receive(buf[:n], from, now)
	}
}

// receive handles one datagram of the RTP socket: RTCP multiplexed on it
// (RFC 5761 §4: PT 192-223), or RTP. It allocates nothing for RTP.
func (s *Session) receive(pkt []byte, from netip.AddrPort, now time.Time) {
	if len(pkt) >= 12 && pkt[0]>>6 == 2 {
		if pt := pkt[1] & 0x7f; pt >= 64 && pt < 96 {
			s.receiveRTCP(pkt, from, now)
			return
		}
	}
	s.in.packet(pkt, from, now)
}

// packet takes one RTP packet through SRTP, stats, events and the jitter
// buffer.
func (r *receiver) packet(pkt []byte, from netip.AddrPort, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		r.counters.malformed++
		return
	}
	var p []byte
	if r.srtp != nil {
		out, err := r.srtp.DecryptRTP(r.plain[:0], pkt, &r.hdr)
		if err != nil {
			r.counters.decryptErr++
			return
		}
		p = out
	} else {
		p = pkt
	}
	hl, err := r.hdr.Unmarshal(p)
	if err != nil {
		r.counters.malformed++
		return
	}
	payload := p[hl:]
	if r.hdr.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			r.counters.malformed++
			return
		}
		payload = payload[:len(payload)-int(payload[len(payload)-1])]
	}
	// Symmetric RTP (RFC 4961): send where the far end sends from. Latch on
	// the first good packet; move only for the same SSRC (NAT rebinding) or
	// back to the address SDP gave.
	if !r.latched || (from == r.negRemote && from != r.remote) {
		// RTCP keeps its negotiated address until RTCP itself arrives.
		r.remote, r.latched = from, true
		r.s.out.setRemote(from)
	} else if from != r.remote {
		if !r.stats.started || r.hdr.SSRC != r.stats.ssrc {
			r.counters.foreign++
			return
		}
		r.remote = from
		r.s.out.setRemote(from)
	}
	r.lastRx = now
	r.counters.packets++
	r.counters.octets += uint64(len(payload))
	arrival := uint32(now.Sub(r.s.epoch).Nanoseconds() * 8 / 1e6)
	switch {
	case r.events && r.hdr.PayloadType == r.eventPT:
		// Events share the stream's sequence space; their timestamp is the
		// event start, so they stay out of the jitter estimate.
		r.stats.update(r.hdr.SSRC, r.hdr.SequenceNumber, r.hdr.Timestamp, arrival, false)
		r.receiveEvent(r.hdr.Timestamp, payload)
	case r.red && r.hdr.PayloadType == r.redPT:
		r.stats.update(r.hdr.SSRC, r.hdr.SequenceNumber, r.hdr.Timestamp, arrival, false)
		r.receiveRed(r.hdr.Timestamp, payload)
	case r.hdr.PayloadType == r.pt:
		if r.stats.started && r.hdr.SSRC != r.stats.ssrc && r.jb.started {
			// A new stream (the far end switched sources): its timestamps
			// have nothing to do with the old ones.
			r.jb.resyncs++
			r.jb.reset(r.hdr.Timestamp)
		}
		if !r.stats.update(r.hdr.SSRC, r.hdr.SequenceNumber, r.hdr.Timestamp, arrival, true) {
			return
		}
		if n := r.evRx.audio(r.hdr.Timestamp, &r.evOut); n > 0 {
			r.emitDigit(r.evOut[0])
		}
		r.jb.put(r.hdr.Timestamp, payload, r.hdr.Marker)
	default:
		// Comfort noise (13) and anything not negotiated.
		r.counters.unknownPT++
	}
}

// receiveEvent feeds one telephone-event payload. Called with mu.
func (r *receiver) receiveEvent(ts uint32, payload []byte) {
	if !r.jb.started {
		// An event before any audio fixes the playout timeline, so
		// that later audio and events map to the same sample time.
		r.jb.reset(ts)
	}
	n := r.evRx.handle(ts, payload, r.lastRx, &r.evOut)
	for i := range n {
		r.emitDigit(r.evOut[i])
	}
	if peer := r.s.relayTo.Load(); peer != nil && r.evRx.active && !r.evRx.ended {
		peer.out.relay(r.evRx.ts, r.evRx.code, r.evRx.dur, false)
	}
}

// receiveRed unpacks RFC 2198 redundancy (RFC 4733 §2.5.1.6): the block
// headers, then the blocks oldest first, each fed as the event it carries.
// Blocks of other payload types are skipped. Called with mu.
func (r *receiver) receiveRed(ts uint32, p []byte) {
	// Up to 8 redundant blocks; more is not a sane sender.
	var offs [8]uint32
	var lens [8]int
	var pts [8]uint8
	n := 0
	for {
		if len(p) < 1 {
			r.counters.malformed++
			return
		}
		if p[0]&0x80 == 0 {
			pts[min(n, 7)] = p[0] & 0x7f
			p = p[1:]
			break
		}
		if len(p) < 4 || n == 7 {
			r.counters.malformed++
			return
		}
		pts[n] = p[0] & 0x7f
		offs[n] = uint32(p[1])<<6 | uint32(p[2])>>2
		lens[n] = int(p[2]&3)<<8 | int(p[3])
		p = p[4:]
		n++
	}
	for i := 0; i <= n; i++ {
		l := len(p)
		if i < n {
			l = lens[i]
		}
		if l > len(p) {
			r.counters.malformed++
			return
		}
		if pts[i] == r.eventPT {
			r.receiveEvent(ts-offs[i], p[:l])
		}
		p = p[l:]
	}
}

// emitDigit maps an event's RTP time onto ReadFrame sample time. Called with mu.
func (r *receiver) emitDigit(d digit) {
	var start int64
	if r.jb.started {
		start = r.readPos + int64(int32(d.ts-r.jb.playTS))
	} else {
		start = r.readPos + int64(r.jb.delay)
	}
	if start < 0 {
		start = 0
	}
	r.emit(dsp.DigitEvent{Key: d.key, Start: start, End: start + int64(d.dur)})
	if peer := r.s.relayTo.Load(); peer != nil {
		peer.out.relay(d.ts, d.code, d.dur, true)
	}
}

// emit hands a digit to Digits, or counts it lost when nobody reads them.
// Called with mu.
func (r *receiver) emit(ev dsp.DigitEvent) {
	select {
	case r.s.digits <- ev:
		r.counters.digitsIn++
	default:
		r.counters.digitsLost++
	}
}

// playout is ReadFrame's own state: its clock, the last frame for
// concealment and the in-band DTMF detector. mu serialises ReadFrame (one
// reader, as the Channel contract says).
type playout struct {
	mu         sync.Mutex
	timer      *time.Timer
	next       time.Time
	buf        *playoutBuf // made on the first read: a relayed or unread leg never needs it
	lastN      int
	concealRun int
	lastSilent bool // the last frame read was silence (shedSilence)
	detector   *dsp.DTMFDetector
	emitInband func(dsp.DigitEvent) // bound once: no closure per frame
}

// playoutBuf is what the reader decodes into and conceals from.
type playoutBuf struct {
	code     [maxFrame]byte
	last     [maxFrame]int16
	peekCode [3 * maxFrame]byte // shedSilence's look ahead
	peek     [3 * maxFrame]int16
}

// bufs is the reader's buffers, made on first use. Called with mu.
func (p *playout) bufs() *playoutBuf {
	if p.buf == nil {
		p.buf = new(playoutBuf)
	}
	return p.buf
}

func (p *playout) init(s *Session, cfg SessionConfig) {
	p.timer = time.NewTimer(time.Hour)
	p.timer.Stop()
	if cfg.InBandDTMF {
		p.detector = dsp.NewDTMFDetector(dsp.DTMFConfig{})
		p.emitInband = func(ev dsp.DigitEvent) {
			if s.bridged.Load() {
				return
			}
			s.in.mu.Lock()
			s.in.emit(ev)
			s.in.mu.Unlock()
		}
	}
}

// ReadFrame fills pcm with the next len(pcm) samples (normally
// FrameSamples) from the jitter buffer. It is paced by the clock: it returns
// one frame per 20 ms of real time, a concealment frame when packets were
// lost, so that frames read count the call's time. io.EOF once the session
// has ended. Allocation-free.
func (s *Session) ReadFrame(pcm []int16) error {
	n := len(pcm)
	if n == 0 || n > maxFrame {
		return fmt.Errorf("media: ReadFrame of %d samples, want 1-%d", n, maxFrame)
	}
	s.play.mu.Lock()
	defer s.play.mu.Unlock()
	first := s.play.next.IsZero()
	behind, onTime, err := s.pace(n)
	if err != nil {
		return err
	}
	s.in.mu.Lock()
	switch {
	case first:
		s.startAtNewest(n)
	case behind:
		s.catchUp(n)
	case onTime:
		s.shedSilence(n)
	}
	s.frameLocked(pcm)
	s.in.mu.Unlock()
	if s.play.detector != nil {
		// The detector counts the samples it is fed, which are exactly
		// those ReadFrame handed out: its times are ReadFrame sample time.
		s.play.detector.Process(pcm, s.play.emitInband)
	}
	return nil
}

// frameLocked takes one frame out of the jitter buffer and decodes or
// conceals it. Called with play.mu and in.mu.
func (s *Session) frameLocked(pcm []int16) {
	r, p := &s.in, &s.play
	n := len(pcm)
	preroll := !r.jb.started || int32(r.jb.playTS-r.jb.origin) < 0
	present := 0
	if r.jb.started {
		// Before any audio arrived the frame is pre-roll silence: a leg
		// whose far end never sends (a call hung up at once) needs no
		// buffers.
		present = r.jb.get(p.bufs().code[:n], r.codec.silence())
	}
	switch {
	case present > 0:
		r.codec.decode(pcm, p.buf.code[:n])
		copy(p.buf.last[:n], pcm)
		p.lastN, p.concealRun = n, 0
	case preroll:
		clear(pcm)
	default:
		// Loss concealment that invents nothing: in Voice mode the last
		// frame once, 6 dB down, then silence; in Data mode silence.
		r.concealed++
		if s.cfg.Mode == Voice && p.concealRun == 0 && p.lastN == n {
			for i, v := range p.buf.last[:n] {
				pcm[i] = v / 2
			}
		} else {
			clear(pcm)
		}
		p.concealRun++
	}
	p.lastSilent = quiet(pcm)
	r.readPos += int64(n)
	if k := r.evRx.tick(time.Now(), &r.evOut); k > 0 {
		for i := range k {
			r.emitDigit(r.evOut[i])
		}
	}
}

// pace waits for the frame's slot in real time. A reader that fell behind
// gets frames at once until it has caught up, as long as the jitter buffer
// can hold what it missed (maxLag); beyond that the clock restarts and
// behind says so: catchUp then skips what the buffer holds beyond maxLag,
// otherwise one stall would delay everything heard for the rest of the
// call (a kissoff or a key heard a second late). Called with play.mu.
func (s *Session) pace(n int) (behind, onTime bool, err error) {
	if s.isDone() {
		return false, false, io.EOF
	}
	p := &s.play
	now := time.Now()
	if p.next.IsZero() {
		p.next = now
	}
	p.next = p.next.Add(time.Duration(n) * time.Second / dsp.SampleRate)
	wait := p.next.Sub(now)
	if wait > 0 {
		p.timer.Reset(wait)
		select {
		case <-p.timer.C:
		case <-s.done:
			p.timer.Stop()
			return false, false, io.EOF
		}
		onTime = true
	} else if wait < -maxLag {
		p.next = now
		behind = true
	}
	return behind, onTime, nil
}

// startAtNewest starts a reader whose first read comes after audio has
// arrived (an alarm receiver that a slow first setup started late) at the
// newest of it, at the usual delay: the jitter buffer starts on the first
// packet but the read clock on the first read, so the reader would hear
// everything late by its start for the whole call, or, caught up at once,
// answer in a burst that the far end's jitter buffer then holds for the
// whole call; either way every acknowledgement is that late. What came
// before the first read is dropped: the far end of an alarm call waits for
// the receiver to speak first. Called with play.mu and in.mu.
func (s *Session) startAtNewest(n int) {
	s.in.jb.skip(s.in.jb.backlog() / int64(n) * int64(n))
}

// shedSilence drops silent frames from a jitter buffer that holds more
// than its delay (by over shedSlack) while the reader is on time: the far
// end sent faster than real time (a reader of its own catching up after a
// stall answers in a burst), and a fixed delay would keep that lead as
// latency for the rest of the call, so that every acknowledgement after it
// is heard that much later. Only silence inside a gap goes, and a gap keeps
// at least three frames, so no tone or bit is shortened and keys stay
// apart. Called with play.mu and in.mu.
func (s *Session) shedSilence(n int) {
	r, p := &s.in, &s.play
	if !p.lastSilent {
		return
	}
	for r.jb.backlog() > int64(shedSlack+n) && s.silentAhead(3*n) {
		r.jb.skip(int64(n))
		r.shed += uint64(n)
	}
}

// shedSlack is how far (samples, 60 ms) a jitter buffer may hold more than
// its delay before shedSilence drops silence: a packet or two of jitter.
const shedSlack = 480

// silentAhead says whether the next k samples of the jitter buffer are
// silence (missing samples are). Called with in.mu and play.mu.
func (s *Session) silentAhead(k int) bool {
	r, p := &s.in, &s.play
	code := p.bufs().peekCode[:k]
	r.jb.peek(code, r.codec.silence())
	r.codec.decode(p.buf.peek[:k], code)
	return quiet(p.buf.peek[:k])
}

// quiet says whether pcm is silence: no sample above about -42 dBFS, far
// below any signalling tone a receiver accepts.
func quiet(pcm []int16) bool {
	for _, v := range pcm {
		if v > 256 || v < -256 {
			return false
		}
	}
	return true
}

// catchUp is pace's restart of a reader that fell more than maxLag behind:
// of what the jitter buffer holds beyond its delay (the audio that came
// during the stall, unless the buffer re-centred meanwhile), the newest
// maxLag is kept and read at once, as after a shorter stall, and the rest
// skipped, in whole frames (what is read stays on frame boundaries). A
// stall of 0.7 s costs 0.1 s of audio, not 0.7 s: an in-band key, a
// kissoff or a greeting is still heard, and nothing is heard late for
// long. Called with play.mu and in.mu.
func (s *Session) catchUp(n int) {
	backlog := s.in.jb.backlog()
	keep := min(backlog, int64(maxLag)*dsp.SampleRate/int64(time.Second)) / int64(n) * int64(n)
	s.in.jb.skip((backlog - keep) / int64(n) * int64(n))
	s.play.next = s.play.next.Add(-time.Duration(keep) * time.Second / dsp.SampleRate)
}
