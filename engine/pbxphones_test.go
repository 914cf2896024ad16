package engine

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/softphone"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// The local PBX with baresip phones as handsets (internal/softphone), provisioned as the REST API stores it: devices with an MD5
// HA1, users and groups in a real bbolt file.

// storePhone provisions id as a credentials device in db and runs a
// baresip phone registered as id, sending a tone of freq Hz; manual phones
// ring until answered, the others answer at once.
func storePhone(t *testing.T, e *Engine, db *store.DB, id string, freq float64, manual bool) *softphone.Phone {
	t.Helper()
	provisionPhone(t, db, id)
	return startPhoneWith(t, e, softphone.Config{User: id, Password: "pw-" + id + "-secret", Tone: freq, Manual: manual})
}

func provisionPhone(t *testing.T, db *store.DB, id string) {
	t.Helper()
	ha1, _ := HA1("MD5", id, testDomain, "pw-"+id+"-secret") // baresip answers only MD5 challenges
	putDoc(t, db, ResDevice, id, Device{DeviceID: id, AuthType: "credentials", HA1: ha1})
}

// sentCancels are the CANCELs the gateway sent, from its SIP log.
func sentCancels(e *Engine) []string {
	var out []string
	for _, m := range e.Messages("") {
		if m.Out && strings.HasPrefix(string(m.Data), "CANCEL ") {
			out = append(out, string(m.Data))
		}
	}
	return out
}

// TestPhonesForkToThreeRegistrations: three baresip phones registered as
// one device all ring; the one that answers takes the call, the two others
// are cancelled with Reason cause=200 "Call completed elsewhere" and stop
// ringing.
func TestPhonesForkToThreeRegistrations(t *testing.T) {
	db := openStore(t)
	e := startEngine(t, WithStore(db))
	provisionPhone(t, db, "3001")
	var hs []*softphone.Phone
	for i, manual := range []bool{true, false, true} {
		hs = append(hs, startPhoneWith(t, e, softphone.Config{User: "3001", Password: "pw-3001-secret", Tone: float64(500 + 200*i), Manual: manual}))
	}
	if n := len(e.Bindings(testDomain, "3001")); n != 3 {
		t.Fatalf("%d bindings, want 3", n)
	}
	caller := storePhone(t, e, db, "3002", 1500, false)
	caller.Do("/dial 3001")
	caller.WaitEvent("CALL_ESTABLISHED", "", 1, 10*time.Second)
	hs[1].WaitEvent("CALL_ESTABLISHED", "", 1, 5*time.Second)
	for _, i := range []int{0, 2} {
		hs[i].WaitEvent("CALL_INCOMING", "", 1, 5*time.Second)
		hs[i].WaitEvent("CALL_CLOSED", "", 1, 10*time.Second)
		if n := hs[i].CountEvents("CALL_ESTABLISHED", ""); n != 0 {
			t.Fatalf("phone %d established %d calls, want none", i, n)
		}
	}
	testkit.WaitFor(t, "the caller to hear the answering phone", 10*time.Second, func() bool { return caller.Heard(700) >= 1 })
	cancels := sentCancels(e)
	if len(cancels) != 2 {
		t.Fatalf("%d CANCELs sent, want 2:\n%s", len(cancels), strings.Join(cancels, "\n"))
	}
	for _, c := range cancels {
		if !strings.Contains(c, `Reason: SIP;cause=200;text="Call completed elsewhere"`) {
			t.Fatalf("CANCEL without the completed-elsewhere Reason:\n%s", c)
		}
	}
	caller.Do("/hangup")
	testkit.WaitFor(t, "calls cleared", 5*time.Second, func() bool { return e.Calls() == 0 })
}

// whoRang returns which of phones (answering at once: baresip reports no
// CALL_INCOMING then) took one more call than counted in before, and
// updates before.
func whoRang(t *testing.T, phones map[string]*softphone.Phone, before map[string]int) string {
	t.Helper()
	// The phone's event may come after the caller's.
	testkit.WaitFor(t, "a phone to report the call", 5*time.Second, func() bool {
		for n, p := range phones {
			if p.CountEvents("CALL_ESTABLISHED", "") != before[n] {
				return true
			}
		}
		return false
	})
	var rang []string
	for n, p := range phones {
		if c := p.CountEvents("CALL_ESTABLISHED", ""); c != before[n] {
			rang = append(rang, n)
			before[n] = c
		}
	}
	if len(rang) != 1 {
		t.Fatalf("phones rung by one call: %v, want exactly one", rang)
	}
	return rang[0]
}

