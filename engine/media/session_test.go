package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestToneRoundTrip: a 1 kHz tone from a through real sockets reaches b
// decoded at its level, for both laws.
func TestToneRoundTrip(t *testing.T) {
	for _, codec := range []string{sdp.PCMA, sdp.PCMU} {
		a, b, _, negB := pair(t, func(a, b *legOpts) { a.caps.Codecs = []string{codec} })
		if negB.Codec != codec {
			t.Fatalf("negotiated %s", negB.Codec)
		}
		rd := startReader(b, false)
		// 25 frames of tone, then silence: the stream does not stop with
		// the tone (a stopped stream is concealed like a loss).
		sendFrames(t, a, 30, toneFrames(0, 25))
		rd.closeAfterPlayout(t)
		if !errors.Is(rd.err, io.EOF) {
			t.Errorf("ReadFrame after Close: %v, want io.EOF", rd.err)
		}
		n, run := loud(rd.snapshot(), 2000)
		if n != 25 || run != 25 {
			t.Errorf("%s: %d loud frames (run %d), want 25; stats %+v", codec, n, run, b.Stats())
		}
		for _, l := range rd.snapshot() {
			if l > 2000 && (l < 8000/1.414*0.95 || l > 8000/1.414*1.05) {
				t.Errorf("%s: frame level %.0f, want %.0f", codec, l, 8000/1.414)
				break
			}
		}
		st := b.Stats()
		if st.PacketsReceived != 30 || st.Lost != 0 || st.Codec != codec {
			t.Errorf("%s: stats %+v", codec, st)
		}
		if sa := a.Stats(); sa.PacketsSent != 30 || sa.OctetsSent != 30*160 {
			t.Errorf("%s: sender stats %+v", codec, sa)
		}
	}
}

// TestToneNotExtended: a 200 ms tone through reordering and loss. Voice
// mode may repeat a lost frame once; Data mode never; neither extends the
// tone by more than one frame.
func TestToneNotExtended(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     BufferMode
		lost     int // packet index lost
		wantLoud int
		wantRun  int
	}{
		{"voice, loss right after the tone", Voice, 10, 11, 11},
		{"data, loss right after the tone", Data, 10, 10, 10},
		{"voice, loss inside the tone", Voice, 5, 10, 10},
		{"data, loss inside the tone", Data, 5, 9, 5},
	} {
		a, b, negA, _ := pair(t, func(a, b *legOpts) { b.cfg.Mode = tc.mode })
		via(t, a, b, negA, func(i int, _ []byte) relayAction {
			switch {
			case i == tc.lost:
				return drop
			case i%4 == 1 && i != tc.lost-1:
				return holdBack // every 4th pair swapped
			}
			return pass
		})
		rd := startReader(b, false)
		// 10 frames of tone (packets 0-9), 10 of silence.
		sendFrames(t, a, 20, toneFrames(0, 10))
		rd.closeAfterPlayout(t)
		n, run := loud(rd.snapshot(), 500)
		if n != tc.wantLoud || run != tc.wantRun {
			t.Errorf("%s: %d frames with tone, longest run %d; want %d, %d", tc.name, n, run, tc.wantLoud, tc.wantRun)
		}
		// Concealed also counts the frames read after the stream stopped.
		if st := b.Stats(); st.Late != 0 || st.Lost != 1 || st.Concealed < 1 {
			t.Errorf("%s: late %d lost %d concealed %d", tc.name, st.Late, st.Lost, st.Concealed)
		}
	}
}

