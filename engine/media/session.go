package media

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// FrameSamples is the frame of the Channel: 20 ms at 8 kHz.
const FrameSamples = 160

// maxFrame bounds one ReadFrame/WriteFrame (60 ms).
const maxFrame = 480

// maxLag is how far a stalled reader catches up: about the jitter buffer's
// length less the deepest delay.
const maxLag = 600 * time.Millisecond

// DefaultRTPTimeout ends a call whose far end sends nothing for this long.
const DefaultRTPTimeout = 90 * time.Second

// Reasons a session ended, from Err.
var (
	ErrClosed     = errors.New("media: session closed")
	ErrHangup     = errors.New("media: hung up")
	ErrRTPTimeout = errors.New("media: RTP timeout")
)

// SessionConfig is what a new RTP session needs before negotiation.
type SessionConfig struct {
	// Pool hands out the RTP/RTCP port pair; required.
	Pool *PortPool
	// LocalIP is the address to bind, and to advertise in SDP; required.
	LocalIP netip.Addr
	// Mode of the jitter buffer: Voice, or Data for alarm signalling.
	Mode BufferMode
	// JitterDelay is the fixed playout delay; 0 means 40 ms in Voice mode
	// and 60 ms in Data mode. At most 400 ms.
	JitterDelay time.Duration
	// RTCPInterval between reports; 0 means 5 s (RFC 3550 §6.2 minimum),
	// negative sends none.
	RTCPInterval time.Duration
	// InBandDTMF detects DTMF in the received audio (toneSettings "inaudio")
	// and delivers it on Digits, in addition to RFC 4733 events.
	InBandDTMF bool
	// RTPTimeout ends the session when nothing arrives for this long while
	// the far end is meant to send; 0 means DefaultRTPTimeout, negative never.
	RTPTimeout time.Duration
	// OnEnd, if set, is called once when the session ends by Hangup or by
	// RTP timeout (not by Close): the signalling layer then sends BYE. It may
	// call Close.
	OnEnd func(reason error)
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
}

// Session is the media of one call leg: an RTP/RTCP socket pair, the
// negotiated codec and events, optional SRTP, jitter buffer and statistics.
// It is an alarm Channel: ReadFrame, WriteFrame, Digits, SendDigit, Hangup.
//
// Use: NewSession, give LocalAddr to sdp.Offer/Answer, Apply the
// negotiation, Start; Apply again on re-INVITE; Close when the dialog ends.
type Session struct {
	cfg   SessionConfig
	log   *slog.Logger
	pool  *PortPool
	port  int
	local netip.AddrPort
	rtpC  *net.UDPConn
	rtcpC *net.UDPConn
	epoch time.Time

	started  atomic.Bool
	done     chan struct{}
	endOnce  sync.Once
	endErr   atomic.Pointer[error]
	wg       sync.WaitGroup
	applied  atomic.Bool
	hasDigit atomic.Bool             // Digits is non-nil
	relayTo  atomic.Pointer[Session] // bridged peer that repeats our RFC 4733 events live
	bridged  atomic.Bool             // in a Bridge: in-band digits travel as audio, not as events
	digits   chan dsp.DigitEvent

	// mu guards the receive side: everything the packet path and ReadFrame share.
	mu         sync.Mutex
	codec      Codec
	pt         uint8
	eventPT    uint8
	events     bool
	redPT      uint8
	red        bool
	dir        sdp.Direction
	remote     netip.AddrPort // where RTP goes: negotiated, then latched
	negRemote  netip.AddrPort // what SDP said
	remoteRTCP netip.AddrPort
	latched    bool
	rtcpLatch  bool
	srtpIn     *srtp.Context
	srtcpIn    *srtp.Context
	keyIn      []byte
	hdr        rtp.Header
	plain      [1500]byte
	jb         jitterBuffer
	rx         rxStats
	evRx       eventReceiver
	evOut      [2]digit
	readPos    int64 // samples handed out by ReadFrame
	lastRx     time.Time
	rxPackets  uint64
	rxOctets   uint64
	foreign    uint64
	malformed  uint64
	decryptErr uint64
	unknownPT  uint64
	concealed  uint64
	digitsIn   uint64
	digitsLost uint64
	lsr        uint32 // middle of the NTP time of the last SR received
	lsrAt      time.Time
	remoteRep  remoteReport
	remoteBye  bool

	// readMu serialises ReadFrame (one reader, as the Channel contract says).
	readMu     sync.Mutex
	timer      *time.Timer
	next       time.Time
	code       [maxFrame]byte
	last       [maxFrame]int16
	lastN      int
	concealRun int
	detector   *dsp.DTMFDetector
	emitInband func(dsp.DigitEvent) // bound once: no closure per frame

	// sendMu guards the send side: WriteFrame, SendDigit and SRTP out.
	sendMu     sync.Mutex
	ssrc       uint32
	seq        uint16
	txTS       uint32
	txFirst    bool
	srtpOut    *srtp.Context
	keyOut     []byte
	txBuf      [1500]byte
	txEnc      [1500]byte
	txCode     [maxFrame]byte
	txPCM      [maxFrame]int16
	txHdr      rtp.Header
	evTx       eventSender
	txPackets  uint64
	txOctets   uint64
	txLastTS   uint32
	txLastAt   time.Time
	inbandSent uint64
	generator  *dsp.DTMFGenerator // in-band digits when the leg has no telephone-event
	dirTx      sdp.Direction
	remoteTx   netip.AddrPort
	eventsTx   bool
	eventPTTx  uint8
	ptTx       uint8
	codecTx    Codec

	// rtcpMu serialises sending RTCP (reports, and the BYE at the end).
	rtcpMu   sync.Mutex
	srtcpOut *srtp.Context
	rtcpBuf  [1500]byte
	rtcpEnc  [1500]byte
}

