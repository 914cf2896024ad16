package engine

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// registerAs registers aor at e with the Contact sip:contactUser@127.0.0.1:port
// (a SIPp handset), from a trusted loopback peer.
func registerAs(t *testing.T, e *Engine, aor, contactUser string, port int) {
	t.Helper()
	unitInTrustedLoopback(t, e, aor)
	newPeer(t, e).registerTrusted(aor, aor+"-"+contactUser, "sip:"+contactUser+"@127.0.0.1:"+strconv.Itoa(port))
}

// answeredLegs records the called user of every answered outbound leg
// (the Contact user of the handset that took the call), in order.
type answeredLegs struct {
	mu  sync.Mutex
	tos []string
}

func (a *answeredLegs) observe(ev Event) {
	if ev.Type == EventCallAnswer && strings.HasPrefix(ev.To, "h-") {
		a.mu.Lock()
		a.tos = append(a.tos, ev.To)
		a.mu.Unlock()
	}
}

func (a *answeredLegs) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tos...)
}

// callAndHangUp calls user from a loopback peer, expects 200 (after 180),
// acknowledges it and hangs up.
func callAndHangUp(t *testing.T, e *Engine, user, callID string) {
	t.Helper()
	caller := newPeer(t, e)
	caller.invite(user, callID, "")
	var codes []int
	for {
		res := caller.recv(true)
		codes = append(codes, res.StatusCode)
		if res.StatusCode < 200 {
			continue
		}
		if res.StatusCode != 200 {
			t.Fatalf("call %s to %s: responses %v", callID, user, codes)
		}
		caller.ackOK(res, user)
		caller.inDialog(res, "BYE", 2, "", "")
		if r := caller.recv(false); r.StatusCode != 200 {
			t.Fatalf("BYE of %s: %d", callID, r.StatusCode)
		}
		return
	}
}

// putDoc stores doc as the working document res/id of the test domain.
// unitInTrustedLoopback provisions aor as a deviceid device and 127.0.0.1
// as a trusted network, so that it registers without digest (a REGISTER
// is challenged otherwise, loopback included).
func unitInTrustedLoopback(t *testing.T, e *Engine, aor string) {
	t.Helper()
	switch d := e.dir.(type) {
	case *StaticDirectory:
		if _, err := d.Device(testDomain, aor); err != nil {
			d.PutDevice(testDomain, Device{DeviceID: aor, AuthType: "deviceid"})
		}
		if nets, _ := d.TrustedNetworks(testDomain); len(nets) == 0 {
			d.SetTrusted(testDomain, "127.0.0.1/32")
		}
	case StoreDirectory:
		if _, err := d.Device(testDomain, aor); err != nil {
			putDoc(t, d.DB, ResDevice, aor, Device{DeviceID: aor, AuthType: "deviceid"})
		}
		putDoc(t, d.DB, ResTrustedNetwork, "loopback", map[string]string{"network": "127.0.0.1/32"})
	default:
		t.Fatalf("directory %T: provision %s by hand", e.dir, aor)
	}
}

func putDoc(t *testing.T, db *store.DB, res, id string, doc any) {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *store.Tx) error {
		return tx.Put(store.Coll{Domain: testDomain, Resource: res}, id, b)
	}); err != nil {
		t.Fatal(err)
	}
}