// TestRFC4733RoundTrip: SendDigit on a becomes telephone-event packets on
// the wire (start with marker, updates, three ends) and a DigitEvent of the
// same length on b.
func TestRFC4733RoundTrip(t *testing.T) {
	a, b, negA, negB := pair(t, nil)
	if !negA.Events || !negB.Events {
		t.Fatal("telephone-event not negotiated")
	}
	r := via(t, a, b, negA, nil)
	if b.Digits() == nil {
		t.Fatal("Digits is nil with telephone-event")
	}
	rd := startReader(b, false)
	defer func() { b.Close(); <-rd.done }()
	if err := a.SendDigit('7', 100); err != nil {
		t.Fatal(err)
	}
	if err := a.SendDigit('#', 60); err != nil {
		t.Fatal(err)
	}
	sendFrames(t, a, 25, func(p []int16, i int) { clear(p) })
	got := recvDigits(t, b, 2)
	if got[0].Key != '7' || got[0].End-got[0].Start != 800 || got[1].Key != '#' || got[1].End-got[1].Start != 480 {
		t.Errorf("digits %+v", got)
	}
	// '#' starts right after the two repeated end packets of '7' (frames
	// 5 and 6), in the same sample time: 40 ms after '7' ended.
	if gap := got[1].Start - got[0].End; gap != 320 {
		t.Errorf("pause between digits %d samples", gap)
	}
	// On the wire: '7' is 5 event packets (durations 160..800, the last
	// with E) then two more end packets; the marker only on the first.
	var evs []eventBlock
	var markers int
	for _, p := range r.packets() {
		if p[1]&0x7f != negA.EventPT {
			continue
		}
		if p[1]&0x80 != 0 {
			markers++
		}
		e, _ := parseEventBlock(p[12:])
		evs = append(evs, e)
	}
	if markers != 2 {
		t.Errorf("%d marked event packets, want 2", markers)
	}
	want7 := []uint16{160, 320, 480, 640, 800, 800, 800}
	if len(evs) < len(want7) {
		t.Fatalf("event packets %+v", evs)
	}
	for i, d := range want7 {
		if evs[i].code != 7 || evs[i].duration != d || evs[i].end != (i >= 4) {
			t.Errorf("packet %d: %+v, want duration %d end %v", i, evs[i], d, i >= 4)
		}
	}
	if st := b.Stats(); st.DigitsReceived != 2 {
		t.Errorf("DigitsReceived %d", st.DigitsReceived)
	}
	if st := a.Stats(); st.DigitsSent != 2 {
		t.Errorf("DigitsSent %d", st.DigitsSent)
	}
}

// TestInBandDTMF: without telephone-event, SendDigit plays the tone in the
// audio (dsp generator) and the far end's dsp detector finds it.
func TestInBandDTMF(t *testing.T) {
	a, b, negA, _ := pair(t, func(a, b *legOpts) {
		a.caps.TelephoneEvent = false
		b.cfg.InBandDTMF = true
		b.cfg.Mode = Data
	})
	if negA.Events {
		t.Fatal("events negotiated")
	}
	if a.Digits() != nil {
		t.Error("Digits must be nil without telephone-event and in-band detection")
	}
	rd := startReader(b, false)
	defer func() { b.Close(); <-rd.done }()
	for _, k := range []byte("1A*") {
		if err := a.SendDigit(k, 80); err != nil {
			t.Fatal(err)
		}
	}
	sendFrames(t, a, 40, func(p []int16, i int) { clear(p) })
	got := recvDigits(t, b, 3)
	for i, k := range []byte("1A*") {
		if got[i].Key != k {
			t.Errorf("digit %d: %c, want %c", i, got[i].Key, k)
		}
		if d := got[i].DurationMs(); d < 65 || d > 95 {
			t.Errorf("digit %c lasted %d ms, sent 80", k, d)
		}
	}
}

// TestSRTPSuites: each SDES suite carries audio; the wire is not the
// plaintext, and a tampered packet is rejected and counted.
func TestSRTPSuites(t *testing.T) {
	for _, suite := range sdp.Suites {
		a, b, negA, negB := pair(t, func(a, b *legOpts) {
			a.caps.SRTP, a.caps.Suites = sdp.SRTPRequired, []string{suite}
			b.caps.SRTP = sdp.SRTPOptional
		})
		if negA.SRTP == nil || negB.SRTP == nil || negB.SRTP.Suite != suite {
			t.Fatalf("%s not negotiated", suite)
		}
		r := via(t, a, b, negA, func(i int, p []byte) relayAction {
			if i == 3 {
				p[len(p)-1] ^= 1 // tag or ciphertext: authentication fails
			}
			return pass
		})
		rd := startReader(b, false)
		sendFrames(t, a, 10, func(p []int16, i int) { tone(p, 1000, 8000, i) })
		rd.closeAfterPlayout(t)
		// Above 4000: full-level frames only, not the 6 dB-down repeat.
		if n, _ := loud(rd.snapshot(), 4000); n != 9 {
			t.Errorf("%s: %d frames of tone, want 9 (one tampered)", suite, n)
		}
		st := b.Stats()
		if !st.SRTP || st.DecryptErrors != 1 || st.PacketsReceived != 9 {
			t.Errorf("%s: stats %+v", suite, st)
		}
		// The payload on the wire is not the G.711 of the tone.
		var plain [FrameSamples]int16
		var code [FrameSamples]byte
		tone(plain[:], 1000, 8000, 0)
		PCMA.encode(code[:], plain[:])
		p := r.packets()[0]
		if bytes.Contains(p, code[:16]) {
			t.Errorf("%s: plaintext on the wire", suite)
		}
		wantTag := map[string]int{sdp.SuiteAES128SHA1_80: 10, sdp.SuiteAES128SHA1_32: 4, sdp.SuiteAEADAES128GCM: 16}[suite]
		if len(p) != 12+160+wantTag {
			t.Errorf("%s: packet %d bytes, want %d", suite, len(p), 12+160+wantTag)
		}
	}
}