type remoteReport struct {
	valid    bool
	fraction uint8
	lost     int32
	jitter   uint32
	rtt      time.Duration
}

// NewSession binds an RTP/RTCP port pair from the pool on cfg.LocalIP.
// Nothing is sent or received before Apply and Start.
func NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.Pool == nil {
		return nil, errors.New("media: SessionConfig.Pool is nil")
	}
	if !cfg.LocalIP.IsValid() {
		return nil, errors.New("media: SessionConfig.LocalIP is not set")
	}
	if cfg.Mode > Data {
		return nil, fmt.Errorf("media: SessionConfig.Mode %d is not Voice or Data", cfg.Mode)
	}
	if cfg.RTPTimeout == 0 {
		cfg.RTPTimeout = DefaultRTPTimeout
	}
	if cfg.JitterDelay < 0 || cfg.JitterDelay > 400*time.Millisecond {
		return nil, fmt.Errorf("media: SessionConfig.JitterDelay %v is not 0-400ms", cfg.JitterDelay)
	}
	if cfg.RTCPInterval == 0 {
		cfg.RTCPInterval = reportInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	rc, rcc, port, err := cfg.Pool.listen(cfg.LocalIP)
	if err != nil {
		return nil, err
	}
	return newSession(cfg, log, rc, rcc, port), nil
}

// newSession builds a session on bound sockets; tests pass nil sockets to
// drive the packet path directly.
func newSession(cfg SessionConfig, log *slog.Logger, rc, rcc *net.UDPConn, port int) *Session {
	s := &Session{
		cfg:    cfg,
		log:    log.With("rtp_port", port),
		pool:   cfg.Pool,
		port:   port,
		local:  netip.AddrPortFrom(cfg.LocalIP, uint16(port)),
		rtpC:   rc,
		rtcpC:  rcc,
		epoch:  time.Now(),
		done:   make(chan struct{}),
		digits: make(chan dsp.DigitEvent, 32),
		dir:    sdp.SendRecv,
		dirTx:  sdp.SendRecv,
	}
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	var r [10]byte
	_, _ = rand.Read(r[:])
	s.ssrc = binary.BigEndian.Uint32(r[0:])
	s.seq = binary.BigEndian.Uint16(r[4:])
	s.txTS = binary.BigEndian.Uint32(r[6:])
	s.txFirst = true
	s.jb.delay = 320
	if cfg.Mode == Data {
		s.jb.delay = 480
	}
	if cfg.JitterDelay > 0 {
		s.jb.delay = uint32(cfg.JitterDelay * dsp.SampleRate / time.Second)
	}
	if cfg.InBandDTMF {
		s.detector = dsp.NewDTMFDetector(dsp.DTMFConfig{})
		s.emitInband = func(ev dsp.DigitEvent) {
			if s.bridged.Load() {
				return
			}
			s.mu.Lock()
			s.emit(ev)
			s.mu.Unlock()
		}
	}
	s.generator = dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())
	return s
}

