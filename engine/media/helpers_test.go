package media

import (
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// playedOut waits until s has read out everything received, and a few
// frames more: its playout is past the last packet's timestamp.
func playedOut(t *testing.T, s *Session) {
	t.Helper()
	testkit.WaitFor(t, "playout past the last packet", 10*time.Second, func() bool {
		s.in.mu.Lock()
		defer s.in.mu.Unlock()
		return s.in.jb.started && int32(s.in.jb.playTS-s.in.hdr.Timestamp) > 4*FrameSamples
	})
}

// testPool gives each test or benchmark its own ports, reserved against
// parallel test processes too.
func testPool(t testing.TB) *PortPool {
	t.Helper()
	lo, hi := testkit.PortRange(t, 40)
	p, err := NewPortPool(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

type legOpts struct {
	caps sdp.Capabilities
	cfg  SessionConfig
}

// pair makes two started sessions that negotiated through real SDP: a
// offers, b answers. mod may change capabilities and configs before.
func pair(t *testing.T, mod func(a, b *legOpts)) (*Session, *Session, sdp.Negotiated, sdp.Negotiated) {
	t.Helper()
	pool := testPool(t)
	// A deep fixed delay: the test machine is shared and a goroutine may
	// wait 300 ms for a core; the behaviour under test does not depend on it.
	a := legOpts{caps: sdp.Capabilities{TelephoneEvent: true}, cfg: SessionConfig{Pool: pool, LocalIP: loopback, JitterDelay: 400 * time.Millisecond}}
	b := a
	if mod != nil {
		mod(&a, &b)
	}
	sa, err := NewSession(a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	sb, err := NewSession(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	a.caps.Addr, a.caps.Port = loopback, int(sa.LocalAddr().Port())
	b.caps.Addr, b.caps.Port = loopback, int(sb.LocalAddr().Port())
	offer, err := sdp.Offer(a.caps)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := sdp.Parse(offer.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	ans, negB, err := sdp.Answer(parsed, b.caps)
	if err != nil {
		t.Fatal(err)
	}
	ansParsed, err := sdp.Parse(ans.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	negA, err := sdp.Negotiate(offer, ansParsed)
	if err != nil {
		t.Fatal(err)
	}
	if err := sa.Apply(negA); err != nil {
		t.Fatal(err)
	}
	if err := sb.Apply(negB); err != nil {
		t.Fatal(err)
	}
	if err := sa.Start(); err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(); err != nil {
		t.Fatal(err)
	}
	return sa, sb, negA, negB
}

// tone fills a frame with a sine of freq Hz at amplitude amp; n is the
// frame index, so frames join in phase.
func tone(pcm []int16, freq float64, amp float64, n int) {
	for i := range pcm {
		k := float64(n*len(pcm) + i)
		pcm[i] = int16(amp * math.Sin(2*math.Pi*freq*k/8000))
	}
}

// toneFrames generates frames for sendFrames: frames from to to-1 carry a
// 1 kHz tone of amplitude 8000, the others silence.
func toneFrames(from, to int) func(pcm []int16, i int) {
	return func(pcm []int16, i int) {
		if i >= from && i < to {
			tone(pcm, 1000, 8000, i)
		} else {
			clear(pcm)
		}
	}
}

func rms(pcm []int16) float64 {
	var e float64
	for _, v := range pcm {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / float64(len(pcm)))
}

// relay sits between a (which sends to the relay) and b; policy sees each
// packet from a to b with its index and returns what to do with it.
type relayAction int

const (
	pass relayAction = iota
	drop
	holdBack // send after the next packet (reordering)
)

type relay struct {
	conn   *net.UDPConn
	a, b   netip.AddrPort
	policy func(i int, pkt []byte) relayAction
	mu     sync.Mutex
	seen   [][]byte // packets a→b as received
	done   chan struct{}
}

func newRelay(t *testing.T, a, b netip.AddrPort, policy func(int, []byte) relayAction) *relay {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{conn: c, a: a, b: b, policy: policy, done: make(chan struct{})}
	go r.run()
	t.Cleanup(func() { c.Close(); <-r.done })
	return r
}

func (r *relay) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r *relay) run() {
	defer close(r.done)
	buf := make([]byte, 1500)
	var held []byte
	i := 0
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		pkt := append([]byte(nil), buf[:n]...)
		if from != r.a {
			r.conn.WriteToUDPAddrPort(pkt, r.a)
			continue
		}
		r.mu.Lock()
		r.seen = append(r.seen, pkt)
		r.mu.Unlock()
		act := pass
		if r.policy != nil {
			act = r.policy(i, pkt)
		}
		i++
		switch act {
		case drop:
		case holdBack:
			held = pkt
		default:
			r.conn.WriteToUDPAddrPort(pkt, r.b)
			if held != nil {
				r.conn.WriteToUDPAddrPort(held, r.b)
				held = nil
			}
		}
	}
}

func (r *relay) packets() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.seen...)
}

// via puts a relay on a's path to b: a sends to the relay.
func via(t *testing.T, a, b *Session, negA sdp.Negotiated, policy func(int, []byte) relayAction) *relay {
	t.Helper()
	r := newRelay(t, a.LocalAddr(), b.LocalAddr(), policy)
	negA.Remote = r.addr()
	if err := a.Apply(negA); err != nil {
		t.Fatal(err)
	}
	return r
}

// sendFrames writes n frames from gen, one per 20 ms by the clock: after a
// stall (the test machine is shared) it catches up at once, as a sender
// that follows its sample clock does, instead of sending everything late.
func sendFrames(t *testing.T, s *Session, n int, gen func(pcm []int16, i int)) {
	t.Helper()
	start := time.Now()
	var pcm [FrameSamples]int16
	for i := range n {
		gen(pcm[:], i)
		if err := s.WriteFrame(pcm[:]); err != nil {
			t.Errorf("WriteFrame %d: %v", i, err)
			return
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 20 * time.Millisecond)))
	}
}

// reader collects the RMS of every frame a session hands out until stopped.
type reader struct {
	s      *Session
	mu     sync.Mutex
	levels []float64
	frames [][]int16
	done   chan struct{}
	err    error
}

func startReader(s *Session, keep bool) *reader {
	r := &reader{s: s, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var pcm [FrameSamples]int16
		for {
			if err := s.ReadFrame(pcm[:]); err != nil {
				r.err = err
				return
			}
			r.mu.Lock()
			r.levels = append(r.levels, rms(pcm[:]))
			if keep {
				r.frames = append(r.frames, append([]int16(nil), pcm[:]...))
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// closeAfterPlayout lets the session play out what it received, closes it
// and waits for the reader to stop.
func (r *reader) closeAfterPlayout(t *testing.T) {
	t.Helper()
	playedOut(t, r.s)
	r.s.Close()
	<-r.done
}

func (r *reader) snapshot() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]float64(nil), r.levels...)
}

// loud counts frames above level and the longest run of them.
func loud(levels []float64, level float64) (count, run int) {
	cur := 0
	for _, l := range levels {
		if l > level {
			count++
			cur++
			run = max(run, cur)
		} else {
			cur = 0
		}
	}
	return count, run
}

// recvDigits waits up to 10 s for the next n digits on s.Digits.
func recvDigits(t *testing.T, s *Session, n int) []dsp.DigitEvent {
	t.Helper()
	var got []dsp.DigitEvent
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case d := <-s.Digits():
			got = append(got, d)
		case <-timeout:
			t.Fatalf("digits received: %+v", got)
		}
	}
	return got
}

// lossyPair is two legs without periodic RTCP; a has sent b 50 frames of
// tone through a relay that drops every 10th packet, and b has the 45 that
// passed.
func lossyPair(t *testing.T) (a, b *Session) {
	t.Helper()
	a, b, negA, _ := pair(t, func(a, b *legOpts) { a.cfg.RTCPInterval, b.cfg.RTCPInterval = -1, -1 })
	via(t, a, b, negA, func(i int, _ []byte) relayAction {
		if i%10 == 4 {
			return drop
		}
		return pass
	})
	sendFrames(t, a, 50, func(p []int16, i int) { tone(p, 440, 3000, i) })
	testkit.WaitFor(t, "45 packets at b", 5*time.Second, func() bool { return b.Stats().PacketsReceived == 45 })
	return a, b
}