// TestPhonesGroupHuntLongestIdleSurvivesRestart: a huntLongestIdle group
// of three users, each a baresip phone, rings first the member idle
// longest: over five calls (the last placed by Dial, as an alarm's voice
// call to the group's extension is) the phone that rings first and takes
// each call is a (lowest ringOrder among never-called members), b, c, then
// a (its call ended first), then b. The gateway restarts on the same store:
// the next call rings c, idle longest before the restart (without the
// stored idle times it would be a again).
func TestPhonesGroupHuntLongestIdleSurvivesRestart(t *testing.T) {
	db := openStore(t)
	e := startEngine(t, WithStore(db))
	phones := map[string]*softphone.Phone{}
	for i, n := range []string{"a", "b", "c"} {
		phones[n] = storePhone(t, e, db, "h"+n, float64(500+300*i), false)
		putDoc(t, db, ResUser, "u"+n, User{User: "h" + n, ExtensionNumber: "20" + strconv.Itoa(i), DisplayName: "warden " + n})
	}
	putDoc(t, db, ResGroup, "wardens", Group{GroupName: "wardens", ExtensionNumber: "600", RingStrategy: RingHuntLongestIdle, RingSecs: 5,
		Members: []GroupMember{{UserID: "ub", RingOrder: 2}, {UserID: "ua", RingOrder: 1}, {UserID: "uc", RingOrder: 3}}})
	caller := storePhone(t, e, db, "2100", 1800, false)
	before := map[string]int{}
	var order []string
	for i := range 4 {
		caller.Do("/dial 600")
		caller.WaitEvent("CALL_ESTABLISHED", "", i+1, 10*time.Second)
		order = append(order, whoRang(t, phones, before))
		caller.Do("/hangup")
		testkit.WaitFor(t, "calls cleared", 5*time.Second, func() bool { return e.Calls() == 0 })
	}
	dial := func(e *Engine) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := e.Dial(ctx, DialOptions{To: "600", Domain: testDomain, From: "alarm"})
		if err != nil {
			t.Fatalf("Dial to the group: %v", err)
		}
		order = append(order, whoRang(t, phones, before))
		if err := c.Hangup(); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, "calls cleared", 5*time.Second, func() bool { return e.Calls() == 0 })
	}
	dial(e)
	if got, want := strings.Join(order, " "), "a b c a b"; got != want {
		t.Fatalf("phones that rang first: %s, want %s", got, want)
	}
	// The restart: the bindings and the idle times come back from the store.
	e.Close()
	e2 := startEngine(t, WithStore(db))
	dial(e2)
	if got := order[len(order)-1]; got != "c" {
		t.Fatalf("after the restart %s rang first, want c (idle longest before it)", got)
	}
}