// LocalAddr is the bound RTP address (RTCP is on the next port).
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// Apply sets what offer/answer decided: remote address, codec, telephone
// events, SRTP keys and direction. Call it again after a re-INVITE (hold,
// resume, new address); SRTP state is kept while the keys stay the same.
func (s *Session) Apply(n sdp.Negotiated) error {
	codec, err := ParseCodec(n.Codec)
	if err != nil {
		return err
	}
	var in, inC, out, outC *srtp.Context
	keysIn, keysOut := []byte(nil), []byte(nil)
	if n.SRTP != nil {
		prof, err := profile(n.SRTP.Suite)
		if err != nil {
			return err
		}
		keysIn, keysOut = n.SRTP.RemoteKey, n.SRTP.LocalKey
		s.mu.Lock()
		sameIn := bytes.Equal(s.keyIn, keysIn)
		s.mu.Unlock()
		if !sameIn {
			if in, err = newContext(prof, keysIn); err != nil {
				return fmt.Errorf("media: remote SRTP key: %w", err)
			}
			if inC, err = newContext(prof, keysIn); err != nil {
				return fmt.Errorf("media: remote SRTP key: %w", err)
			}
		}
		s.sendMu.Lock()
		sameOut := bytes.Equal(s.keyOut, keysOut)
		s.sendMu.Unlock()
		if !sameOut {
			if out, err = newContext(prof, keysOut); err != nil {
				return fmt.Errorf("media: local SRTP key: %w", err)
			}
			if outC, err = newContext(prof, keysOut); err != nil {
				return fmt.Errorf("media: local SRTP key: %w", err)
			}
		}
	}
	dir := n.Direction
	if dir == sdp.DirUnset {
		dir = sdp.SendRecv
	}

	s.mu.Lock()
	s.codec, s.pt, s.events, s.eventPT, s.dir = codec, n.PT, n.Events, n.EventPT, dir
	s.red, s.redPT = n.Red && n.Events, n.RedPT
	if n.Remote != s.negRemote {
		// New address (re-INVITE): learn the source again.
		s.remote, s.latched = n.Remote, false
	}
	s.negRemote = n.Remote
	if n.RemoteRTCP.IsValid() && (n.RemoteRTCP != s.remoteRTCP || !s.rtcpLatch) {
		s.remoteRTCP, s.rtcpLatch = n.RemoteRTCP, false
	}
	if n.SRTP == nil {
		s.srtpIn, s.srtcpIn, s.keyIn = nil, nil, nil
	} else if in != nil {
		s.srtpIn, s.srtcpIn, s.keyIn = in, inC, keysIn
	}
	remote := s.remote
	s.mu.Unlock()

	s.sendMu.Lock()
	s.codecTx, s.ptTx, s.eventsTx, s.eventPTTx, s.dirTx, s.remoteTx = codec, n.PT, n.Events, n.EventPT, dir, remote
	if n.SRTP == nil {
		s.srtpOut, s.srtcpOut, s.keyOut = nil, nil, nil
	} else if out != nil {
		s.srtpOut, s.srtcpOut, s.keyOut = out, outC, keysOut
	}
	s.sendMu.Unlock()

	s.hasDigit.Store(n.Events || s.cfg.InBandDTMF)
	s.applied.Store(true)
	return nil
}

// Start runs the receive and RTCP goroutines; Close stops them.
func (s *Session) Start() error {
	if !s.applied.Load() {
		return errors.New("media: Start before Apply")
	}
	if s.started.Swap(true) {
		return nil
	}
	if s.isDone() {
		return ErrClosed
	}
	s.mu.Lock()
	s.lastRx = time.Now()
	s.mu.Unlock()
	s.wg.Add(3)
	go s.recvRTP()
	go s.recvRTCP()
	go s.housekeeping()
	return nil
}

