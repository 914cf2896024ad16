package media

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// goroutinesAdded waits until the process runs want goroutines more than
// base (give or take slack: a previous test's timers and closing sessions
// come and go) and fails with the count it saw last otherwise.
func goroutinesAdded(t *testing.T, what string, base, want, slack int) {
	t.Helper()
	got := 0
	if !testkit.Eventually(5*time.Second, func() bool {
		got = runtime.NumGoroutine() - base
		return got >= want-slack && got <= want+slack
	}) {
		t.Errorf("%s: %d goroutines more, want %d (±%d)", what, got, want, slack)
	}
}

// TestSessionGoroutines: a started session runs one goroutine, the reader
// of its RTP socket; RTCP reports, the RTP timeout and (on Linux) reading
// RTCP are a timer's (the runtime keeps the descriptor of every goroutine a
// flood's peak made). Close takes them all away.
func TestSessionGoroutines(t *testing.T) {
	const n = 20
	perSession := 1
	if !rtcpPolled {
		perSession = 2
	}
	pool := testPool(t)
	base := runtime.NumGoroutine()
	var ss []*Session
	for range n {
		s, err := NewSession(SessionConfig{Pool: pool, LocalIP: loopback})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Apply(sdp.Negotiated{Codec: "PCMA", PT: 8, Remote: netip.MustParseAddrPort("127.0.0.1:9")}); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	goroutinesAdded(t, fmt.Sprintf("%d sessions started", n), base, n*perSession, 3)
	for _, s := range ss {
		s.Close()
	}
	goroutinesAdded(t, "every session closed", base, 0, 3)
	if pool.InUse() != 0 {
		t.Errorf("%d pairs in use after Close", pool.InUse())
	}
}

// TestBridgeGoroutines: a Bridge of two sessions runs one direction on its
// caller's goroutine and the other on one of its own, so a bridged call
// costs the goroutine that called Bridge and one more.
func TestBridgeGoroutines(t *testing.T) {
	const n = 5
	var legs [][2]*Session
	for range n {
		_, b1, _, _ := pair(t, nil)
		_, b2, _, _ := pair(t, nil)
		legs = append(legs, [2]*Session{b1, b2})
	}
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, n)
	for _, l := range legs {
		go func() { done <- Bridge(ctx, l[0], l[1]) }()
	}
	goroutinesAdded(t, fmt.Sprintf("%d bridges", n), base, 2*n, 2)
	cancel()
	for range n {
		if err := <-done; err != nil {
			t.Errorf("Bridge after cancel: %v", err)
		}
	}
	goroutinesAdded(t, "every bridge returned", base, 0, 2)
}

// TestRTCPReportSchedule: the first report goes out half an interval after
// Start (RFC 3550 §6.2), later ones at least half an interval apart
// (±50 %, §6.3.1), and the reports keep coming.
func TestRTCPReportSchedule(t *testing.T) {
	t.Parallel() // mostly waiting
	const interval = 2 * time.Second
	far, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	farAddr := far.LocalAddr().(*net.UDPAddr).AddrPort()
	s, err := NewSession(SessionConfig{Pool: testPool(t), LocalIP: loopback, RTCPInterval: interval, RTPTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Apply(sdp.Negotiated{Codec: "PCMA", PT: 8, Remote: netip.MustParseAddrPort("127.0.0.1:9"), RemoteRTCP: farAddr}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var at []time.Time
	buf := make([]byte, 1500)
	for len(at) < 3 {
		_ = far.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := far.Read(buf)
		if err != nil {
			t.Fatalf("report %d: %v", len(at)+1, err)
		}
		if n < 8 || buf[1] != 201 {
			t.Fatalf("report %d is not an RR: % x", len(at)+1, buf[:n])
		}
		at = append(at, time.Now())
	}
	if d := at[0].Sub(start); d < interval/2 {
		t.Errorf("first report %v after Start, want %v at least", d, interval/2)
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < interval/2 {
			t.Errorf("report %d %v after the one before, want %v at least", i+1, d, interval/2)
		}
	}
}