// TestPhonesGroupQueue: a group with ringExclusive 1 and one member. While
// the member is in a call, a second and a third caller wait in the queue
// and hear the gateway's ringback (425 Hz) in early media; when the member
// hangs up the second caller, who came first, is connected to it (each
// hears the other's tone), while the third still waits; the third hangs up
// and leaves the queue, and the member is never rung for it.
func TestPhonesGroupQueue(t *testing.T) {
	db := openStore(t)
	e := startEngine(t, WithStore(db))
	member := storePhone(t, e, db, "m1", 1500, false)
	putDoc(t, db, ResUser, "um", User{User: "m1", ExtensionNumber: "201"})
	putDoc(t, db, ResGroup, "desk", Group{GroupName: "desk", ExtensionNumber: "610", RingExclusive: 1,
		Members: []GroupMember{{UserID: "um"}}})
	a := storePhone(t, e, db, "2101", 600, false)
	b := storePhone(t, e, db, "2102", 700, false)
	c := storePhone(t, e, db, "2103", 900, false)

	a.Do("/dial 610")
	a.WaitEvent("CALL_ESTABLISHED", "", 1, 10*time.Second)
	member.WaitEvent("CALL_ESTABLISHED", "", 1, 5*time.Second)

	b.Do("/dial 610")
	testkit.WaitFor(t, "the second caller queued", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == 1 })
	c.Do("/dial 610")
	testkit.WaitFor(t, "the third caller queued", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == 2 })
	testkit.WaitFor(t, "the queued callers to hear ringback", 15*time.Second, func() bool { return b.Heard(425) >= 1 && c.Heard(425) >= 1 })
	if n := member.CountEvents("CALL_ESTABLISHED", ""); n != 1 {
		t.Fatalf("the busy member took %d calls, want one (the first call)", n)
	}

	a.Do("/hangup")
	b.WaitEvent("CALL_ESTABLISHED", "", 1, 10*time.Second)
	member.WaitEvent("CALL_ESTABLISHED", "", 2, 5*time.Second)
	testkit.WaitFor(t, "the second caller and the member to hear each other", 10*time.Second, func() bool {
		return b.Heard(1500) >= 1 && member.Heard(700) >= 1
	})
	if n := c.CountEvents("CALL_ESTABLISHED", ""); n != 0 || e.pbx.queued(testDomain, "desk") != 1 {
		t.Fatalf("the third caller: %d calls established, queue %d; want it still waiting", n, e.pbx.queued(testDomain, "desk"))
	}

	c.Do("/hangup")
	testkit.WaitFor(t, "the third caller out of the queue", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == 0 })
	b.Do("/hangup")
	testkit.WaitFor(t, "calls cleared", 5*time.Second, func() bool { return e.Calls() == 0 })
	if n := member.CountEvents("CALL_ESTABLISHED", ""); n != 2 {
		t.Fatalf("the member took %d calls, want 2 (the third caller hung up before its turn)", n)
	}
}

// cancelInvite cancels the INVITE inviteAs sent as callID (RFC 3261 §9.1)
// and acknowledges its 487.
func (p *peer) cancelInvite(user, callID string) {
	p.t.Helper()
	h := p.to.String()
	p.send("CANCEL sip:" + user + "@" + h + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + callID +
		"\nFrom: <sip:100@127.0.0.1>;tag=t" + callID + "\nTo: <sip:" + user + "@" + h + ">\nCall-ID: " + callID +
		"\nCSeq: 1 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n")
	for {
		res := p.recv(false)
		if res.CSeq().MethodName == "INVITE" {
			p.ack(res)
			if res.StatusCode != 487 {
				p.t.Fatalf("cancelled INVITE %s: %d", callID, res.StatusCode)
			}
			return
		}
	}
}

// TestGroupQueueBounded: a queued group whose only member is busy takes
// QueueMaxCallers waiting calls (each told with 183 and our SDP); the next
// is refused at once with 486 and a Reason saying the queue is full. The
// waiting callers hang up (CANCEL) and leave the queue.
func TestGroupQueueBounded(t *testing.T) {
	db := openStore(t)
	putDoc(t, db, ResUser, "um", User{User: "m1", ExtensionNumber: "201"})
	putDoc(t, db, ResGroup, "desk", Group{GroupName: "desk", ExtensionNumber: "610", RingExclusive: 1,
		Members: []GroupMember{{UserID: "um"}}})
	e := startEngine(t, WithStore(db))
	registerAs(t, e, "m1", "h-m", testkit.FreeUDP(t)) // registered, never rung: it is busy
	e.pbx.acquire(busyKey(testDomain, "m1"), 0)
	var waiting []*peer
	for i := range QueueMaxCallers {
		p := newPeer(t, e)
		waiting = append(waiting, p)
		p.invite("610", "q-"+strconv.Itoa(i), "")
		res := p.recv(true)
		for res.StatusCode == 100 {
			res = p.recv(true)
		}
		if res.StatusCode != 183 || !strings.Contains(string(res.Body()), "m=audio") {
			t.Fatalf("caller %d: %d %s, want 183 with SDP", i, res.StatusCode, res.Reason)
		}
	}
	if n := e.pbx.queued(testDomain, "desk"); n != QueueMaxCallers {
		t.Fatalf("%d calls queued, want %d", n, QueueMaxCallers)
	}
	p := newPeer(t, e)
	p.invite("610", "q-full", "")
	res := p.recv(false)
	p.ack(res)
	if res.StatusCode != 486 || !strings.Contains(res.GetHeader("Reason").Value(), "the queue of group desk is full (10 calls waiting)") {
		t.Fatalf("caller beyond the queue: %d %v", res.StatusCode, res.GetHeader("Reason"))
	}
	for i, p := range waiting {
		p.cancelInvite("610", "q-"+strconv.Itoa(i))
	}
	testkit.WaitFor(t, "the queue empty", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == 0 })
}

