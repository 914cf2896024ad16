package engine

import (
	"context"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// edgeDir has a credentials device, a deviceid alarm unit, a trunk for
// 00… numbers, and no trusted network.
func edgeDir() *StaticDirectory {
	dir := NewStaticDirectory()
	dir.PutDevice(testDomain, Device{DeviceID: "101", AuthType: "credentials", Password: "right-pw"})
	dir.PutDevice(testDomain, Device{DeviceID: "1234", AuthType: "deviceid"})
	off := false
	dir.SetTrunks(testDomain, []Trunk{{TrunkID: "pstn", DestinationTarget: "127.0.0.1:9", DestinationTransport: "udp", DestinationMatch: "/^00/", KeepAlive: &off}})
	return dir
}

// alarmRoute takes calls to 5551 as an alarmbridge and answers them.
func alarmRoute() Option {
	re, _ := CompileMatch("/^5551$/")
	return WithRoutes(RouteSourceFunc(func(string) []Route {
		return []Route{{Name: "alarmbridge/ab", Match: re, Handler: answerAndWait, DTMF: "2833"}}
	}))
}

// TestLoopbackNotTrusted: a local process gets no free calls; the same
// source in a trustednetwork does.
func TestLoopbackNotTrusted(t *testing.T) {
	dir := edgeDir()
	e := startEngine(t, WithDirectory(dir), alarmRoute())
	p := newPeer(t, e)
	p.invite("00441234567", "lo-1", "")
	if r := p.recv(false); r.StatusCode != 401 {
		t.Fatalf("INVITE to a trunk from loopback without a trusted network: %d, want 401", r.StatusCode)
	} else {
		p.ack(r)
	}
	dir.SetTrusted(testDomain, "127.0.0.1/32")
	p.invite("5551", "lo-2", "")
	if r := p.recv(false); r.StatusCode != 200 {
		t.Fatalf("INVITE from a trusted network: %d, want 200", r.StatusCode)
	}
}

// TestDeviceIDReachesAlarmServicesOnly: the toll-fraud path. Anyone can put
// a deviceid device's id in From; that reaches the alarmbridge but no trunk.
func TestDeviceIDReachesAlarmServicesOnly(t *testing.T) {
	e := startEngine(t, WithDirectory(edgeDir()), alarmRoute())
	p := udpPeerAt(t, e, "127.0.0.5")
	for i := range 20 {
		id := "toll-" + strconv.Itoa(i)
		p.inviteFrom("1234", "00900"+strconv.Itoa(i), id)
		r := p.recv(false)
		if r.StatusCode != 403 || !strings.Contains(r.GetHeader("Reason").Value(), "alarm services only") {
			t.Fatalf("INVITE to a trunk number as deviceid device 1234: %d %v, want 403", r.StatusCode, r.GetHeader("Reason"))
		}
		p.ack(r)
	}
	p.inviteFrom("1234", "5551", "alarm-1")
	if r := p.recv(false); r.StatusCode != 200 {
		t.Fatalf("deviceid device calling its alarmbridge: %d, want 200", r.StatusCode)
	}
}

// challengeShape is what a response to an unauthenticated or wrongly
// authenticated request shows: status, reason, header names and the
// WWW-Authenticate parameters other than the nonce.
func challengeShape(r *sip.Response) string {
	var names []string
	for _, h := range r.Headers() {
		names = append(names, h.Name())
	}
	sort.Strings(names)
	var chal []string
	for _, h := range r.GetHeaders("WWW-Authenticate") {
		v := h.Value()
		if i := strings.Index(v, `nonce="`); i >= 0 {
			j := strings.Index(v[i+7:], `"`)
			v = v[:i] + v[i+7+j+1:]
		}
		chal = append(chal, v)
	}
	return strconv.Itoa(r.StatusCode) + " " + r.Reason + " | " + strings.Join(names, ",") + " | " + strings.Join(chal, " ; ")
}

// TestNoUserEnumeration: an unknown user is answered exactly as a known
// one with a wrong password, for REGISTER, INVITE and MESSAGE: a challenge,
// then the same refusal.
func TestNoUserEnumeration(t *testing.T) {
	e := startEngine(t, WithDirectory(edgeDir()), alarmRoute(), WithMessageHandler(func(context.Context, string, string, string, []byte) int { return 200 }))
	p := udpPeerAt(t, e, "127.0.0.6")
	uri := "sip:" + e.Addr()
	shapes := func(user string, n int) (string, string) {
		first := p.register(user, user, "enum-"+user+strconv.Itoa(n), 1, "", 600)
		auth := answer(t, first.GetHeader("WWW-Authenticate").Value(), "REGISTER", uri, user, "wrong-pw")
		second := p.register(user, user, "enum-"+user+strconv.Itoa(n), 2, auth, 600)
		return challengeShape(first), challengeShape(second)
	}
	k1, k2 := shapes("101", 0)
	u1, u2 := shapes("999", 0)
	if k1 != u1 || k2 != u2 {
		t.Fatalf("REGISTER tells users apart:\nknown:   %s\n         %s\nunknown: %s\n         %s", k1, k2, u1, u2)
	}
	if !strings.HasPrefix(k1, "401 ") || !strings.HasPrefix(k2, "401 ") {
		t.Fatalf("want a challenge then a challenge again, got %s / %s", k1, k2)
	}
	inv := func(from, id string) string {
		p.inviteFrom(from, "00123", id)
		r := p.recv(false)
		p.ack(r)
		return challengeShape(r)
	}
	if k, u := inv("101", "enum-i1"), inv("999", "enum-i2"); k != u {
		t.Fatalf("INVITE tells users apart:\nknown:   %s\nunknown: %s", k, u)
	}
	msg := func(from, id string) string {
		p.message(id, from)
		return challengeShape(p.recv(false))
	}
	if k, u := msg("101", "enum-m1"), msg("999", "enum-m2"); k != u {
		t.Fatalf("MESSAGE tells users apart:\nknown:   %s\nunknown: %s", k, u)
	}
}

// TestDigestGuessingBackOffAndBlock: after a few wrong passwords a source
// waits longer and longer, then is blocked with 403, whatever password it
// tries (the right one included); the block is counted and logged once.
func TestDigestGuessingBackOffAndBlock(t *testing.T) {
	// The clock is set before the engine runs and moved under a lock: the
	// engine's goroutines read it.
	e := newEngine(t, WithDirectory(edgeDir()))
	var clockMu sync.Mutex
	now := time.Unix(1700000000, 0)
	e.authFails.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	advance := func(d time.Duration) { clockMu.Lock(); now = now.Add(d); clockMu.Unlock() }
	start(t, e)
	p := udpPeerAt(t, e, "127.0.0.7")
	uri := "sip:" + e.Addr()
	try := func(n int, pw string) *sip.Response {
		t.Helper()
		id := "guess-" + strconv.Itoa(n)
		r := p.register("101", "101", id, 1, "", 600)
		if r.StatusCode != 401 {
			return r
		}
		return p.register("101", "101", id, 2, answer(t, r.GetHeader("WWW-Authenticate").Value(), "REGISTER", uri, "101", pw), 600)
	}
	for i := range freeFailures {
		if r := try(i, "guess"+strconv.Itoa(i)); r.StatusCode != 401 {
			t.Fatalf("guess %d: %d, want 401", i, r.StatusCode)
		}
	}
	// The 4th failure starts the back-off: the next try is refused unread.
	try(3, "guess3")
	r := try(4, "right-pw")
	if r.StatusCode != 403 || r.GetHeader("Retry-After") == nil {
		t.Fatalf("during the back-off: %d, want 403 with Retry-After", r.StatusCode)
	}
	// Waiting it out lets one more try through; failures double the wait.
	allowed := 4
	for i := 5; i < 200 && e.Stats().AuthFailures < blockAfter; i++ {
		advance(maxBackoff)
		if r := try(i, "guess"+strconv.Itoa(i)); r.StatusCode == 401 {
			allowed++
		}
	}
	if got := e.Stats().AuthFailures; got != blockAfter {
		t.Fatalf("failures %d, want %d", got, blockAfter)
	}
	advance(maxBackoff)
	if r := try(999, "right-pw"); r.StatusCode != 403 {
		t.Fatalf("blocked source with the right password: %d, want 403", r.StatusCode)
	}
	if e.Stats().AuthBlocked == 0 {
		t.Fatal("blocked requests not counted")
	}
	// Another address is not blocked for another user, but user 101
	// itself is (per-user limit: guessing from many addresses).
	q := udpPeerAt(t, e, "127.0.0.8")
	if r := q.register("555", "555", "other-user", 1, "", 600); r.StatusCode != 401 {
		t.Fatalf("another source, another user: %d, want 401", r.StatusCode)
	}
	if r := q.register("101", "101", "same-user", 1, "", 600); r.StatusCode != 403 {
		t.Fatalf("another source, the blocked user: %d, want 403", r.StatusCode)
	}
	advance(blockFor + time.Second)
	r = q.register("101", "101", "after-block", 1, "", 600)
	auth := answer(t, r.GetHeader("WWW-Authenticate").Value(), "REGISTER", uri, "101", "right-pw")
	if r := q.register("101", "101", "after-block", 2, auth, 600); r.StatusCode != 200 {
		t.Fatalf("after the block, the right password: %d, want 200", r.StatusCode)
	}
	t.Logf("%d guesses answered before the block (%d failures)", allowed, blockAfter)
}

// TestCapturedAuthorizationNotReplayed: an Authorization header overheard
// on an INVITE works neither again nor for another number.
func TestCapturedAuthorizationNotReplayed(t *testing.T) {
	e := startEngine(t, WithDirectory(edgeDir()), alarmRoute())
	p := udpPeerAt(t, e, "127.0.0.9")
	inv := func(called, id, auth string) *sip.Response {
		extra := ""
		if auth != "" {
			extra = "Authorization: " + auth + "\n"
		}
		p.inviteAs("101", called, id, extra, testSDP)
		r := p.recv(false)
		if r.StatusCode >= 300 {
			p.ack(r)
		}
		return r
	}
	r := inv("5551", "rp-1", "")
	ruri := "sip:5551@" + p.to.String()
	auth := answer(t, r.GetHeader("WWW-Authenticate").Value(), "INVITE", ruri, "101", "right-pw")
	if r := inv("5551", "rp-2", auth); r.StatusCode != 200 {
		t.Fatalf("first use: %d, want 200", r.StatusCode)
	}
	if r := inv("5551", "rp-3", auth); r.StatusCode != 401 {
		t.Fatalf("the captured header again: %d, want 401", r.StatusCode)
	}
	if r := inv("00447700900123", "rp-4", auth); r.StatusCode != 401 {
		t.Fatalf("the captured header to call another number: %d, want 401", r.StatusCode)
	}
}

// TestSipviciousFindsNothing runs sipvicious from an untrusted loopback
// address: svwar (REGISTER, INVITE, OPTIONS scans) lists no extension, and
// svcrack, given 10 s and a range holding the password (it finds it in
// about 2 s without the limits), gives up without it.
func TestSipviciousFindsNothing(t *testing.T) {
	svwar, svcrack := testkit.NeedTool(t, "svwar"), testkit.NeedTool(t, "svcrack")
	dir := edgeDir()
	ha1, _ := HA1("MD5", "102", testDomain, "7391") // MD5 only: svcrack speaks nothing else
	dir.PutDevice(testDomain, Device{DeviceID: "102", AuthType: "credentials", HA1: ha1})
	e := startEngine(t, WithDirectory(dir))
	target := "udp://" + e.Addr()
	run := func(d time.Duration, bin string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		out, _ := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return string(out)
	}
	for i, m := range []string{"REGISTER", "INVITE", "OPTIONS"} {
		out := run(60*time.Second, svwar, "--force", "-P", strconv.Itoa(testkit.FreeUDP(t)), "-e100-110,1230-1240", "-m", m,
			"-b", "127.0.0."+strconv.Itoa(20+i), target)
		if !strings.Contains(out, "found nothing") || strings.Contains(out, "| 10") || strings.Contains(out, "| 1234") {
			t.Fatalf("svwar -m %s found something:\n%s", m, out)
		}
	}
	out := run(10*time.Second, svcrack, "-P", strconv.Itoa(testkit.FreeUDP(t)), "-u102", "-r7000-7999", "-b", "127.0.0.30", target)
	if strings.Contains(out, "7391") {
		t.Fatalf("svcrack found the password:\n%s", out)
	}
	if s := e.Stats(); s.AuthFailures > 2*blockAfter || s.AuthBlocked == 0 {
		t.Fatalf("svcrack had %d guesses checked and %d refused, want at most %d checked and the rest refused", s.AuthFailures, s.AuthBlocked, 2*blockAfter)
	}
	p := newPeer(t, e)
	p.send("OPTIONS sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKsv\nFrom: <sip:probe@127.0.0.1>;tag=x\nTo: <sip:" + e.Addr() + ">\nCall-ID: sv-alive\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n")
	if r := p.recv(false); r.StatusCode != 200 {
		t.Fatalf("OPTIONS after the scans: %d", r.StatusCode)
	}
	t.Logf("svcrack: %d guesses checked in 10 s, %d requests refused", e.Stats().AuthFailures, e.Stats().AuthBlocked)
}