// TestSIPpGroupAllAndUserExtension: ringStrategy all rings both members at
// once; the one that answers takes the call and the other is cancelled as
// completed elsewhere; a user's own extension rings its device.
func TestSIPpGroupAllAndUserExtension(t *testing.T) {
	db := openStore(t)
	da, db2, dc := t.TempDir(), t.TempDir(), t.TempDir()
	ha := testkit.StartSIPp(t, da, true, "-sf", testkit.SIPpScenario(t, da, "uas_ring_cancel.xml"), "-m", "1")
	hb := testkit.StartSIPp(t, db2, true, "-sf", testkit.SIPpScenario(t, db2, "uas_ring_answer.xml", "RING_MS", "600"), "-m", "1")
	hc := testkit.StartSIPp(t, dc, true, "-sf", testkit.SIPpScenario(t, dc, "uas_ring_answer.xml", "RING_MS", "0"), "-m", "1")
	putDoc(t, db, ResUser, "ua", User{User: "ha", ExtensionNumber: "201"})
	putDoc(t, db, ResUser, "ub", User{User: "hb", ExtensionNumber: "202"})
	putDoc(t, db, ResUser, "uc", User{User: "hc", ExtensionNumber: "203"})
	putDoc(t, db, ResGroup, "all", Group{GroupName: "all", ExtensionNumber: "700", RingStrategy: RingAll,
		Members: []GroupMember{{UserID: "ua"}, {UserID: "ub"}}})
	var legs answeredLegs
	e := startEngine(t, WithStore(db), WithEvents(legs.observe))
	registerAs(t, e, "ha", "h-a", ha.Port)
	registerAs(t, e, "hb", "h-b", hb.Port)
	registerAs(t, e, "hc", "h-c", hc.Port)
	callAndHangUp(t, e, "700", "all-1")
	callAndHangUp(t, e, "203", "ext-1")
	for n, h := range map[string]*testkit.SIPp{"a": ha, "b": hb, "c": hc} {
		if err := h.Wait(10 * time.Second); err != nil {
			t.Fatalf("handset %s: %v\n%s", n, err, h.Report())
		}
	}
	if got, want := strings.Join(legs.list(), " "), "h-b h-c"; got != want {
		t.Fatalf("handsets that took the calls: %s, want %s", got, want)
	}
	// The call records (recent calls) say who called whom, which way, and
	// where the peer was: the caller's inbound leg and the answered leg out
	// to handset b.
	var in, out store.CallRecord
	testkit.WaitFor(t, "call records written", 5*time.Second, func() bool {
		in, out = store.CallRecord{}, store.CallRecord{}
		_ = db.Calls(testDomain, time.Time{}, time.Time{}, func(r store.CallRecord) bool {
			switch {
			case r.CallID == "all-1" && !r.End.IsZero():
				in = r
			case r.To == "h-b" && !r.End.IsZero():
				out = r
			}
			return true
		})
		return in.CallID != "" && out.CallID != ""
	})
	if in.Direction != "inbound" || in.To != "700" || in.Answer.IsZero() || !strings.HasPrefix(in.Remote, "127.0.0.1:") || in.Local != e.Addr() {
		t.Errorf("inbound record %+v", in)
	}
	if out.Direction != "outbound" || out.Remote != "127.0.0.1:"+strconv.Itoa(hb.Port) || out.Answer.IsZero() {
		t.Errorf("outbound record %+v", out)
	}
}

// TestSIPpGroupCallNotForwardedToMobile: a group call that its only member
// (a SIPp handset left ringing) does not answer within the group's
// ringSecs ends with 480 and the handset is cancelled; the member's
// mobileNumber, which would take a missed call to the member's own
// extension, is not called (the SIPp "mobile" behind the trunk receives
// nothing).
func TestSIPpGroupCallNotForwardedToMobile(t *testing.T) {
	dm, dh := t.TempDir(), t.TempDir()
	mobile := testkit.StartSIPp(t, dm, true, "-sf", testkit.SIPpScenario(t, dm, "uas_answer.xml"), "-m", "1")
	handset := testkit.StartSIPp(t, dh, true, "-sf", testkit.SIPpScenario(t, dh, "uas_ring.xml"), "-m", "1")
	db := openStore(t)
	off := false
	putDoc(t, db, ResTrunk, "mobiles", Trunk{DestinationMatch: "/^07/", DestinationTarget: "127.0.0.1:" + strconv.Itoa(mobile.Port),
		DestinationTransport: "udp", KeepAlive: &off})
	putDoc(t, db, ResUser, "ua", User{User: "ha", ExtensionNumber: "201", MobileNumber: "07700900123", RingSecs: 1})
	putDoc(t, db, ResGroup, "desk", Group{GroupName: "desk", ExtensionNumber: "700", RingSecs: 1, Members: []GroupMember{{UserID: "ua"}}})
	e := startEngine(t, WithStore(db))
	testkit.WaitFor(t, "trunk loaded", 5*time.Second, func() bool { return len(e.TrunkStatus()) == 1 })
	registerAs(t, e, "ha", "h-a", handset.Port)
	p := newPeer(t, e)
	p.invite("700", "group-missed", "")
	res := p.recv(false)
	p.ack(res)
	if res.StatusCode != 480 {
		t.Fatalf("group call no member answered: %d %s, want 480", res.StatusCode, res.Reason)
	}
	if err := handset.Wait(10 * time.Second); err != nil {
		t.Fatalf("handset: %v\n%s", err, handset.Report())
	}
	if got := mobile.Received(); len(got) != 0 {
		t.Fatalf("the member's mobile was called for a group call:\n%s", strings.Join(got, "\n"))
	}
}