func (s *Session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Done is closed when the session has ended; Err says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is nil while the session runs, then ErrClosed, ErrHangup or
// ErrRTPTimeout.
func (s *Session) Err() error {
	if p := s.endErr.Load(); p != nil {
		return *p
	}
	return nil
}

// end stops the session once; it does not wait for the goroutines.
func (s *Session) end(reason error) bool {
	first := false
	s.endOnce.Do(func() {
		first = true
		s.endErr.Store(&reason)
		if s.rtpC != nil && s.started.Load() && s.cfg.RTCPInterval > 0 {
			s.sendRTCP(time.Now(), true)
		}
		close(s.done)
		if s.rtpC != nil {
			s.rtpC.Close()
			s.rtcpC.Close()
			s.pool.release(s.port)
		}
	})
	return first
}

// Close ends the session and releases its ports; it is what the signalling
// layer calls when the dialog ends. Safe to call more than once.
func (s *Session) Close() error {
	s.end(ErrClosed)
	s.wg.Wait()
	return nil
}

// Hangup ends the call from the Channel side: OnEnd tells the signalling
// layer to send BYE. Safe to call more than once.
func (s *Session) Hangup() error {
	if s.end(ErrHangup) && s.cfg.OnEnd != nil {
		s.cfg.OnEnd(ErrHangup)
	}
	s.wg.Wait()
	return nil
}

// Digits delivers key presses received as RFC 4733 events, and in-band when
// SessionConfig.InBandDTMF is set; nil when the leg has neither (the
// consumer then detects in-band itself). Start and End are in the sample
// time of ReadFrame. Call it after Apply.
func (s *Session) Digits() <-chan dsp.DigitEvent {
	if !s.hasDigit.Load() {
		return nil
	}
	return s.digits
}

func (s *Session) emit(ev dsp.DigitEvent) {
	select {
	case s.digits <- ev:
		s.digitsIn++
	default:
		s.digitsLost++
	}
}

// recvRTP is the receive loop of the RTP socket.
func (s *Session) recvRTP() {
	defer s.wg.Done()
	var buf [1500]byte
	for {
		n, from, err := s.rtpC.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if s.isDone() {
				return
			}
			continue
		}
		s.receive(buf[:n], from, time.Now())
	}
}

// receive handles one datagram of the RTP socket: RTCP multiplexed on it
// (RFC 5761 §4: PT 192-223), or RTP through SRTP, stats, events and the
// jitter buffer. It allocates nothing.
func (s *Session) receive(pkt []byte, from netip.AddrPort, now time.Time) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		s.mu.Lock()
		s.malformed++
		s.mu.Unlock()
		return
	}
	if pt := pkt[1] & 0x7f; pt >= 64 && pt < 96 {
		s.receiveRTCP(pkt, from, now)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var p []byte
	if s.srtpIn != nil {
		out, err := s.srtpIn.DecryptRTP(s.plain[:0], pkt, &s.hdr)
		if err != nil {
			s.decryptErr++
			return
		}
		p = out
	} else {
		p = pkt
	}
	hl, err := s.hdr.Unmarshal(p)
	if err != nil {
		s.malformed++
		return
	}
	payload := p[hl:]
	if s.hdr.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			s.malformed++
			return
		}
		payload = payload[:len(payload)-int(payload[len(payload)-1])]
	}
	// Symmetric RTP (RFC 4961): send where the far end sends from. Latch on
	// the first good packet; move only for the same SSRC (NAT rebinding) or
	// back to the address SDP gave.
	if !s.latched || (from == s.negRemote && from != s.remote) {
		// RTCP keeps its negotiated address until RTCP itself arrives.
		s.remote, s.latched = from, true
		s.sendMu.Lock()
		s.remoteTx = from
		s.sendMu.Unlock()
	} else if from != s.remote {
		if !s.rx.started || s.hdr.SSRC != s.rx.ssrc {
			s.foreign++
			return
		}
		s.remote = from
		s.sendMu.Lock()
		s.remoteTx = from
		s.sendMu.Unlock()
	}
	s.lastRx = now
	s.rxPackets++
	s.rxOctets += uint64(len(payload))
	arrival := uint32(now.Sub(s.epoch).Nanoseconds() * 8 / 1e6)
	switch {
	case s.events && s.hdr.PayloadType == s.eventPT:
		// Events share the stream's sequence space; their timestamp is the
		// event start, so they stay out of the jitter estimate.
		s.rx.update(s.hdr.SSRC, s.hdr.SequenceNumber, s.hdr.Timestamp, arrival, false)
		s.receiveEvent(s.hdr.Timestamp, payload)
	case s.red && s.hdr.PayloadType == s.redPT:
		s.rx.update(s.hdr.SSRC, s.hdr.SequenceNumber, s.hdr.Timestamp, arrival, false)
		s.receiveRed(s.hdr.Timestamp, payload)
	case s.hdr.PayloadType == s.pt:
		if s.rx.started && s.hdr.SSRC != s.rx.ssrc && s.jb.started {
			// A new stream (the far end switched sources): its timestamps
			// have nothing to do with the old ones.
			s.jb.resyncs++
			s.jb.reset(s.hdr.Timestamp)
		}
		if !s.rx.update(s.hdr.SSRC, s.hdr.SequenceNumber, s.hdr.Timestamp, arrival, true) {
			return
		}
		if n := s.evRx.audio(s.hdr.Timestamp, &s.evOut); n > 0 {
			s.emitDigit(s.evOut[0])
		}
		s.jb.put(s.hdr.Timestamp, payload, s.hdr.Marker)
	default:
		// Comfort noise (13) and anything not negotiated.
		s.unknownPT++
	}
}