// TestRTCPReportsKnownLoss: with every 10th packet dropped, b's receiver
// statistics and the report block a receives in b's RTCP say 10 %.
func TestRTCPReportsKnownLoss(t *testing.T) {
	a, b := lossyPair(t)
	st := b.Stats()
	if st.Expected != 50 || st.Lost != 5 {
		t.Errorf("b: expected %d lost %d", st.Expected, st.Lost)
	}
	jitter := st.Jitter
	b.sendReport(time.Now())
	testkit.WaitFor(t, "b's report at a", 5*time.Second, func() bool { return a.Stats().RemoteReport })
	sa := a.Stats()
	if sa.RemoteFractionLost != 25 || sa.RemoteLost != 5 { // 5/50·256 = 25.6
		t.Errorf("a sees fraction %d lost %d", sa.RemoteFractionLost, sa.RemoteLost)
	}
	if b.Stats().FractionLost != 25 {
		t.Errorf("b fraction %d", b.Stats().FractionLost)
	}
	// a's SR then lets b measure the round trip through b's next RR.
	a.sendReport(time.Now())
	testkit.WaitFor(t, "a's SR at b", 5*time.Second, func() bool {
		b.rtcp.mu.Lock()
		defer b.rtcp.mu.Unlock()
		return b.rtcp.lsr != 0
	})
	b.sendReport(time.Now())
	// Only a report that answers a's SR (its LSR set) carries a round trip.
	testkit.WaitFor(t, "b's RR answering a's SR at a", 5*time.Second, func() bool {
		a.rtcp.mu.Lock()
		defer a.rtcp.mu.Unlock()
		return a.rtcp.report.hasRTT
	})
	if rtt := a.Stats().RTT; rtt < 0 || rtt > 100*time.Millisecond {
		t.Errorf("loopback RTT %v", rtt)
	}
	// The report carries b's A.8 estimate (to the timestamp unit).
	if d := sa.RemoteJitter - jitter; d < -time.Second/8000 || d > time.Second/8000 {
		t.Errorf("a sees jitter %v, b measured %v", sa.RemoteJitter, jitter)
	}
}

// TestSymmetricRTP: b was told a wrong address; it answers where a's
// packets come from (RFC 4961).
func TestSymmetricRTP(t *testing.T) {
	a, b, _, negB := pair(t, nil)
	negB.Remote = netip.MustParseAddrPort("127.0.0.1:9")
	if err := b.Apply(negB); err != nil {
		t.Fatal(err)
	}
	rdA := startReader(a, false)
	sendFrames(t, a, 3, func(p []int16, i int) { clear(p) })
	testkit.WaitFor(t, "b latched", 5*time.Second, func() bool { return b.Stats().Remote == a.LocalAddr() })
	sendFrames(t, b, 10, func(p []int16, i int) { tone(p, 1000, 8000, i) })
	rdA.closeAfterPlayout(t)
	if n, _ := loud(rdA.snapshot(), 4000); n != 10 {
		t.Errorf("a heard %d frames of b's tone", n)
	}
}

