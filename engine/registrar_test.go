package engine

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

func TestOptionsUDPAndTCP(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t)))
	p := newPeer(t, e)
	p.send(`
OPTIONS sip:` + e.Addr() + ` SIP/2.0
Via: SIP/2.0/UDP ` + p.addr() + `;branch=z9hG4bKopt1
From: <sip:probe@127.0.0.1>;tag=a
To: <sip:` + e.Addr() + `>
Call-ID: opt-1
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

`)
	res := p.recv(false)
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS over UDP: %d", res.StatusCode)
	}
	if a := res.GetHeader("Allow"); a == nil || !strings.Contains(a.Value(), "INVITE") || !strings.Contains(a.Value(), "REGISTER") {
		t.Fatalf("Allow header %v lacks INVITE/REGISTER", a)
	}

	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := strings.ReplaceAll(`OPTIONS sip:`+e.Addr()+` SIP/2.0
Via: SIP/2.0/TCP `+c.LocalAddr().String()+`;branch=z9hG4bKopt2
From: <sip:probe@127.0.0.1>;tag=b
To: <sip:`+e.Addr()+`>
Call-ID: opt-2
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

`, "\n", "\r\n")
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TCP answered %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	}
}

// answer computes an Authorization value for a 401 the way a phone does.
func answer(t *testing.T, chal, method, uri, user, password string) string {
	t.Helper()
	c, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: uri, Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func TestRegisterDigestMD5AndSHA256FromStoredHA1(t *testing.T) {
	dir := NewStaticDirectory()
	md5HA1, _ := HA1("MD5", "dev-md5", testDomain, "s3cret")
	shaHA1, _ := HA1("SHA-256", "dev-sha", testDomain, "s3cret")
	dir.PutDevice(testDomain, Device{DeviceID: "dev-md5", AuthType: "credentials", HA1: md5HA1})
	dir.PutDevice(testDomain, Device{DeviceID: "dev-sha", AuthType: "credentials", HA1: shaHA1})
	e := startEngine(t, WithDirectory(dir))
	p := newPeer(t, e)
	uri := "sip:" + e.Addr()

	for _, tc := range []struct{ user, alg string }{{"dev-md5", "MD5"}, {"dev-sha", "SHA-256"}} {
		res := p.register(tc.user, tc.user, "reg-"+tc.user, 1, "", 600)
		if res.StatusCode != 401 {
			t.Fatalf("%s: first REGISTER answered %d, want 401", tc.user, res.StatusCode)
		}
		chals := res.GetHeaders("WWW-Authenticate")
		if len(chals) != 1 || !strings.Contains(chals[0].Value(), "algorithm="+tc.alg) {
			t.Fatalf("%s: challenges %v, want one with algorithm=%s", tc.user, chals, tc.alg)
		}
		auth := answer(t, chals[0].Value(), "REGISTER", uri, tc.user, "s3cret")
		res = p.register(tc.user, tc.user, "reg-"+tc.user, 2, auth, 600)
		if res.StatusCode != 200 {
			t.Fatalf("%s: REGISTER with digest answered %d %s", tc.user, res.StatusCode, res.Reason)
		}
		bs := e.Bindings(testDomain, tc.user)
		if len(bs) != 1 || bs[0].Source != p.addr() {
			t.Fatalf("%s: bindings %+v, want one from %s", tc.user, bs, p.addr())
		}
		if left := time.Until(bs[0].Expires); left < 590*time.Second || left > 600*time.Second {
			t.Fatalf("%s: binding expires in %v, want ~600 s", tc.user, left)
		}
	}

	// A wrong password is challenged again and registers nothing.
	res := p.register("dev-md5", "dev-md5", "reg-bad", 1, "", 600)
	auth := answer(t, res.GetHeaders("WWW-Authenticate")[0].Value(), "REGISTER", uri, "dev-md5", "wrong")
	res = p.register("dev-md5", "dev-md5", "reg-bad", 2, auth, 60)
	if res.StatusCode != 401 {
		t.Fatalf("wrong password answered %d, want 401", res.StatusCode)
	}
	if e.Stats().AuthFailures != 1 {
		t.Fatalf("auth failures %d, want 1", e.Stats().AuthFailures)
	}
	if left := time.Until(e.Bindings(testDomain, "dev-md5")[0].Expires); left < 590*time.Second {
		t.Fatalf("failed REGISTER changed the binding (expires in %v)", left)
	}
	// An unknown device is challenged like a known one (no enumeration).
	if res := p.register("nobody", "nobody", "reg-x", 1, "", 600); res.StatusCode != 401 {
		t.Fatalf("unknown AOR answered %d, want 401", res.StatusCode)
	}
}

func TestRegisterStaleNonce(t *testing.T) {
	dir := NewStaticDirectory()
	dir.PutDevice(testDomain, Device{DeviceID: "d1", AuthType: "credentials", Password: "pw"})
	e := newEngine(t, WithDirectory(dir), WithNonceTTL(time.Minute))
	var later atomic.Int64 // how far the engine's clock runs ahead of the wall clock
	e.auth.now = func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	start(t, e)
	p := newPeer(t, e)
	res := p.register("d1", "d1", "stale", 1, "", 600)
	chals := res.GetHeaders("WWW-Authenticate")
	if len(chals) != 2 || !strings.Contains(chals[0].Value(), "SHA-256") || !strings.Contains(chals[1].Value(), "MD5") {
		t.Fatalf("a password device should be offered SHA-256 then MD5 (RFC 8760), got %v", chals)
	}
	later.Store(int64(2 * time.Minute)) // the nonce is now older than its minute
	auth := answer(t, chals[1].Value(), "REGISTER", "sip:"+e.Addr(), "d1", "pw")
	res = p.register("d1", "d1", "stale", 2, auth, 600)
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("expired nonce: %d %v, want 401 with stale=true", res.StatusCode, res.GetHeader("WWW-Authenticate"))
	}
	auth = answer(t, res.GetHeader("WWW-Authenticate").Value(), "REGISTER", "sip:"+e.Addr(), "d1", "pw")
	if res = p.register("d1", "d1", "stale", 3, auth, 600); res.StatusCode != 200 {
		t.Fatalf("fresh nonce after stale: %d", res.StatusCode)
	}
}

