package engine

import (
	"context"
	"math"
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

// The shedder's measures: calls in setup, queue delay, CPU, the heap and
// its goal, each alone enough to refuse (CPU and the heap goal only with a
// quarter of MaxSetups in setup).
func TestShedderAdmit(t *testing.T) {
	s := &shedder{cfg: OverloadConfig{MaxSetups: 8}}
	s.defaults()
	s.gate.limiting, s.gate.rate = true, 1e6 // the rate admits all here: the other measures refuse
	t0 := time.Unix(1000, 0)
	for i := range 8 {
		if ok, why := s.admit(10, true, t0); !ok {
			t.Fatalf("setup %d refused: %s", i, why)
		}
	}
	if ok, why := s.admit(10, true, t0); ok || !strings.Contains(why, "8 calls in setup") {
		t.Fatalf("9th setup: %v %q", ok, why)
	}
	for range 8 {
		s.leave()
	}
	if got := s.gateLoad().settled; got != 8 {
		t.Errorf("setups settled %d, want the 8 that left (the admission rate's measure)", got)
	}
	s.delayNs.Store(int64(60 * time.Millisecond))
	s.delayed.Store(true)
	if ok, why := s.admit(10, true, t0); ok || !strings.Contains(why, "queue delay 60 ms") {
		t.Fatalf("with 60 ms queue delay standing: %v %q", ok, why)
	}
	s.delayNs.Store(0)
	s.delayed.Store(false)
	s.cpuPM.Store(990)
	if ok, _ := s.admit(10, true, t0); !ok {
		t.Fatal("busy CPU alone refused a setup")
	}
	s.admit(10, true, t0) // 2 of 8 in setup now: a quarter
	if ok, why := s.admit(10, true, t0); ok || !strings.Contains(why, "CPU 99 %") {
		t.Fatalf("busy CPU with a quarter in setup: %v %q", ok, why)
	}
	s.cpuPM.Store(0)
	s.heapPM.Store(850)
	if ok, why := s.admit(10, true, t0); ok || !strings.Contains(why, "live heap at 85 %") {
		t.Fatalf("heap at 85 %% of the limit: %v %q", ok, why)
	}
	s.heapPM.Store(0)
	// The memory limit holds the heap goal within half of GOGC's headroom
	// above the live heap: with a quarter of MaxSetups in setup, refused;
	// with fewer (the heap held by what finished calls left), taken; with
	// the headroom back, taken.
	s.gogc.Store(100)
	s.heapLive.Store(40 << 20)
	s.heapGoal.Store(59 << 20)
	s.leave() // 1 of 8 in setup
	s.gcRan.Store(true)
	if ok, why := s.admit(10, true, t0); !ok {
		t.Fatalf("heap goal held at 1.47 times the live heap with 1 of 8 in setup: refused (%s)", why)
	}
	// 2 of 8 in setup: a quarter.
	if ok, why := s.admit(10, true, t0); ok || !strings.Contains(why, "heap goal at 59 MB for 40 MB live with 2 calls in setup") {
		t.Fatalf("heap goal held at 1.47 times the live heap with 2 of 8 in setup: %v %q", ok, why)
	}
	// No collection since the probe before: the figures are stale (a
	// daemon that refuses allocates nothing, and would refuse for good).
	s.gcRan.Store(false)
	if ok, why := s.admit(10, true, t0); !ok {
		t.Fatalf("heap goal held by the last collection but none since: refused (%s)", why)
	}
	s.leave()
	s.gcRan.Store(true)
	s.heapGoal.Store(61 << 20)
	if ok, why := s.admit(10, true, t0); !ok {
		t.Fatalf("heap goal at 1.52 times the live heap refused: %s", why)
	}
	s.leave()
	s.heapLive.Store(0)
	if ok, why := s.admit(1, true, t0); ok || !strings.Contains(why, "RTP ports") {
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
	buf := make([]byte, 1500)
	// The kernel turns arrival stamps on for the first socket that asks
	// in deferred work: until it has, a datagram is stamped when read. A
	// first datagram, read, lets it happen.
	if _, err := src.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.read(buf); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "arrival stamps on", 5*time.Second, func() bool {
		if _, err := src.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		_, _, waited, err := c.read(buf)
		return err == nil && waited >= time.Millisecond
	})
	if _, err := src.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	const held = 30 * time.Millisecond
	time.Sleep(held) // the datagram waits in the queue this long
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

// The admission rate, on an injected clock: it starts at the rate settled
// over the last second, counts INVITEs by arrival (a stall's backlog that
// came at that rate passes), refuses an INVITE that itself waited the
// drain bound whatever the rate, cuts 10 % while the queue stands (once
// per 2*standFor) down to half the start, grows 2 % while it refuses and
// the queue is clear, and stops limiting after two quiet seconds.
func TestAdmissionRate(t *testing.T) {
	var g admission
	t0 := time.Unix(1000, 0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * adjustEvery) }
	const bound, drain = 25 * time.Millisecond, 50 * time.Millisecond
	clear := gateLoad{settled: 60, waitMin: time.Millisecond, bound: bound}
	stands := gateLoad{settled: 60, waitMin: 40 * time.Millisecond, bound: bound}
	tick := 0
	adjust := func(l gateLoad) { tick++; g.adjust(at(tick), l) }
	for range 20 {
		adjust(clear) // 600 settled a second
	}
	adjust(stands) // standing alone does not start it: the socket's reader does
	if on, _ := g.limit(); on {
		t.Fatal("limiting before start")
	}
	if got := g.settledPerSecond(); got != 600 {
		t.Errorf("settled per second %d, want 600", got)
	}
	if why := g.take(at(tick), time.Second, drain); why != "" {
		t.Fatalf("refused while not limiting: %s", why)
	}
	g.start(at(tick))
	on, rate := g.limit()
	if !on || rate != 600 {
		t.Fatalf("started: limiting %v at %.0f/s, want the 600/s settled over the last second", on, rate)
	}

	// INVITEs that arrived at 500/s pass although read together (after a
	// stall); at 1200/s about half pass.
	admitted := func(from time.Time, perSec, n int) int {
		ok := 0
		for i := range n {
			if g.take(from.Add(time.Duration(i)*time.Second/time.Duration(perSec)), time.Millisecond, drain) == "" {
				ok++
			}
		}
		return ok
	}
	if got := admitted(at(tick), 500, 500); got != 500 {
		t.Errorf("at 500/s under a 600/s rate %d of 500 admitted", got)
	}
	if got := admitted(at(tick).Add(2*time.Second), 1200, 1200); got < 570 || got > 670 {
		t.Errorf("at 1200/s under a 600/s rate %d of 1200 admitted, want about 600", got)
	}
	later := at(tick).Add(4 * time.Second)
	if why := g.take(later, drain, drain); !strings.Contains(why, "waited 50 ms") {
		t.Errorf("an INVITE that waited the drain bound: %q, want refused naming its wait", why)
	}
	if why := g.take(later, drain-time.Millisecond, drain); why != "" {
		t.Errorf("a burst's worth refused after a pause: %s", why)
	}
	for g.take(later, 0, drain) == "" {
	}
	if why := g.take(later, 0, drain); !strings.Contains(why, "admitting 600 calls/s") {
		t.Errorf("refusal %q, want the rate named", why)
	}

	// The queue still stands: cut 10 %, not again before 2*standFor.
	tick += 4 // 2*standFor after starting, with adjust's own
	adjust(stands)
	if _, rate := g.limit(); rate != 0.9*600 {
		t.Errorf("cut to %.1f/s, want 90 %% of 600", rate)
	}
	adjust(stands)
	if _, rate := g.limit(); rate != 0.9*600 {
		t.Errorf("cut again within 2*standFor: %.1f", rate)
	}
	// Clear, and the rate refused: it grows 2 % (the engine settling at
	// least 90 % of the rate over the last second).
	for range gateTicks - 1 {
		adjust(clear)
	}
	g.take(later, time.Second, drain)
	adjust(clear)
	if _, rate := g.limit(); rate != 1.02*0.9*600 {
		t.Errorf("rate %.2f after a clear adjust that refused, want %.2f", rate, 1.02*0.9*600)
	}
	// A queue that stays behind (the refusals' own traffic keeps it
	// standing at twice the capacity) cuts no lower than half the start.
	for range 40 {
		tick += 5
		adjust(stands)
	}
	if _, rate := g.limit(); rate != 300 {
		t.Errorf("rate %.1f after cut on cut, want the floor, half the 600/s it started at", rate)
	}
	// Two seconds clear without a refusal: admitting all again.
	for range 19 {
		adjust(clear)
	}
	if on, _ := g.limit(); !on {
		t.Error("stopped limiting before two quiet seconds")
	}
	adjust(clear)
	if on, _ := g.limit(); on {
		t.Error("still limiting after two quiet seconds")
	}
	// A flood after a quiet spell starts at the rate settled since.
	for range 10 {
		adjust(gateLoad{waitMin: -1})
	}
	adjust(gateLoad{settled: 20, waitMin: time.Millisecond, bound: bound})
	adjust(gateLoad{settled: 150, waitMin: 30 * time.Millisecond, bound: bound})
	g.start(at(tick))
	if _, rate := g.limit(); rate != 1500 {
		t.Errorf("started after a quiet spell at %.0f/s, want the 1500/s of the last adjust (the one before began from nothing)", rate)
	}
	g.limiting = false
	// At the start of a flood the calls admitted have not settled yet: it
	// starts at the rate admitted over the last two adjusts if more.
	for range 10 {
		adjust(gateLoad{waitMin: -1})
	}
	for range 2 {
		for range 180 {
			g.take(at(tick), 0, drain)
		}
		adjust(gateLoad{settled: 10, waitMin: 30 * time.Millisecond, bound: bound})
	}
	g.start(at(tick))
	if _, rate := g.limit(); rate != 1800 {
		t.Errorf("started at %.0f/s while 1800 a second were admitted and 100 settled, want 1800", rate)
	}
	g.limiting = false
	// The probe's ticks may come late: the rate is over their own times.
	for range 10 {
		tick++ // with adjust's own, 200 ms apart
		adjust(clear)
	}
	if got := g.settledPerSecond(); got != 300 {
		t.Errorf("60 settled every 200 ms: %d a second, want 300", got)
	}
}

// The socket's reader starts the admission rate once the waits read have
// stood at MaxWait/2 for standFor/2; a stall read away at once does not.
func TestReaderStartsAdmissionRate(t *testing.T) {
	s := &shedder{}
	s.defaults()
	c := newShedConn(&Engine{}, nil)
	t0 := time.Unix(1000, 0)
	bound := s.cfg.MaxWait / 2
	if c.busy.over(300*time.Millisecond, bound, t0) || c.busy.over(time.Millisecond, bound, t0.Add(2*time.Millisecond)) {
		t.Error("a stall's backlog read away at once counted")
	}
	c.busy.over(bound, bound, t0.Add(time.Second))
	if c.busy.over(bound, bound, t0.Add(time.Second+standFor/2-time.Millisecond)) {
		t.Error("counted before standFor/2")
	}
	if !c.busy.over(bound, bound, t0.Add(time.Second+standFor/2)) {
		t.Error("waits at MaxWait/2 for standFor/2 did not count")
	}
}

// The admission rate follows the calls the engine carries: calls crowding
// in setup (half of MaxSetups) cut it as a standing queue does, and start
// it, at the rate settled alone; it grows only while few are in setup and
// the calls settled over the last second keep up with it. Grown on a clear
// queue alone, it crept past capacity flood after flood until one
// collapsed.
func TestAdmissionRateFollowsCarriedCalls(t *testing.T) {
	var g admission
	t0 := time.Unix(1000, 0)
	tick := 0
	now := func() time.Time { return t0.Add(time.Duration(tick) * adjustEvery) }
	const bound, drain, maxSetups = 25 * time.Millisecond, 50 * time.Millisecond, 200
	load := func(settled, setups int) gateLoad {
		return gateLoad{settled: settled, waitMin: time.Millisecond, bound: bound, setups: setups, maxSetups: maxSetups}
	}
	adjust := func(l gateLoad) { tick++; g.adjust(now(), l) }
	refuseOne := func() {
		for g.take(now(), 0, drain) == "" {
		}
	}
	rate := func() float64 { _, r := g.limit(); return r }
	// secondRefusing is a second of adjusts with settled per adjust, few
	// in setup, the last one after a refusal on a clear queue.
	secondRefusing := func(settled int) {
		for range gateTicks - 1 {
			adjust(load(settled, 0))
		}
		refuseOne()
		adjust(load(settled, 0))
	}

	for range 20 {
		adjust(load(60, 0)) // 600 settled a second, few in setup
	}
	g.start(now())
	if r := rate(); r != 600 {
		t.Fatalf("started at %.0f/s, want 600", r)
	}
	// Clear queue, the rate refused, but as many in setup as a quarter of
	// MaxSetups: not raised.
	refuseOne()
	adjust(load(60, maxSetups/4))
	if r := rate(); r != 600 {
		t.Errorf("rate %.1f with a quarter of MaxSetups in setup, want 600 unchanged", r)
	}
	// Clear queue, few in setup, but the engine settled 300 a second over
	// the last second: not raised.
	secondRefusing(30)
	if r := rate(); r != 600 {
		t.Errorf("rate %.1f while 300 a second settled, want 600 unchanged", r)
	}
	// Carried again: raised 2 %.
	secondRefusing(60)
	if r := rate(); r != 1.02*600 {
		t.Errorf("rate %.2f once carried, want %.2f", r, 1.02*600)
	}
	// Half of MaxSetups in setup on a clear queue: cut 10 %.
	tick += 5
	adjust(load(60, maxSetups/2))
	if r := rate(); math.Abs(r-0.9*1.02*600) > 1e-9 {
		t.Errorf("rate %.2f with half of MaxSetups in setup, want %.2f", r, 0.9*1.02*600)
	}

	// Not limiting: calls crowding in setup start it, at the rate settled
	// (100 a second), not the 1800 a second admitted.
	g.limiting = false
	for range 10 {
		adjust(gateLoad{waitMin: -1, maxSetups: maxSetups})
	}
	for range 2 {
		for range 180 {
			g.take(now(), 0, drain)
		}
		adjust(gateLoad{settled: 10, waitMin: time.Millisecond, bound: bound, setups: 40, maxSetups: maxSetups})
	}
	if on, _ := g.limit(); on {
		t.Fatal("limiting with a fifth of MaxSetups in setup")
	}
	adjust(gateLoad{settled: 10, waitMin: time.Millisecond, bound: bound, setups: maxSetups / 2, maxSetups: maxSetups})
	on, r := g.limit()
	if !on || r < 90 || r > 110 {
		t.Errorf("crowded setups: limiting %v at %.0f/s, want about the 100/s settled", on, r)
	}
}

// A heap goal held by the memory limit while the calls taken settle (the
// heap held by what finished calls leave, with GOMEMLIMIT=64MiB for
// seconds after a flood) is no reason to refuse them: the shedder goes on
// admitting at its rate. Refusing all on the goal alone let nothing
// settle, and the rate, begun then at the calls settled, stayed at the
// 10 calls/s floor: 16-36 calls/s completed at 2000/s offered.
func TestHeapHeldBySettledCallsAdmits(t *testing.T) {
	s := &shedder{cfg: OverloadConfig{MaxSetups: 200}}
	s.defaults()
	s.gogc.Store(100)
	s.heapLive.Store(30 << 20)
	s.heapGoal.Store(40 << 20) // 1.33 times the live heap
	s.gcRan.Store(true)
	t0 := time.Unix(1000, 0)
	for range 20 { // 2000 a second settled before
		t0 = t0.Add(adjustEvery)
		s.gate.adjust(t0, gateLoad{settled: 200, waitMin: -1, maxSetups: 200})
	}
	s.gate.start(t0)
	if _, r := s.gate.limit(); r != 2000 {
		t.Fatalf("started at %.0f/s, want the 2000/s settled", r)
	}
	// Three seconds offered 2000 a second, each call settling before the
	// next arrives (few in setup), the probe adjusting every 100 ms.
	admitted := 0
	for i := range 6000 {
		now := t0.Add(time.Duration(i) * time.Second / 2000)
		if i%200 == 199 {
			s.gate.adjust(now, s.gateLoad())
		}
		ok, why := s.admit(10, true, now)
		if !ok {
			if i >= 4000 && strings.Contains(why, "heap goal") {
				t.Fatalf("INVITE %d refused on the heap goal with %d in setup: %s", i, s.setups.Load(), why)
			}
			continue
		}
		s.leave()
		if i >= 4000 {
			admitted++
		}
	}
	if admitted < 1800 {
		t.Errorf("the last second %d of 2000 INVITEs admitted, want at least 90 %%", admitted)
	}
	if on, r := s.gate.limit(); on && r < 1800 {
		t.Errorf("the rate %.0f/s after three seconds with the heap goal held, want about the 2000/s settled", r)
	}
}