// TestRTPTimeout: silence from the far end ends the session with
// ErrRTPTimeout and OnEnd, and ReadFrame returns io.EOF; a held leg
// (inactive) does not time out.
func TestRTPTimeout(t *testing.T) {
	t.Parallel() // mostly waiting
	var ended atomic.Pointer[error]
	_, b, _, _ := pair(t, func(a, b *legOpts) {
		b.cfg.RTPTimeout = time.Second
		b.cfg.OnEnd = func(err error) { ended.Store(&err) }
	})
	_, h, _, negH := pair(t, func(a, b *legOpts) { b.cfg.RTPTimeout = time.Second })
	negH.Direction = sdp.Inactive
	if err := h.Apply(negH); err != nil {
		t.Fatal(err)
	}
	var pcm [FrameSamples]int16
	deadline := time.Now().Add(4 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		err = b.ReadFrame(pcm[:])
	}
	if !errors.Is(err, io.EOF) || !errors.Is(b.Err(), ErrRTPTimeout) {
		t.Fatalf("ReadFrame %v, Err %v", err, b.Err())
	}
	testkit.WaitFor(t, "OnEnd", 5*time.Second, func() bool { return ended.Load() != nil })
	if !errors.Is(*ended.Load(), ErrRTPTimeout) {
		t.Errorf("OnEnd(%v)", *ended.Load())
	}
	if h.Err() != nil {
		t.Errorf("held leg ended: %v", h.Err())
	}
}

