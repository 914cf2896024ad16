package media

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/pion/srtp/v3"
)

// feeder makes a continuous G.711 stream for the receive path: each next()
// rewrites sequence number and timestamp of one packet buffer in place.
type feeder struct {
	pkt  []byte
	seq  uint16
	ts   uint32
	now  time.Time
	from netip.AddrPort
}

func newFeeder(pt uint8) *feeder {
	var pcm [FrameSamples]int16
	var code [FrameSamples]byte
	tone(pcm[:], 1209, 6000, 0) // a DTMF column tone alone: the detector works but finds no digit
	PCMA.encode(code[:], pcm[:])
	return &feeder{pkt: rtpPacket(pt, 1, 0, 0x1234, code[:]), now: time.Now(), from: netip.MustParseAddrPort("127.0.0.1:4000")}
}

func (f *feeder) next() []byte {
	f.seq++
	f.ts += FrameSamples
	f.now = f.now.Add(20 * time.Millisecond)
	binary.BigEndian.PutUint16(f.pkt[2:], f.seq)
	binary.BigEndian.PutUint32(f.pkt[4:], f.ts)
	return f.pkt
}

// receiveAndRead is one packet through the whole receive side: socket
// payload → (SRTP) → RTP header → stats → jitter buffer → G.711 decode via
// dsp → in-band DTMF detector via dsp, as ReadFrame does minus its pacing.
func receiveAndRead(s *Session, pkt []byte, from netip.AddrPort, now time.Time, pcm []int16) {
	s.receive(pkt, from, now)
	s.in.mu.Lock()
	s.frameLocked(pcm)
	s.in.mu.Unlock()
	s.play.detector.Process(pcm, s.play.emitInband)
}