// TestPhonesMissedCallToMobile: a user whose device (a baresip phone left
// ringing) does not answer within the user's ringSecs has the call
// forwarded to its mobileNumber through the trunk whose destinationMatch
// takes it (a SIPp "mobile" behind it), with a Diversion header naming the
// extension; the phone stops ringing and the caller is connected to the
// mobile.
func TestPhonesMissedCallToMobile(t *testing.T) {
	wd := t.TempDir()
	mobile := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	db := openStore(t)
	off := false
	putDoc(t, db, ResTrunk, "mobiles", Trunk{DestinationMatch: "/^07/", DestinationTarget: "127.0.0.1:" + strconv.Itoa(mobile.Port),
		DestinationTransport: "udp", KeepAlive: &off})
	follow := 1
	putDoc(t, db, ResUser, "u1", User{User: "h1", ExtensionNumber: "201", MobileNumber: "07700900123", MobileFollow: &follow, RingSecs: 2})
	e := startEngine(t, WithStore(db))
	testkit.WaitFor(t, "trunk loaded", 5*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
	handset := storePhone(t, e, db, "h1", 600, true)
	caller := storePhone(t, e, db, "2200", 1500, false)
	caller.Do("/dial 201")
	handset.WaitEvent("CALL_INCOMING", "", 1, 10*time.Second)
	caller.WaitEvent("CALL_ESTABLISHED", "", 1, 15*time.Second)
	handset.WaitEvent("CALL_CLOSED", "", 1, 5*time.Second)
	if n := handset.CountEvents("CALL_ESTABLISHED", ""); n != 0 {
		t.Fatalf("the handset established %d calls, want none", n)
	}
	var invite string
	for _, m := range mobile.Received() {
		if strings.Contains(m, "INVITE sip:") {
			invite = m
		}
	}
	if !strings.Contains(invite, "INVITE sip:07700900123@127.0.0.1:"+strconv.Itoa(mobile.Port)) ||
		!strings.Contains(invite, "Diversion: <sip:201@"+testDomain+">;reason=no-answer") ||
		!strings.Contains(invite, "From: <sip:2200@") {
		t.Fatalf("forwarded INVITE at the mobile:\n%s", invite)
	}
	caller.Do("/hangup")
	if err := mobile.Wait(10 * time.Second); err != nil {
		t.Fatalf("mobile: %v\n%s", err, mobile.Report())
	}
	testkit.WaitFor(t, "calls cleared", 5*time.Second, func() bool { return e.Calls() == 0 && e.TrunkStatus()[0].ActiveCalls == 0 })
}

// TestPhonesDialWaitsInGroupQueue: Dial (as an alarm's voice call places
// it) to a queued group whose only member is in a call waits in the queue,
// silently, and is answered by the member once its call ends.
func TestPhonesDialWaitsInGroupQueue(t *testing.T) {
	db := openStore(t)
	e := startEngine(t, WithStore(db))
	member := storePhone(t, e, db, "m1", 1500, false)
	putDoc(t, db, ResUser, "um", User{User: "m1", ExtensionNumber: "201"})
	putDoc(t, db, ResGroup, "desk", Group{GroupName: "desk", ExtensionNumber: "610", RingExclusive: 1,
		Members: []GroupMember{{UserID: "um"}}})
	a := storePhone(t, e, db, "2101", 600, false)
	a.Do("/dial 610")
	member.WaitEvent("CALL_ESTABLISHED", "", 1, 10*time.Second)
	type result struct {
		c   *Call
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := e.Dial(ctx, DialOptions{To: "610", Domain: testDomain, From: "alarm"})
		done <- result{c, err}
	}()
	testkit.WaitFor(t, "the voice call queued", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == 1 })
	if n := member.CountEvents("CALL_ESTABLISHED", ""); n != 1 {
		t.Fatalf("the busy member took %d calls, want 1", n)
	}
	a.Do("/hangup")
	r := <-done
	if r.err != nil {
		t.Fatalf("Dial through the queue: %v", r.err)
	}
	member.WaitEvent("CALL_ESTABLISHED", "", 2, 5*time.Second)
	if err := r.c.Hangup(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "calls cleared", 5*time.Second, func() bool { return e.Calls() == 0 })
}