// TestHangup: Hangup calls OnEnd once, ends reads and writes, frees ports.
func TestHangup(t *testing.T) {
	var calls atomic.Int32
	pool := testPool(t)
	s, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback, OnEnd: func(error) { calls.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("Start before Apply accepted")
	}
	if err := s.Apply(sdp.Negotiated{Codec: "PCMA", PT: 8, Remote: netip.MustParseAddrPort("127.0.0.1:9")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if pool.InUse() != 1 {
		t.Errorf("in use %d", pool.InUse())
	}
	s.Hangup()
	s.Hangup()
	s.Close()
	var pcm [FrameSamples]int16
	if calls.Load() != 1 || s.ReadFrame(pcm[:]) != io.EOF || s.WriteFrame(pcm[:]) != io.EOF || !errors.Is(s.Err(), ErrHangup) {
		t.Errorf("after Hangup: calls %d err %v", calls.Load(), s.Err())
	}
	if pool.InUse() != 0 {
		t.Errorf("ports not released: %d", pool.InUse())
	}
}

func TestBadInput(t *testing.T) {
	pool := testPool(t)
	if _, err := NewSession(SessionConfig{LocalIP: loopback}); err == nil {
		t.Error("no pool accepted")
	}
	if _, err := NewPortPool(10, 20); err == nil {
		t.Error("privileged ports accepted")
	}
	if _, err := NewPortPool(2001, 2001); err == nil {
		t.Error("range without a pair accepted")
	}
	s, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(sdp.Negotiated{Codec: "G729"}); err == nil {
		t.Error("G729 accepted")
	}
	if err := s.Apply(sdp.Negotiated{Codec: "PCMA", SRTP: &sdp.SRTPKeys{Suite: sdp.SuiteAES128SHA1_80, LocalKey: make([]byte, 30), RemoteKey: make([]byte, 5)}}); err == nil {
		t.Error("short SRTP key accepted")
	}
	if err := s.SendDigit('X', 100); err == nil {
		t.Error("key X accepted")
	}
	if err := s.SendDigit('1', 0); err == nil {
		t.Error("0 ms digit accepted")
	}
	if err := s.WriteFrame(make([]int16, 1000)); err == nil {
		t.Error("oversized frame accepted")
	}
}

func TestPortPoolExhaustion(t *testing.T) {
	lo, _ := testkit.PortRange(t, 4)
	p, err := NewPortPool(lo, lo+3) // two pairs
	if err != nil {
		t.Fatal(err)
	}
	var ss []*Session
	for range 2 {
		s, err := NewSession(SessionConfig{Pool: p, LocalIP: loopback})
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	if ss[0].LocalAddr().Port()%2 != 0 || ss[0].LocalAddr().Port() == ss[1].LocalAddr().Port() {
		t.Errorf("ports %v %v", ss[0].LocalAddr(), ss[1].LocalAddr())
	}
	if _, err := NewSession(SessionConfig{Pool: p, LocalIP: loopback}); !errors.Is(err, ErrNoPorts) {
		t.Errorf("third session: %v", err)
	}
	ss[0].Close()
	s, err := NewSession(SessionConfig{Pool: p, LocalIP: loopback})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	s.Close()
	ss[1].Close()
}

// TestSIPpPcapEvents feeds the RFC 4733 capture SIPp ships (three end
// packets with one sequence number) through the receive path.
func TestSIPpPcapEvents(t *testing.T) {
	pkts := sippPackets(t, "dtmf_2833_1.pcap")
	s := offlineSession(t, sdp.PCMA, true)
	for _, p := range pkts {
		s.receive(p.Payload, p.Src, p.Time)
	}
	select {
	case d := <-s.Digits():
		if d.Key != '1' || d.End-d.Start != 2240 {
			t.Errorf("digit %+v", d)
		}
	default:
		t.Fatal("no digit from dtmf_2833_1.pcap")
	}
	select {
	case d := <-s.Digits():
		t.Errorf("repeated end packets gave a second digit %+v", d)
	default:
	}
}

// offlineSession is a session fed through receive() directly.
func offlineSession(t *testing.T, codec string, events bool) *Session {
	t.Helper()
	s, err := NewSession(SessionConfig{Pool: testPool(t), LocalIP: loopback, RTPTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pt := uint8(8)
	if codec == sdp.PCMU {
		pt = 0
	}
	if err := s.Apply(sdp.Negotiated{Codec: codec, PT: pt, Events: events, EventPT: 101, Remote: netip.MustParseAddrPort("127.0.0.1:9")}); err != nil {
		t.Fatal(err)
	}
	return s
}

func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12+len(payload))
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	copy(b[12:], payload)
	return b
}

// TestHoldAndResume: a re-INVITE puts a on hold (recvonly: the far end
// sends only) and back; while held a sends nothing, and sample time and
// sequence numbers run on.
func TestHoldAndResume(t *testing.T) {
	a, b, negA, _ := pair(t, nil)
	r := via(t, a, b, negA, nil)
	var pcm [FrameSamples]int16
	write := func(n int) {
		for range n {
			if err := a.WriteFrame(pcm[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(3)
	held := negA
	held.Remote = r.addr()
	held.Direction = sdp.RecvOnly
	if err := a.Apply(held); err != nil {
		t.Fatal(err)
	}
	write(5)
	held.Direction = sdp.SendRecv
	if err := a.Apply(held); err != nil {
		t.Fatal(err)
	}
	write(2)
	// WriteFrame sends before it returns and PacketsSent (checked below)
	// counts what went out: nothing more is on its way to the relay.
	testkit.WaitFor(t, "5 packets at the relay", 5*time.Second, func() bool { return len(r.packets()) == 5 })
	p := r.packets()
	if len(p) != 5 {
		t.Fatalf("%d packets, want 3 before hold and 2 after", len(p))
	}
	seq := func(i int) uint16 { return binary.BigEndian.Uint16(p[i][2:]) }
	ts := func(i int) uint32 { return binary.BigEndian.Uint32(p[i][4:]) }
	// Across the hold the timestamp moved by 6 frames; the sequence by one
	// (RFC 3550: sequence numbers count packets sent).
	if ts(3)-ts(2) != 6*FrameSamples || seq(3)-seq(2) != 1 {
		t.Errorf("across hold: ts +%d seq +%d", ts(3)-ts(2), seq(3)-seq(2))
	}
	if st := a.Stats(); st.PacketsSent != 5 {
		t.Errorf("PacketsSent %d", st.PacketsSent)
	}
	_ = b
}

// TestRTCPByeOnClose: a session that ends says so in RTCP (RFC 3550 §6.6)
// once it has sent media.
func TestRTCPByeOnClose(t *testing.T) {
	a, b, _, _ := pair(t, nil)
	var pcm [FrameSamples]int16
	if err := a.WriteFrame(pcm[:]); err != nil {
		t.Fatal(err)
	}
	a.Close()
	testkit.WaitFor(t, "RTCP BYE at b", 5*time.Second, func() bool { return b.Stats().RemoteBye })
}

// TestRTCPByeOnlyAfterMedia: a session that never sent RTP or RTCP leaves
// without a BYE (RFC 3550 §6.3.7); one that sent a frame sends it. The far
// end's RTCP is a plain socket: a BYE is in its queue when Close returns
// (loopback delivers on send).
func TestRTCPByeOnlyAfterMedia(t *testing.T) {
	pool := testPool(t)
	far, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	farAddr := far.LocalAddr().(*net.UDPAddr).AddrPort()
	byeAfter := func(frames int) bool {
		s, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(sdp.Negotiated{Codec: "PCMA", PT: 8, Remote: farAddr, RemoteRTCP: farAddr}); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		var pcm [FrameSamples]int16
		for range frames {
			if err := s.WriteFrame(pcm[:]); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		bye := false
		buf := make([]byte, 1500)
		for {
			_ = far.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := far.Read(buf)
			if err != nil {
				return bye
			}
			if n >= 8 && buf[1] >= 200 && buf[1] <= 204 && bytes.Contains(buf[:n], []byte{0x81, 203}) {
				bye = true
			}
		}
	}
	if byeAfter(0) {
		t.Error("RTCP BYE from a session that sent nothing")
	}
	if !byeAfter(1) {
		t.Error("no RTCP BYE from a session that sent a frame")
	}
}

// TestPortPoolReuse: a released pair stays bound and is handed out again
// after its quarantine, with what arrived meanwhile drained; inside the
// quarantine a fresh pair is bound instead. Idle pairs are closed after
// idleClose.
func TestPortPoolReuse(t *testing.T) {
	pool := testPool(t)
	pool.quarantine, pool.idleAfter = 200*time.Millisecond, time.Hour
	open := func() *Session {
		s, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := open()
	port := a.LocalAddr().Port()
	a.Close()
	if pool.InUse() != 0 {
		t.Fatalf("in use %d after Close", pool.InUse())
	}
	// A late packet of a's call arrives after it ended.
	late, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(a.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if _, err := late.Write([]byte("late packet of the old call")); err != nil {
		t.Fatal(err)
	}
	b := open()
	if b.LocalAddr().Port() == port {
		t.Errorf("port %d handed out again inside its quarantine", port)
	}
	b.Close()
	var c *Session
	testkit.WaitFor(t, "the first pair handed out again", 5*time.Second, func() bool {
		c = open()
		if c.LocalAddr().Port() == port {
			return true
		}
		c.Close()
		return false
	})
	defer c.Close()
	if err := c.Apply(sdp.Negotiated{Codec: "PCMA", PT: 8, Remote: netip.MustParseAddrPort("127.0.0.1:9")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Write(rtpPacket(8, 1, 160, 0x1234, make([]byte, 160))); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the new call's packet", 5*time.Second, func() bool { return c.Stats().PacketsReceived == 1 })
	if st := c.Stats(); st.Malformed != 0 {
		t.Errorf("the old call's packet reached the new session: %+v", st)
	}

	pool = testPool(t)
	pool.idleAfter = 10 * time.Millisecond
	d := open()
	dport := d.LocalAddr()
	d.Close()
	testkit.WaitFor(t, "the idle pair closed", 5*time.Second, func() bool {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(dport))
		if err != nil {
			return false
		}
		u.Close()
		return true
	})
}

// TestStartRacingClose: a Start (a late answer applied from an ACK) and a
// Close (a BYE crossing it) at the same time. Close must not return while
// the session's goroutines are still to start; under -race the WaitGroup
// misuse this was shows as a data race. Either Start ran first, or it
// refuses with ErrClosed; afterwards the port is free either way.
func TestStartRacingClose(t *testing.T) {
	pool := testPool(t)
	for range 200 {
		s, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(sdp.Negotiated{Codec: "PCMA", PT: 8, Remote: netip.MustParseAddrPort("127.0.0.1:9")}); err != nil {
			t.Fatal(err)
		}
		started := make(chan error, 1)
		go func() { started <- s.Start() }()
		s.Close()
		if err := <-started; err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("Start beside Close: %v", err)
		}
		s.Close()
	}
	if n := pool.InUse(); n != 0 {
		t.Errorf("%d ports in use after every session closed", n)
	}
}
