package media

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/sdp"
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
	// Tap, if set, sees every datagram of the RTP socket as it crossed the
	// wire (SRTP still encrypted, RTCP multiplexed on it included): each
	// one received, and each RTP packet sent. It is called on the packet
	// path, so it must be quick and must not keep pkt (pcap.Capture is one).
	Tap Tap
}

// Tap sees a session's packets; see SessionConfig.Tap.
type Tap interface {
	Add(ts time.Time, src, dst netip.AddrPort, pkt []byte)
}

// Session is the media of one call leg: an RTP/RTCP socket pair, the
// negotiated codec and events, optional SRTP, jitter buffer and statistics.
// It is an alarm Channel: ReadFrame, WriteFrame, Digits, SendDigit, Hangup.
//
// Use: NewSession, give LocalAddr to sdp.Offer/Answer, Apply the
// negotiation, Start; Apply again on re-INVITE; Close when the dialog ends.
//
// Its state is split by path, each part behind its own lock:
//
//	in    receiver (recv.go): what arriving RTP feeds and ReadFrame drains
//	play  playout (recv.go): ReadFrame's clock and concealment, one reader
//	out   sender (send.go): WriteFrame, SendDigit, SRTP out
//	rtcp  rtcpPart (rtcp.go): reports both ways, the far end's view of us
//
// Lock order: play, rtcp, in, out, then a bridged peer's out. A part never
// calls into another part that comes before it in this order.
type Session struct {
	cfg   SessionConfig
	log   *slog.Logger // lines add rtp_port themselves: a With per session costs more than the few lines it serves
	pool  *PortPool
	port  int
	local netip.AddrPort
	ssrc  uint32 // of our stream, fixed for the session's life
	epoch time.Time
	rtpC  *net.UDPConn
	pair  *portPair // the pool's; nil for tests that drive the packet path

	started  atomic.Bool
	done     chan struct{}
	endOnce  sync.Once
	endErr   atomic.Pointer[error]
	wg       sync.WaitGroup
	life     sync.Mutex   // Start's wg.Add, end's close(done): one before the other
	running  atomic.Int32 // goroutines Start ran that have not returned, the housekeeping timer while armed or running, and end setting deadlines; the last gives the ports back
	hk       *time.Timer  // housekeeping's (rtcp.go), made by Start under life
	nextRTCP time.Time    // when housekeeping sends the next report; only its callbacks touch it
	applied  atomic.Bool
	hasDigit atomic.Bool             // Digits is non-nil
	relayTo  atomic.Pointer[Session] // bridged peer that repeats our RFC 4733 events live
	bridged  atomic.Bool             // in a Bridge: in-band digits travel as audio, not as events
	digits   chan dsp.DigitEvent     // made with the first digits (InBandDTMF, or events applied), under in.mu, before hasDigit

	in   receiver
	play playout
	out  sender
	rtcp rtcpPart
}

// digitQueue is how many key presses Digits holds for a slow reader.
const digitQueue = 32

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
	pp, err := cfg.Pool.listen(cfg.LocalIP)
	if err != nil {
		return nil, err
	}
	s := newSession(cfg, log, pp.rtp, pp.rtcp, pp.port)
	s.pair = pp
	return s, nil
}

// newSession builds a session on bound sockets; tests pass nil sockets to
// drive the packet path directly.
func newSession(cfg SessionConfig, log *slog.Logger, rc, rcc *net.UDPConn, port int) *Session {
	var r [10]byte
	_, _ = rand.Read(r[:])
	s := &Session{
		cfg:   cfg,
		log:   log,
		pool:  cfg.Pool,
		port:  port,
		local: netip.AddrPortFrom(cfg.LocalIP, uint16(port)),
		ssrc:  binary.BigEndian.Uint32(r[0:]),
		epoch: time.Now(),
		rtpC:  rc,
		done:  make(chan struct{}),
	}
	if cfg.InBandDTMF {
		s.digits = make(chan dsp.DigitEvent, digitQueue)
	}
	s.in.init(s, cfg)
	s.play.init(s, cfg)
	s.out.init(s, binary.BigEndian.Uint16(r[4:]), binary.BigEndian.Uint32(r[6:]))
	s.rtcp.init(s, rcc)
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
	// New SRTP contexts (RTP and RTCP) for a direction whose key changed;
	// nil keeps the current ones.
	var in, inC, out, outC *srtp.Context
	keysIn, keysOut := []byte(nil), []byte(nil)
	if n.SRTP != nil {
		prof, err := profile(n.SRTP.Suite)
		if err != nil {
			return err
		}
		keysIn, keysOut = n.SRTP.RemoteKey, n.SRTP.LocalKey
		if !s.in.hasKey(keysIn) {
			if in, err = newContext(prof, keysIn); err != nil {
				return fmt.Errorf("media: remote SRTP key: %w", err)
			}
			if inC, err = newContext(prof, keysIn); err != nil {
				return fmt.Errorf("media: remote SRTP key: %w", err)
			}
		}
		if !s.out.hasKey(keysOut) {
			if out, err = newContext(prof, keysOut); err != nil {
				return fmt.Errorf("media: local SRTP key: %w", err)
			}
			if outC, err = newContext(prof, keysOut); err != nil {
				return fmt.Errorf("media: local SRTP key: %w", err)
			}
		}
	}
	if n.Direction == sdp.DirUnset {
		n.Direction = sdp.SendRecv
	}
	srtpOn := n.SRTP != nil
	remote := s.in.apply(n, codec, srtpOn, in, keysIn)
	s.out.apply(n, codec, remote, srtpOn, out, keysOut)
	s.rtcp.apply(n.RemoteRTCP, srtpOn, inC, outC)
	s.hasDigit.Store(n.Events || s.cfg.InBandDTMF)
	s.applied.Store(true)
	return nil
}

