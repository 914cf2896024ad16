package media

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// FuzzReceive drives the RTP socket path (RTP, RTCP multiplexed, SRTP)
// with arbitrary datagrams, then reads a frame: nothing may panic, and
// the frame handed out is always whole.
func FuzzReceive(f *testing.F) {
	f.Add(rtpPacket(8, 1, 160, 7, make([]byte, 160)))
	f.Add(rtpPacket(101, 2, 160, 7, ev(5, true, 800)))
	f.Add(rtpPacket(0x80|8, 3, 320, 7, []byte{1, 2, 3, 4}))
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzSession(t, nil)
		z := fuzzSession(t, make([]byte, 30))
		now := time.Now()
		var pcm [FrameSamples]int16
		for _, x := range []*Session{s, z} {
			// Twice: the second copy is a duplicate or a replay.
			x.receive(append([]byte(nil), data...), from, now)
			x.receive(append([]byte(nil), data...), from, now)
			x.in.mu.Lock()
			x.frameLocked(pcm[:])
			x.in.mu.Unlock()
			st := x.Stats()
			if st.PacketsReceived > 2 {
				t.Fatalf("%d packets counted from 2 datagrams", st.PacketsReceived)
			}
		}
		if z.Stats().PacketsReceived != 0 && len(data) < 12+10 {
			t.Fatalf("SRTP accepted a %d-byte datagram", len(data))
		}
	})
}

// FuzzRTCP drives the RTCP socket path.
func FuzzRTCP(f *testing.F) {
	// A receiver report with one block, and an SR with SDES and BYE.
	f.Add([]byte{0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 25, 0, 0, 5, 0, 0, 0, 50, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x80, 200, 0, 6, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 1, 0, 0, 0, 0, 9, 0, 0, 5, 160,
		0x81, 202, 0, 2, 0, 0, 0, 1, 1, 2, 'a', 'b', 0x81, 203, 0, 1, 0, 0, 0, 1})
	from := netip.MustParseAddrPort("127.0.0.1:4001")
	f.Fuzz(func(t *testing.T, data []byte) {
		s := fuzzSession(t, nil)
		s.receiveRTCP(data, from, time.Now())
		if st := s.Stats(); st.RTT < 0 {
			t.Fatalf("negative RTT %v", st.RTT)
		}
	})
}

// fuzzSession is a session without sockets, fed through receive().
func fuzzSession(t *testing.T, key []byte) *Session {
	s := newSession(SessionConfig{LocalIP: loopback, RTPTimeout: -1}, slog.Default(), nil, nil, 0)
	t.Cleanup(func() { s.Close() })
	n := negotiatedPCMA()
	if key != nil {
		n.SRTP = srtpKeys(key)
	}
	if err := s.Apply(n); err != nil {
		t.Fatal(err)
	}
	return s
}