// TestInvalidStoredUserRefused: a user document that does not pass
// User.Validate (written past REST) is not half run: a call to its
// extension is refused with the rule as the Reason.
func TestInvalidStoredUserRefused(t *testing.T) {
	db := openStore(t)
	follow := 1
	putDoc(t, db, ResUser, "u1", User{User: "h1", ExtensionNumber: "201", MobileFollow: &follow})
	e := startEngine(t, WithStore(db))
	unitInTrustedLoopback(t, e, "caller")
	p := newPeer(t, e)
	p.invite("201", "bad-user", "")
	res := p.recv(false)
	p.ack(res)
	if res.StatusCode != 500 || !strings.Contains(res.GetHeader("Reason").Value(), "mobileFollow: 1 needs a mobileNumber") {
		t.Fatalf("call to an invalid user: %d %v", res.StatusCode, res.GetHeader("Reason"))
	}
}

// testClock is a clock a test moves (the queue's pbxState.clock).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// queuedDesk is an engine on a store whose group desk (extension 610,
// ringExclusive 1) has one member, m1, registered and busy for the whole
// test (marked in a call in the engine's own state; it is never rung), with
// the queue's clock in the test's hands.
func queuedDesk(t *testing.T, opts ...Option) (*Engine, *testClock) {
	t.Helper()
	db := openStore(t)
	putDoc(t, db, ResUser, "um", User{User: "m1", ExtensionNumber: "201"})
	putDoc(t, db, ResGroup, "desk", Group{GroupName: "desk", ExtensionNumber: "610", RingExclusive: 1,
		Members: []GroupMember{{UserID: "um"}}})
	clk := newTestClock()
	e := newEngine(t, append([]Option{WithStore(db)}, opts...)...)
	e.pbx.clock = clk.Now
	start(t, e)
	registerAs(t, e, "m1", "h-m", testkit.FreeUDP(t))
	e.pbx.acquire(busyKey(testDomain, "m1"), 0)
	return e, clk
}

// progress returns the next provisional response other than 100 Trying.
func (p *peer) progress() *sip.Response {
	p.t.Helper()
	for {
		if res := p.recv(true); res.StatusCode != 100 {
			return res
		}
	}
}

// TestGroupQueueRepeatsProgressAndGivesUp: a queued caller with an SDP
// offer is told 183 with our SDP (the ringback's early media), one without
// an offer 182 Queued; after a minute of the queue's clock each is told
// again (RFC 3261 §13.3.1.1), and after 5 minutes both are given up with
// 480 and a Reason, and the queue is empty.
func TestGroupQueueRepeatsProgressAndGivesUp(t *testing.T) {
	e, clk := queuedDesk(t)
	withSDP, noSDP := newPeer(t, e), newPeer(t, e)
	withSDP.invite("610", "q-sdp", "")
	if res := withSDP.progress(); res.StatusCode != 183 || !strings.Contains(string(res.Body()), "m=audio") {
		t.Fatalf("caller with an offer: %d %s, want 183 with SDP", res.StatusCode, res.Reason)
	}
	noSDP.inviteSDP("610", "q-nosdp", "", "")
	if res := noSDP.progress(); res.StatusCode != 182 || res.Reason != "Queued" {
		t.Fatalf("caller without an offer: %d %s, want 182 Queued", res.StatusCode, res.Reason)
	}
	testkit.WaitFor(t, "both callers queued", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == 2 })

	clk.Advance(queueRepeat)
	if res := withSDP.progress(); res.StatusCode != 183 || !strings.Contains(string(res.Body()), "m=audio") {
		t.Fatalf("a minute on, the caller with an offer: %d %s, want 183 with SDP again", res.StatusCode, res.Reason)
	}
	if res := noSDP.progress(); res.StatusCode != 182 {
		t.Fatalf("a minute on, the caller without an offer: %d %s, want 182 again", res.StatusCode, res.Reason)
	}

	clk.Advance(QueueMaxWait - queueRepeat)
	for _, p := range []*peer{withSDP, noSDP} {
		res := p.recv(false)
		p.ack(res)
		if res.StatusCode != 480 || !strings.Contains(res.GetHeader("Reason").Value(), "no member of group desk was free within 5m0s in its queue") {
			t.Fatalf("after 5 minutes in the queue: %d %v, want 480 with a Reason", res.StatusCode, res.GetHeader("Reason"))
		}
	}
	testkit.WaitFor(t, "the queue empty", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == 0 })
}