// receiveEvent feeds one telephone-event payload. Called with mu.
func (s *Session) receiveEvent(ts uint32, payload []byte) {
	if !s.jb.started {
		// An event before any audio fixes the playout timeline, so
		// that later audio and events map to the same sample time.
		s.jb.reset(ts)
	}
	n := s.evRx.handle(ts, payload, s.lastRx, &s.evOut)
	for i := range n {
		s.emitDigit(s.evOut[i])
	}
	if peer := s.relayTo.Load(); peer != nil && s.evRx.active && !s.evRx.ended {
		peer.relayEvent(s.evRx.ts, s.evRx.code, s.evRx.dur, false)
	}
}

// relayEvent is the live pass-through of a bridged leg's event.
func (s *Session) relayEvent(src uint32, code uint8, dur uint32, ended bool) {
	s.sendMu.Lock()
	s.evTx.relay(src, code, dur, ended)
	s.sendMu.Unlock()
}

// receiveRed unpacks RFC 2198 redundancy (RFC 4733 §2.5.1.6): the block
// headers, then the blocks oldest first, each fed as the event it carries.
// Blocks of other payload types are skipped. Called with mu.
func (s *Session) receiveRed(ts uint32, p []byte) {
	// Up to 8 redundant blocks; more is not a sane sender.
	var offs [8]uint32
	var lens [8]int
	var pts [8]uint8
	n := 0
	for {
		if len(p) < 1 {
			s.malformed++
			return
		}
		if p[0]&0x80 == 0 {
			pts[min(n, 7)] = p[0] & 0x7f
			p = p[1:]
			break
		}
		if len(p) < 4 || n == 7 {
			s.malformed++
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
			s.malformed++
			return
		}
		if pts[i] == s.eventPT {
			s.receiveEvent(ts-offs[i], p[:l])
		}
		p = p[l:]
	}
}

