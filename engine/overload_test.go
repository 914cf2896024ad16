package engine

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// With one call in setup allowed, a second INVITE is refused 503 with
// Retry-After before anything else is done for it (no 100 Trying, no
// route), while the call in setup completes; once it is answered the next
// INVITE is taken again.
func TestOverloadShedsNewInvites(t *testing.T) {
	release := make(chan struct{})
	routed := make(chan string, 4)
	h := CallHandlerFunc(func(ctx context.Context, c *Call) {
		routed <- c.ID
		<-release
		if c.Answer() == nil {
			<-c.Done()
		}
	})
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("hold", "2833", h), WithOverload(OverloadConfig{MaxSetups: 1, RetryAfter: time.Second}))

	a := newPeer(t, e)
	a.invite("5000", "shed-a", "")
	if res := a.recv(true); res.StatusCode != 100 {
		t.Fatalf("first INVITE: %d, want 100 Trying", res.StatusCode)
	}
	if id := <-routed; id != "shed-a" {
		t.Fatalf("routed %q", id)
	}

	b := newPeer(t, e)
	b.invite("5000", "shed-b", "")
	res := b.recv(true)
	if res.StatusCode != 503 {
		t.Fatalf("second INVITE: %d, want 503 while the first is in setup", res.StatusCode)
	}
	ra := res.GetHeader("Retry-After")
	if ra == nil {
		t.Fatal("503 without Retry-After")
	}
	if s, err := strconv.Atoi(ra.Value()); err != nil || s < 1 || s > 2 {
		t.Errorf("Retry-After %q, want 1-2 s (base 1 s plus up to as much again)", ra.Value())
	}
	if r := res.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "calls in setup") {
		t.Errorf("Reason %v, want the load named", r)
	}
	select {
	case id := <-routed:
		t.Fatalf("the refused INVITE reached a route (%s)", id)
	default:
	}
	if got := e.Stats().Shed; got != 1 {
		t.Errorf("Stats().Shed = %d, want 1", got)
	}
	// Refused at the socket, statelessly (shedwire.go): the response
	// copies the request's Via, From, Call-ID and CSeq and gives a To tag;
	// its ACK is dropped there too, and none of it reaches the SIP log.
	if tag, _ := res.To().Params.Get("tag"); !strings.HasPrefix(tag, "shed") {
		t.Errorf("503 To tag %q: not refused at the socket", tag)
	}
	if br, _ := res.Via().Params.Get("branch"); br != "z9hG4bKshed-b" || res.CallID().Value() != "shed-b" || res.CSeq().Value() != "1 INVITE" ||
		!strings.Contains(res.From().Value(), "tag=tshed-b") {
		t.Errorf("503 does not match its INVITE: Via %s, Call-ID %s, CSeq %s, From %s", res.Via().Value(), res.CallID().Value(), res.CSeq().Value(), res.From().Value())
	}
	b.ack(res)
	// An INVITE in a dialog is never refused at the socket: this one names
	// no dialog the engine has, so it is answered 481 past the shedder.
	b.send("INVITE sip:5000@" + b.to.String() + " SIP/2.0\nVia: SIP/2.0/UDP " + b.addr() + ";branch=z9hG4bKshed-re\n" +
		"From: <sip:100@127.0.0.1>;tag=tre\nTo: <sip:5000@" + b.to.String() + ">;tag=nodialog\nCall-ID: shed-re\nCSeq: 2 INVITE\n" +
		"Contact: <sip:100@" + b.addr() + ">\nMax-Forwards: 70\nContent-Length: 0\n\n")
	if res := b.recv(true); res.StatusCode != 481 {
		t.Errorf("re-INVITE while shedding: %d, want 481", res.StatusCode)
	}
	if got := e.Stats().Shed; got != 1 {
		t.Errorf("after the re-INVITE Stats().Shed = %d, want 1", got)
	}
	if m := e.Messages("shed-b"); len(m) != 0 {
		t.Errorf("the refused INVITE, its 503 or ACK reached the SIP log: %d messages", len(m))
	}
	if m := e.Messages("shed-a"); len(m) == 0 {
		t.Error("the call in setup is not in the SIP log")
	}

	close(release)
	if res := a.recv(false); res.StatusCode != 200 {
		t.Fatalf("call in setup ended %d, want 200", res.StatusCode)
	}
	c := newPeer(t, e)
	c.invite("5000", "shed-c", "")
	if res := c.recv(true); res.StatusCode != 100 {
		t.Fatalf("INVITE after the setup was answered: %d, want 100", res.StatusCode)
	}
}

// The shedder's measures: calls in setup, queue delay and CPU, each alone
// enough to refuse (CPU only with a quarter of MaxSetups in setup).
func TestShedderAdmit(t *testing.T) {
	s := &shedder{cfg: OverloadConfig{MaxSetups: 8}}
	s.defaults()
	for i := range 8 {
		if ok, why := s.admit(10); !ok {
			t.Fatalf("setup %d refused: %s", i, why)
		}
	}
	if ok, why := s.admit(10); ok || !strings.Contains(why, "8 calls in setup") {
		t.Fatalf("9th setup: %v %q", ok, why)
	}
	for range 8 {
		s.leave()
	}
	s.delayNs.Store(int64(60 * time.Millisecond))
	s.delayed.Store(true)
	if ok, why := s.admit(10); ok || !strings.Contains(why, "queue delay 60 ms") {
		t.Fatalf("with 60 ms queue delay standing: %v %q", ok, why)
	}
	s.delayNs.Store(0)
	s.delayed.Store(false)
	s.cpuPM.Store(990)
	if ok, _ := s.admit(10); !ok {
		t.Fatal("busy CPU alone refused a setup")
	}
	s.admit(10) // 2 of 8 in setup now: a quarter
	if ok, why := s.admit(10); ok || !strings.Contains(why, "CPU 99 %") {
		t.Fatalf("busy CPU with a quarter in setup: %v %q", ok, why)
	}
	s.cpuPM.Store(0)
	s.heapPM.Store(850)
	if ok, why := s.admit(10); ok || !strings.Contains(why, "live heap at 85 %") {
		t.Fatalf("heap at 85 %% of the limit: %v %q", ok, why)
	}
	s.heapPM.Store(0)
	if ok, why := s.admit(1); ok || !strings.Contains(why, "RTP ports") {
		t.Fatalf("one free port pair: %v %q", ok, why)
	}
}