// TestGroupQueueBacklogAlert: with the alert at more than 2 calls or a
// wait over a minute, a third waiting caller raises call-queue-backlog for
// the group, a fourth does not raise it again (one cause, once), two
// hanging up clear it; a minute later by the queue's clock the first
// caller's wait raises it again, and the queue emptying clears it. Each is
// handed to the observer and stored (what /provisioning/alerts lists).
func TestGroupQueueBacklogAlert(t *testing.T) {
	var alerts alertLog
	e, clk := queuedDesk(t, WithQueueAlert(2, time.Minute), WithAlerts(alerts.add))
	var ps []*peer
	join := func(n int) {
		t.Helper()
		for i := len(ps); i < n; i++ {
			p := newPeer(t, e)
			p.invite("610", "q-"+strconv.Itoa(i), "")
			if res := p.progress(); res.StatusCode != 183 {
				t.Fatalf("caller %d: %d, want 183", i, res.StatusCode)
			}
			ps = append(ps, p)
		}
		testkit.WaitFor(t, "callers queued", 5*time.Second, func() bool { return e.pbx.queued(testDomain, "desk") == n })
	}
	leave := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			ps[i].cancelInvite("610", "q-"+strconv.Itoa(i))
		}
	}
	join(2)
	if got := alerts.String(); got != "" {
		t.Fatalf("2 calls waiting (not more than 2): alerts %q, want none", got)
	}
	join(4)
	testkit.WaitFor(t, "the backlog alert", 5*time.Second, func() bool { return alerts.String() != "" })
	leave(2, 4)
	testkit.WaitFor(t, "the alert cleared", 5*time.Second, func() bool { return strings.Count(alerts.String(), ";") == 1 })
	if got := alerts.String(); got != "call-queue-backlog raised; call-queue-backlog cleared" {
		t.Fatalf("a third and a fourth caller, then two leaving: alerts %q, want one raised and its clearing", got)
	}
	clk.Advance(time.Minute + time.Second)
	testkit.WaitFor(t, "the wait alert", 5*time.Second, func() bool { return strings.Count(alerts.String(), ";") == 2 })
	leave(0, 2)
	testkit.WaitFor(t, "the alert cleared again", 5*time.Second, func() bool { return strings.Count(alerts.String(), ";") == 3 })
	// The observer hears of an alert before it is stored.
	var stored []Alert
	testkit.WaitFor(t, "the 4 alerts stored", 5*time.Second, func() bool { stored = storedAlerts(t, e.db); return len(stored) >= 4 })
	if len(stored) != 4 {
		t.Fatalf("%d alerts stored, want 4: %+v", len(stored), stored)
	}
	for i, want := range []string{"3 calls wait in the queue of group desk (more than 2)", "2 calls wait in the queue of group desk",
		"the first caller in the queue of group desk has waited 1m1s (longer than 1m0s)", "0 calls wait in the queue of group desk"} {
		a := stored[i]
		if a.AlertType != AlertCallQueueBacklog || a.AccountID != testDomain || a.Message != want || a.Cleared != (i%2 == 1) {
			t.Fatalf("stored alert %d: %+v, want %q (cleared %v)", i, a, want, i%2 == 1)
		}
	}
}