// emitDigit maps an event's RTP time onto ReadFrame sample time. Called with mu.
func (s *Session) emitDigit(d digit) {
	var start int64
	if s.jb.started {
		start = s.readPos + int64(int32(d.ts-s.jb.playTS))
	} else {
		start = s.readPos + int64(s.jb.delay)
	}
	if start < 0 {
		start = 0
	}
	s.emit(dsp.DigitEvent{Key: d.key, Start: start, End: start + int64(d.dur)})
	if peer := s.relayTo.Load(); peer != nil {
		peer.relayEvent(d.ts, d.code, d.dur, true)
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
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if err := s.pace(n); err != nil {
		return err
	}
	s.mu.Lock()
	s.frameLocked(pcm)
	s.mu.Unlock()
	if s.detector != nil {
		// The detector counts the samples it is fed, which are exactly
		// those ReadFrame handed out: its times are ReadFrame sample time.
		s.detector.Process(pcm, s.emitInband)
	}
	return nil
}

// frameLocked takes one frame out of the jitter buffer and decodes or
// conceals it. Called with mu and readMu.
func (s *Session) frameLocked(pcm []int16) {
	n := len(pcm)
	code := s.code[:n]
	preroll := !s.jb.started || int32(s.jb.playTS-s.jb.origin) < 0
	present := s.jb.get(code, s.codec.silence())
	switch {
	case present > 0:
		s.codec.decode(pcm, code)
		copy(s.last[:n], pcm)
		s.lastN, s.concealRun = n, 0
	case preroll:
		clear(pcm)
	default:
		// Loss concealment that invents nothing: in Voice mode the last
		// frame once, 6 dB down, then silence; in Data mode silence.
		s.concealed++
		if s.cfg.Mode == Voice && s.concealRun == 0 && s.lastN == n {
			for i, v := range s.last[:n] {
				pcm[i] = v / 2
			}
		} else {
			clear(pcm)
		}
		s.concealRun++
	}
	s.readPos += int64(n)
	if k := s.evRx.tick(time.Now(), &s.evOut); k > 0 {
		for i := range k {
			s.emitDigit(s.evOut[i])
		}
	}
}

// pace waits for the frame's slot in real time. A reader that fell behind
// gets frames at once until it has caught up, as long as the jitter buffer
// can hold what it missed (maxLag); beyond that the clock restarts.
func (s *Session) pace(n int) error {
	if s.isDone() {
		return io.EOF
	}
	now := time.Now()
	if s.next.IsZero() {
		s.next = now
	}
	s.next = s.next.Add(time.Duration(n) * time.Second / dsp.SampleRate)
	wait := s.next.Sub(now)
	if wait > 0 {
		s.timer.Reset(wait)
		select {
		case <-s.timer.C:
		case <-s.done:
			s.timer.Stop()
			return io.EOF
		}
	} else if wait < -maxLag {
		s.next = now
	}
	return nil
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
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	ts := s.txTS
	s.txTS += uint32(n)
	switch {
	case s.evTx.startNext(ts):
		return s.sendEventFrame(uint32(n))
	case s.generator.Busy():
		// In-band digit or its pause replaces the caller's audio.
		s.generator.Generate(s.txPCM[:n])
		pcm = s.txPCM[:n]
	}
	s.codecTx.encode(s.txCode[:n], pcm)
	return s.sendRTP(s.ptTx, s.txFirst, ts, s.txCode[:n])
}

// minDigitGapMs is the pause after an in-band digit before the next queued
// one: the shortest pause a Q.24 receiver must accept. Events need none of
// their own: the two repeated end packets already span 40 ms.
const minDigitGapMs = 40

// sendEventFrame sends the RFC 4733 packet of this frame (§2.5.1): the
// start with the marker bit, updates with the duration so far, and the end
// packet three times (§2.5.1.4), each with a new sequence number.
func (s *Session) sendEventFrame(n uint32) error {
	e := &s.evTx
	var b [4]byte
	if e.ends == 0 {
		first := e.elapsed == 0
		end := e.advance(n)
		eventBlock{code: e.code, end: end, volume: 10, duration: uint16(min(e.elapsed, 0xffff))}.put(b[:])
		if end {
			e.ends = 1
			e.sent++
		}
		return s.sendRTP(s.eventPTTx, first, e.ts, b[:])
	}
	eventBlock{code: e.code, end: true, volume: 10, duration: uint16(min(e.elapsed, 0xffff))}.put(b[:])
	e.ends++
	if e.ends >= 3 {
		e.active = false
	}
	return s.sendRTP(s.eventPTTx, false, e.ts, b[:])
}

// sendRTP builds, protects and sends one packet. Called with sendMu.
func (s *Session) sendRTP(pt uint8, marker bool, ts uint32, payload []byte) error {
	if !s.dirTx.Sends() || !s.remoteTx.IsValid() || s.remoteTx.Port() == 0 {
		return nil
	}
	b := s.txBuf[:12+len(payload)]
	b[0] = 0x80
	b[1] = pt & 0x7f
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], s.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], s.ssrc)
	copy(b[12:], payload)
	s.seq++
	s.txFirst = false
	out := b
	if s.srtpOut != nil {
		var err error
		out, err = s.srtpOut.EncryptRTP(s.txEnc[:0], b, &s.txHdr)
		if err != nil {
			return fmt.Errorf("media: SRTP encrypt: %w", err)
		}
	}
	if _, err := s.rtpC.WriteToUDPAddrPort(out, s.remoteTx); err != nil {
		if s.isDone() {
			return io.EOF
		}
		return nil // ICMP unreachable and the like: RTP is best effort
	}
	s.txPackets++
	s.txOctets += uint64(len(payload))
	s.txLastTS, s.txLastAt = ts, time.Now()
	return nil
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
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if !s.eventsTx {
		if err := s.generator.QueueKey(key, durationMs, minDigitGapMs); err != nil {
			return err
		}
		s.inbandSent++
		return nil
	}
	return s.evTx.push(queuedDigit{code: code, dur: uint32(durationMs * dsp.SampleRate / 1000)})
}

// eventsNegotiated reports whether the leg sends RFC 4733 events.
func (s *Session) eventsNegotiated() bool {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.eventsTx
}

// DigitsPending reports whether SendDigit has digits not yet fully sent.
func (s *Session) DigitsPending() bool {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.evTx.pending() || s.generator.Busy()
}