// TestRegisterPolicies: a REGISTER is always challenged, except that of a
// deviceid device from a trusted network; policy refusals come only after
// the right password, so they tell nothing to a guesser.
func TestRegisterPolicies(t *testing.T) {
	dir := NewStaticDirectory()
	dir.PutDevice(testDomain, Device{DeviceID: "1234", AuthType: "deviceid"})
	dir.PutDevice(testDomain, Device{DeviceID: "u-no", AuthType: "userid", Password: "pw", Authorized: &Authorized{Register: false, Invite: ".*"}})
	e := startEngine(t, WithDirectory(dir))
	p := newPeer(t, e)
	uri := "sip:" + e.Addr()
	if res := p.register("1234", "1234", "pol-1", 1, "", 600); res.StatusCode != 401 {
		t.Fatalf("deviceid device from an untrusted address: %d, want 401 (its id is no secret)", res.StatusCode)
	}
	res := p.register("u-no", "u-no", "pol-3", 1, "", 600)
	if res.StatusCode != 401 {
		t.Fatalf("userid device without credentials: %d, want 401", res.StatusCode)
	}
	auth := answer(t, res.GetHeader("WWW-Authenticate").Value(), "REGISTER", uri, "u-no", "pw")
	if res := p.register("u-no", "u-no", "pol-3", 2, auth, 600); res.StatusCode != 403 {
		t.Fatalf("userid device with authorized.register=false and its password: %d, want 403", res.StatusCode)
	}
	if err := dir.SetTrusted(testDomain, "127.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	if res := p.register("1234", "1234", "pol-4", 1, "", 600); res.StatusCode != 200 {
		t.Fatalf("deviceid device from a trusted network: %d, want 200 without digest", res.StatusCode)
	}
	if res := p.register("ghost", "ghost", "pol-5", 1, "", 600); res.StatusCode != 401 {
		t.Fatalf("unknown AOR from a trusted network: %d, want 401 (REGISTER is always challenged)", res.StatusCode)
	}
	if res := p.register("1234", "1234", "pol-6", 2, "", 30); res.StatusCode != 423 || res.GetHeader("Min-Expires") == nil {
		t.Fatalf("Expires 30: %d, want 423 with Min-Expires", res.StatusCode)
	}
}