func detectingSession(t testing.TB, srtpKey []byte) *Session {
	s, err := NewSession(SessionConfig{Pool: testPool(t), LocalIP: loopback, InBandDTMF: true, Mode: Data, RTPTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n := sdp.Negotiated{Codec: "PCMA", PT: 8, Events: true, EventPT: 101, Remote: netip.MustParseAddrPort("127.0.0.1:9")}
	if srtpKey != nil {
		n.SRTP = &sdp.SRTPKeys{Suite: suiteForKey(srtpKey), LocalKey: srtpKey, RemoteKey: srtpKey}
	}
	if err := s.Apply(n); err != nil {
		t.Fatal(err)
	}
	return s
}

func suiteForKey(k []byte) string {
	if len(k) == 28 {
		return sdp.SuiteAEADAES128GCM
	}
	return sdp.SuiteAES128SHA1_80
}

// encryptor protects feeder packets as the far end would.
func encryptor(t testing.TB, key []byte) *srtp.Context {
	prof, _ := profile(suiteForKey(key))
	c, err := newContext(prof, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReceivePathAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	for _, key := range [][]byte{nil, make([]byte, 30), make([]byte, 28)} {
		s := detectingSession(t, key)
		f := newFeeder(8)
		// Events mixed in: every 25th packet is a telephone-event update.
		evPkt := rtpPacket(101, 0, 0, 0x1234, ev(3, false, 320))
		var pkts [][]byte
		var enc *srtp.Context
		if key != nil {
			enc = encryptor(t, key)
		}
		for i := range 1200 {
			p := append([]byte(nil), f.next()...)
			if i%25 == 0 {
				p = append([]byte(nil), evPkt...)
				binary.BigEndian.PutUint16(p[2:], f.seq)
				binary.BigEndian.PutUint32(p[4:], f.ts)
			}
			if enc != nil {
				var err error
				if p, err = enc.EncryptRTP(nil, p, nil); err != nil {
					t.Fatal(err)
				}
			}
			pkts = append(pkts, p)
		}
		var pcm [FrameSamples]int16
		i := 0
		now := time.Now()
		allocs := testing.AllocsPerRun(1000, func() {
			now = now.Add(20 * time.Millisecond)
			receiveAndRead(s, pkts[i], f.from, now, pcm[:])
			i++
		})
		if allocs != 0 {
			t.Errorf("SRTP %v: %.2f allocations per packet", key != nil, allocs)
		}
		st := s.Stats()
		// The frames whose packet was an event (every 25th) are concealed.
		if st.DecryptErrors != 0 || st.PacketsReceived < 1000 || st.Concealed != 40 || st.DigitsReceived == 0 {
			t.Errorf("SRTP %v: stats %+v", key != nil, st)
		}
	}
}

func TestSendPathAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	for _, srtpOn := range []bool{false, true} {
		a, b, _, _ := pair(t, func(a, b *legOpts) {
			if srtpOn {
				a.caps.SRTP, b.caps.SRTP = sdp.SRTPRequired, sdp.SRTPOptional
			}
		})
		_ = b
		var pcm [FrameSamples]int16
		tone(pcm[:], 1000, 8000, 0)
		if allocs := testing.AllocsPerRun(500, func() {
			if err := a.WriteFrame(pcm[:]); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("SRTP %v: WriteFrame %.2f allocations per packet", srtpOn, allocs)
		}
		// Digits going out (events) are allocation-free too.
		if allocs := testing.AllocsPerRun(200, func() {
			if !a.DigitsPending() {
				_ = a.SendDigit('5', 60)
			}
			_ = a.WriteFrame(pcm[:])
		}); allocs != 0 {
			t.Errorf("SRTP %v: digits %.2f allocations per frame", srtpOn, allocs)
		}
		if st := a.Stats(); st.PacketsSent < 700 || st.DigitsSent == 0 {
			t.Errorf("sent %+v", st)
		}
	}
}

func TestReadFrameAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	s := detectingSession(t, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var pcm [FrameSamples]int16
	// Paced: 25 frames take 0.5 s.
	if allocs := testing.AllocsPerRun(25, func() {
		if err := s.ReadFrame(pcm[:]); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("ReadFrame: %.2f allocations per frame", allocs)
	}
}

// BenchmarkReceivePath is one RTP packet per op through receive → SRTP →
// jitter buffer → G.711 decode → DTMF detector.
func BenchmarkReceivePath(b *testing.B) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"srtp-aes-cm-80", make([]byte, 30)}, {"srtp-aead-gcm", make([]byte, 28)}} {
		b.Run(tc.name, func(b *testing.B) {
			s := detectingSession(b, tc.key)
			f := newFeeder(8)
			var pcm [FrameSamples]int16
			var enc *srtp.Context
			var chunk [][]byte
			refill := func() {
				// Pre-protect a chunk; SRTP replay protection forbids reuse.
				chunk = chunk[:0]
				for range 4096 {
					p, err := enc.EncryptRTP(nil, f.next(), nil)
					if err != nil {
						b.Fatal(err)
					}
					chunk = append(chunk, p)
				}
			}
			if tc.key != nil {
				enc = encryptor(b, tc.key)
				refill()
			}
			k := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var p []byte
				if enc == nil {
					p = f.next()
				} else {
					if k == len(chunk) {
						b.StopTimer()
						refill()
						k = 0
						b.StartTimer()
					}
					p = chunk[k]
					k++
				}
				receiveAndRead(s, p, f.from, f.now, pcm[:])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
}

// BenchmarkSendPath is one WriteFrame per op: G.711 encode via dsp, RTP
// header, SRTP, sendto on a real socket.
func BenchmarkSendPath(b *testing.B) {
	for _, srtpOn := range []bool{false, true} {
		name := "plain"
		if srtpOn {
			name = "srtp-aes-cm-80"
		}
		b.Run(name, func(b *testing.B) {
			pool := testPool(b)
			a, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback})
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			sink, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback})
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			n := sdp.Negotiated{Codec: "PCMA", PT: 8, Remote: sink.LocalAddr()}
			if srtpOn {
				n.SRTP = &sdp.SRTPKeys{Suite: sdp.SuiteAES128SHA1_80, LocalKey: make([]byte, 30), RemoteKey: make([]byte, 30)}
			}
			if err := a.Apply(n); err != nil {
				b.Fatal(err)
			}
			var pcm [FrameSamples]int16
			tone(pcm[:], 1000, 8000, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := a.WriteFrame(pcm[:]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
}

var _ = dsp.SampleRate

func negotiatedPCMA() sdp.Negotiated {
	return sdp.Negotiated{Codec: "PCMA", PT: 8, Events: true, EventPT: 101, Remote: netip.MustParseAddrPort("127.0.0.1:9")}
}

func srtpKeys(key []byte) *sdp.SRTPKeys {
	return &sdp.SRTPKeys{Suite: suiteForKey(key), LocalKey: key, RemoteKey: key}
}

// BenchmarkNewSession measures what one leg costs: B/op is the memory of a
// session (jitter buffer, packet buffers, DTMF detector and generator)
// besides its two sockets.
func BenchmarkNewSession(b *testing.B) {
	lo, hi := testkit.PortRange(b, 100)
	pool, err := NewPortPool(lo, hi)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback, InBandDTMF: true})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// countLeg is a FrameLeg that reads left frames, then io.EOF.
type countLeg struct{ left int }

func (l *countLeg) ReadFrame([]int16) error {
	if l.left == 0 {
		return io.EOF
	}
	l.left--
	return nil
}
func (l *countLeg) WriteFrame([]int16) error  { return nil }
func (l *countLeg) SendDigit(byte, int) error { return nil }

// TestPumpAllocatesNothingPerFrame: a bridge direction allocates its frame
// once; frames and the digits that cross with them allocate nothing.
func TestPumpAllocatesNothingPerFrame(t *testing.T) {
	skipUnderRace(t)
	digits := make(chan dsp.DigitEvent, 50)
	leg := &countLeg{}
	run := func(frames int) float64 {
		return testing.AllocsPerRun(20, func() {
			for range frames {
				digits <- dsp.DigitEvent{Key: '1', End: 800}
			}
			leg.left = frames
			if err := pump(context.Background(), leg, digits, leg, nil); err != io.EOF {
				t.Fatal(err)
			}
		})
	}
	if one, many := run(1), run(50); many != one {
		t.Errorf("pump: %.0f allocations for 1 frame, %.0f for 50", one, many)
	}
}

// A tap (a call's capture) sees the packets sent and those received, as
// they crossed the socket, and adds no allocation to the send path.
func TestTapSeesBothWaysAllocatingNothing(t *testing.T) {
	skipUnderRace(t)
	capA, err := pcap.NewCapture(filepath.Join(t.TempDir(), "a.pcap"), 10*time.Second, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	a, b, _, _ := pair(t, func(a, b *legOpts) { a.cfg.Tap = capA })
	var pcm [FrameSamples]int16
	tone(pcm[:], 1000, 8000, 0)
	if allocs := testing.AllocsPerRun(100, func() {
		if err := a.WriteFrame(pcm[:]); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("WriteFrame with a tap: %.2f allocations per packet", allocs)
	}
	for range 20 {
		if err := b.WriteFrame(pcm[:]); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (sent, received int) {
		capA.Each(func(_ time.Time, src, dst netip.AddrPort, pkt []byte) bool {
			switch {
			case src == a.LocalAddr() && dst == b.LocalAddr() && len(pkt) == 12+FrameSamples:
				sent++
			case src == b.LocalAddr() && dst == a.LocalAddr() && len(pkt) == 12+FrameSamples:
				received++
			}
			return true
		})
		return
	}
	testkit.WaitFor(t, "b's packets in a's capture", 5*time.Second, func() bool { _, r := count(); return r == 20 })
	if sent, _ := count(); sent < 101 { // AllocsPerRun runs once more to warm up
		t.Fatalf("a's capture holds %d packets sent, want 101", sent)
	}
}

// A session holds no packet, SRTP or playout buffer until it needs one: a
// B2BUA call has two sessions, most calls of a flood never carry RTP, and
// these buffers were most of a call's allocation. Sending makes the send
// buffers, reading the playout's, SRTP its own.
func TestBuffersMadeOnFirstUse(t *testing.T) {
	a, b, _, _ := pair(t, nil)
	for _, s := range []*Session{a, b} {
		if s.out.buf != nil || s.out.enc != nil || s.out.generator != nil || s.in.plain != nil || s.play.buf != nil || s.rtcp.plain != nil {
			t.Fatalf("a fresh session holds buffers: send %v, srtp %v/%v/%v, generator %v, playout %v",
				s.out.buf != nil, s.out.enc != nil, s.in.plain != nil, s.rtcp.plain != nil, s.out.generator != nil, s.play.buf != nil)
		}
	}
	var pcm [FrameSamples]int16
	if err := a.WriteFrame(pcm[:]); err != nil {
		t.Fatal(err)
	}
	if a.out.buf == nil {
		t.Error("no send buffer after WriteFrame")
	}
	s, _, _, _ := pair(t, func(a, b *legOpts) { a.caps.SRTP, b.caps.SRTP = sdp.SRTPRequired, sdp.SRTPOptional })
	if s.out.enc == nil || s.in.plain == nil || s.rtcp.plain == nil || s.rtcp.enc == nil {
		t.Error("an SRTP session lacks its SRTP buffers")
	}
}