// A call whose callee rings is no longer in setup: it is no work of ours
// however long it rings, so with one setup allowed the next INVITE is
// taken while the first still rings.
func TestRingingCallIsNotInSetup(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t, "300")), WithOverload(OverloadConfig{MaxSetups: 1}))
	dev := newPeer(t, e)
	dev.send("REGISTER sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + dev.addr() + ";branch=z9hG4bKring;rport\nFrom: <sip:300@127.0.0.1>;tag=r\nTo: <sip:300@127.0.0.1>\nCall-ID: ring-reg\nCSeq: 1 REGISTER\nContact: <sip:300@" + dev.addr() + ">\nExpires: 600\nContent-Length: 0\n\n")
	if res := dev.recv(false); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	a := newPeer(t, e)
	a.invite("300", "ring-a", "")
	inv := dev.recvRequest("INVITE", 5*time.Second)
	if got := e.Stats().Setups; got != 1 {
		t.Fatalf("before the callee answered anything: %d in setup, want 1", got)
	}
	ringing := sip.NewResponseFromRequest(inv, 180, "Ringing", nil)
	ringing.To().Params.Add("tag", "devtag")
	if _, err := dev.conn.WriteTo([]byte(ringing.String()), dev.to); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the ringing call to leave setup", 3*time.Second, func() bool { return e.Stats().Setups == 0 })
	b := newPeer(t, e)
	b.invite("300", "ring-b", "")
	if res := b.recv(true); res.StatusCode != 100 {
		t.Fatalf("INVITE while the first call rings: %d, want 100 Trying", res.StatusCode)
	}
	if got := e.Stats().Shed; got != 0 {
		t.Errorf("Stats().Shed = %d, want 0", got)
	}
	// The callee refuses both, so that nothing rings on past the test.
	busy := func(inv *sip.Request) {
		res := sip.NewResponseFromRequest(inv, 486, "Busy Here", nil)
		res.To().Params.Add("tag", "devtag")
		if _, err := dev.conn.WriteTo([]byte(res.String()), dev.to); err != nil {
			t.Fatal(err)
		}
	}
	busy(inv)
	busy(dev.recvRequest("INVITE", 5*time.Second))
	for _, p := range []*peer{a, b} {
		if res := p.recv(false); res.StatusCode != 486 {
			t.Errorf("caller got %d, want the callee's 486", res.StatusCode)
		} else {
			p.ack(res)
		}
	}
}

// A delay counts once it has stood at its bound for standFor: one stall
// read away at once does not, a queue that stays behind does, and one
// measure below the bound starts afresh.
func TestStandingDelay(t *testing.T) {
	var h standing
	t0 := time.Unix(1000, 0)
	const bound = 50 * time.Millisecond
	if h.over(240*time.Millisecond, bound, t0) {
		t.Error("one stall counted at once")
	}
	if h.over(time.Millisecond, bound, t0.Add(5*time.Millisecond)) {
		t.Error("a short wait counted")
	}
	if h.over(60*time.Millisecond, bound, t0.Add(200*time.Millisecond)) {
		t.Error("counted right after a wait below the bound")
	}
	if h.over(60*time.Millisecond, bound, t0.Add(200*time.Millisecond+standFor-time.Millisecond)) {
		t.Error("counted before standFor")
	}
	if !h.over(60*time.Millisecond, bound, t0.Add(200*time.Millisecond+standFor)) {
		t.Error("a wait at the bound for standFor did not count")
	}
	s := &shedder{}
	s.defaults()
	if why := s.overloadedAfter(300*time.Millisecond, false, 10); why != "" {
		t.Errorf("a long wait not standing refused: %s", why)
	}
	if why := s.overloadedAfter(120*time.Millisecond, true, 10); !strings.Contains(why, "waited 120 ms") {
		t.Errorf("a queue behind: %q, want refused naming the wait", why)
	}
}

// The socket's reader knows how long each datagram waited (the kernel's
// arrival stamp) and gives its sender's address as ReadFrom would.
func TestShedConnMeasuresSocketWait(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := newShedConn(&Engine{}, pc)
	if c.udp == nil {
		t.Skip("no arrival stamps on this system")
	}
	src, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	const held = 30 * time.Millisecond
	time.Sleep(held) // the datagram waits in the queue this long
	buf := make([]byte, 1500)
	n, addr, waited, err := c.read(buf)
	if err != nil || n == 0 {
		t.Fatalf("read: %d %v", n, err)
	}
	if waited < held || waited > 5*time.Second {
		t.Errorf("waited %v, want at least %v", waited, held)
	}
	if addr.String() != src.LocalAddr().String() {
		t.Errorf("from %s, want %s", addr, src.LocalAddr())
	}
}