func TestBindingsSurviveRestart(t *testing.T) {
	db := openStore(t)
	dir := trustedLoopback(t, "alarm7")
	e := startEngine(t, WithDirectory(dir), WithStore(db))
	p := newPeer(t, e)
	if res := p.register("alarm7", "alarm7", "restart", 1, "", 900); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	want := e.Bindings(testDomain, "alarm7")
	e.Close()

	e2 := startEngine(t, WithDirectory(dir), WithStore(db))
	got := e2.Bindings(testDomain, "alarm7")
	if len(got) != 1 || got[0].Contact != want[0].Contact || !got[0].Expires.Equal(want[0].Expires) {
		t.Fatalf("after restart bindings %+v, want %+v", got, want)
	}
	// Unregistering removes it from the store as well.
	p2 := newPeer(t, e2)
	p2.send(`
REGISTER sip:` + e2.Addr() + ` SIP/2.0
Via: SIP/2.0/UDP ` + p2.addr() + `;branch=z9hG4bKunreg
From: <sip:alarm7@127.0.0.1>;tag=u
To: <sip:alarm7@127.0.0.1>
Call-ID: unreg
CSeq: 1 REGISTER
Contact: *
Expires: 0
Content-Length: 0

`)
	if res := p2.recv(false); res.StatusCode != 200 {
		t.Fatalf("Contact * Expires 0: %d", res.StatusCode)
	}
	e2.Close()
	left, err := db.Bindings(time.Now())
	if err != nil || len(left) != 0 {
		t.Fatalf("store still holds %+v (%v)", left, err)
	}
}

// TestExpiredBindingsPurgedOnStart: a binding that expired while the
// gateway was down leaves the store when the engine starts.
func TestExpiredBindingsPurgedOnStart(t *testing.T) {
	db := openStore(t)
	if err := db.SaveBindings([]store.Binding{
		{Domain: testDomain, AOR: "gone", Contact: "sip:gone@127.0.0.1:5999", Expires: time.Now().Add(-time.Minute)},
		{Domain: testDomain, AOR: "live", Contact: "sip:live@127.0.0.1:5998", Expires: time.Now().Add(time.Hour)},
	}, nil); err != nil {
		t.Fatal(err)
	}
	e := startEngine(t, WithDirectory(trustedLoopback(t)), WithStore(db))
	if bs := e.Bindings(testDomain, "live"); len(bs) != 1 {
		t.Fatalf("live binding not restored: %+v", bs)
	}
	all, err := db.Bindings(time.Time{})
	if err != nil || len(all) != 1 || all[0].AOR != "live" {
		t.Fatalf("store holds %+v (%v), want only the live binding", all, err)
	}
}

func TestDomainFromRequestURI(t *testing.T) {
	dir := NewStaticDirectory()
	dir.PutDevice("tenant.example", Device{DeviceID: "x", AuthType: "deviceid"})
	e := startEngine(t, WithDirectory(dir))
	for host, want := range map[string]string{
		"127.0.0.1": testDomain, "[::1]": testDomain, "localhost": testDomain,
		"tenant.example": "tenant.example", "TENANT.example": "tenant.example", "unknown.example": testDomain,
	} {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host})
		if got := e.domainOf(req); got != want {
			t.Errorf("request to %s: domain %q, want %q", host, got, want)
		}
	}
}

// TestSIPpRegisterThenCallAtOnce: a REGISTER's 200 means the binding
// holds. SIPp registers an alarm unit (whose calls another SIPp answers);
// as soon as the 200 came, without waiting on anything, the binding is in
// the store (a crash now would keep it), a call placed to the unit reaches
// it, and a second engine started on the same store (the restart after a
// crash: the first one never closed, so nothing was flushed at Close)
// knows the binding.
func TestSIPpRegisterThenCallAtOnce(t *testing.T) {
	db := openStore(t)
	dir := trustedLoopback(t, "panel1")
	e := startEngine(t, WithDirectory(dir), WithStore(db))
	wd := t.TempDir()
	unit := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	reg := testkit.StartSIPp(t, wd, false, e.Addr(), "-sf", testkit.SIPpScenario(t, wd, "register_contact.xml",
		"CONTACT_PORT", strconv.Itoa(unit.Port)), "-s", "panel1", "-m", "1")
	if err := reg.Wait(10 * time.Second); err != nil {
		t.Fatalf("panel1 did not register: %v\n%s", err, reg.Report())
	}
	stored, err := db.Bindings(time.Now())
	if err != nil || len(stored) != 1 || !strings.Contains(stored[0].Contact, ":"+strconv.Itoa(unit.Port)) {
		t.Fatalf("store right after the 200: %+v (%v), want panel1's binding", stored, err)
	}
	e2 := startEngine(t, WithDirectory(dir), WithStore(db))
	if bs := e2.Bindings(testDomain, "panel1"); len(bs) != 1 || bs[0].Contact != stored[0].Contact {
		t.Fatalf("an engine started on the store after the 200 knows %+v, want %s", bs, stored[0].Contact)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.Dial(ctx, DialOptions{To: "panel1", Domain: testDomain, From: "arc"})
	if err != nil {
		t.Fatalf("call placed on the 200: %v", err)
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	if err := unit.Wait(10 * time.Second); err != nil {
		t.Fatalf("the unit: %v\n%s", err, unit.Report())
	}
}