// Start runs the receive goroutine(s) and arms the housekeeping timer (RTCP
// reports, RTP timeout); Close stops them.
func (s *Session) Start() error {
	if !s.applied.Load() {
		return errors.New("media: Start before Apply")
	}
	if s.started.Swap(true) {
		return nil
	}
	// Under life: a Close between the done check and wg.Add would return
	// from wg.Wait with the goroutines still to come (a BYE crossing the
	// ACK that carried a late answer, TestStartRacingClose under -race).
	s.life.Lock()
	defer s.life.Unlock()
	if s.isDone() {
		return ErrClosed
	}
	now := time.Now()
	s.in.restartTimeout(now)
	// Housekeeping is a member of the session like the readers, from here
	// until a tick sees done or end stops its timer, but it is a timer, not
	// a goroutine that waits a second at a time: the runtime keeps every
	// goroutine descriptor a flood's peak made, for good.
	members := 2
	if !rtcpPolled {
		members++
	}
	s.wg.Add(members)
	s.running.Store(int32(members))
	go s.recvRTP()
	if !rtcpPolled {
		go s.recvRTCP()
	}
	// First report after half the interval (RFC 3550 §6.2).
	s.nextRTCP = now.Add(s.cfg.RTCPInterval / 2)
	s.hk = time.AfterFunc(housekeepingTick, s.housekeeping)
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

// end stops the session once; it does not wait for the goroutines. The
// ports go back to the pool once no goroutine of the session reads them:
// here when Start ran none or they are gone, else when the last of them
// returns (exit).
func (s *Session) end(reason error) bool {
	first := false
	s.endOnce.Do(func() {
		first = true
		s.endErr.Store(&reason)
		if s.rtpC != nil && s.started.Load() && s.cfg.RTCPInterval > 0 {
			s.sendRTCP(time.Now(), true)
		}
		s.life.Lock()
		// end holds the ports like a goroutine of the session until the
		// deadlines are set: were the pair released first (its readers
		// gone on some other read error), a deadline set on it now would
		// stop the readers of the pool's next session.
		s.running.Add(1)
		close(s.done)
		// A housekeeping tick still to come will not run: end takes its
		// leave for it. One already running sees done and leaves itself.
		stopped := s.hk != nil && s.hk.Stop()
		s.life.Unlock()
		if stopped {
			s.exit()
		}
		if s.rtpC != nil {
			// The sockets stay open for the pool: a deadline in the past
			// wakes the readers, which see done and return.
			past := time.Unix(1, 0)
			_ = s.rtpC.SetReadDeadline(past)
			_ = s.rtcp.conn.SetReadDeadline(past)
		}
		if s.running.Add(-1) == 0 {
			s.releasePorts()
		}
	})
	return first
}

// readBuf is a receive loop's buffer: the pair's, made once for it.
func (s *Session) readBuf(rtcp bool) []byte {
	switch {
	case s.pair == nil:
		return make([]byte, 1500)
	case rtcp:
		return s.pair.rtcpBuf[:]
	}
	return s.pair.rtpBuf[:]
}

// exit is the end of a goroutine Start ran, or of its housekeeping timer;
// the last one gives the ports back before Close's wait returns.
func (s *Session) exit() {
	if s.running.Add(-1) == 0 {
		s.releasePorts()
	}
	s.wg.Done()
}

// releasePorts gives the pair back to the pool. A packet being sent
// (out.mu) goes out first; every later one sees done and is not sent.
func (s *Session) releasePorts() {
	if s.pair == nil {
		return
	}
	s.out.mu.Lock()
	s.out.mu.Unlock()
	s.pool.release(s.pair)
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

// RemoteSource is where the far end's RTP comes from (symmetric RTP sends
// there), invalid before its first packet. It differs from the negotiated
// address when the far end is behind NAT.
func (s *Session) RemoteSource() netip.AddrPort {
	s.in.mu.Lock()
	defer s.in.mu.Unlock()
	if !s.in.latched {
		return netip.AddrPort{}
	}
	return s.in.remote
}
