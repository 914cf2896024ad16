package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// holdCalls answers every call and keeps it until the caller hangs up.
var holdCalls = CallHandlerFunc(func(ctx context.Context, c *Call) {
	if c.Answer() == nil {
		<-ctx.Done()
	}
})

// refusedAsLimited checks a 503 with Retry-After retry and a Reason naming why.
func refusedAsLimited(t *testing.T, res *sip.Response, retry, why string) {
	t.Helper()
	if res.StatusCode != 503 {
		t.Fatalf("got %d, want 503 (%s)", res.StatusCode, why)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != retry {
		t.Fatalf("503 with Retry-After %v, want %s", h, retry)
	}
	if h := res.GetHeader("Reason"); h == nil || !strings.Contains(h.Value(), why) {
		t.Fatalf("503 with Reason %v, want one naming %s", h, why)
	}
}

// TestCallLimits: voice_call_session bounds the calls in progress of a
// domain and device_call_session those of a device, each refused with 503
// and Retry-After before anything rings, and free again once a call ends;
// limits read from the store as the API writes them.
func TestCallLimits(t *testing.T) {
	db := openStore(t)
	putDoc(t, db, ResTrustedNetwork, "loopback", map[string]string{"network": "127.0.0.0/29"}) // the callers play trusted units
	putDoc(t, db, ResLimit, LimitSessions, LimitDoc{Category: LimitSessions, Quantity: 2})
	putDoc(t, db, ResLimit, LimitDeviceSessions, LimitDoc{Category: LimitDeviceSessions, Quantity: 1})
	putDoc(t, db, ResDevice, "dev1", Device{DeviceID: "dev1", AuthType: "deviceid"})
	var alerts alertLog
	e := startEngine(t, WithStore(db), routeAll("ms/hold", "2833", holdCalls), WithAlerts(alerts.add))

	first := newPeer(t, e)
	first.inviteFrom("dev1", "500", "lim-1")
	r1 := first.recv(false)
	if r1.StatusCode != 200 {
		t.Fatalf("first call: %d", r1.StatusCode)
	}
	first.ackOK(r1, "500")
	for i := range 2 { // refused twice, alerted once
		again := newPeer(t, e)
		again.inviteFrom("dev1", "501", "lim-2-"+strconv.Itoa(i))
		refusedAsLimited(t, again.recv(false), "5", LimitDeviceSessions)
	}

	second := newPeer(t, e)
	second.inviteFrom("other", "502", "lim-3")
	r2 := second.recv(false)
	if r2.StatusCode != 200 {
		t.Fatalf("second call: %d", r2.StatusCode)
	}
	second.ackOK(r2, "502")
	third := newPeer(t, e)
	third.inviteFrom("other", "503", "lim-4")
	refusedAsLimited(t, third.recv(false), "5", LimitSessions)

	first.inDialog(r1, "BYE", 2, "", "")
	if r := first.recv(false); r.StatusCode != 200 {
		t.Fatalf("BYE: %d", r.StatusCode)
	}
	testkit.WaitFor(t, "the first call ended", 5*time.Second, func() bool { return e.Calls() == 1 })
	fourth := newPeer(t, e)
	fourth.inviteFrom("dev1", "504", "lim-5")
	if r := fourth.recv(false); r.StatusCode != 200 {
		t.Fatalf("a call once one ended: %d", r.StatusCode)
	}
	// Each refusal raised its alert once; the call taken after cleared both.
	want := "device-limit dev1 raised; call-limit raised; call-limit cleared; device-limit dev1 cleared"
	if got := alerts.String(); got != want {
		t.Fatalf("alerts: %s, want %s", got, want)
	}
	stored := storedAlerts(t, db)
	if len(stored) != 4 || stored[0].AlertType != AlertDeviceLimit || stored[0].AccountID != testDomain || !strings.Contains(stored[0].Message, LimitDeviceSessions) {
		t.Fatalf("stored alerts: %+v", stored)
	}
}

// alertLog records the alerts an engine files.
type alertLog struct {
	mu sync.Mutex
	as []Alert
}

func (l *alertLog) add(a Alert) {
	l.mu.Lock()
	l.as = append(l.as, a)
	l.mu.Unlock()
}

// String lists the alerts as "type [device] raised|cleared".
func (l *alertLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, a := range l.as {
		s := a.AlertType
		if a.AlertType == AlertDeviceLimit && strings.Contains(a.Message, "dev1") {
			s += " dev1"
		}
		if a.Cleared {
			s += " cleared"
		} else {
			s += " raised"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func storedAlerts(t *testing.T, db *store.DB) []Alert {
	t.Helper()
	var out []Alert
	if err := db.View(func(tx *store.Tx) error {
		return tx.ForEach(store.Coll{Domain: testDomain, Resource: ResAlert}, "", func(id string, b []byte) (bool, error) {
			var a Alert
			if err := json.Unmarshal(b, &a); err != nil {
				return false, err
			}
			out = append(out, a)
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCallRatePerSource: call_rate_per_source lets a burst of that many
// INVITEs from one address through, refuses the rest of the burst with
// 503 and Retry-After 1, and does not hold back another address.
func TestCallRatePerSource(t *testing.T) {
	db := openStore(t)
	putDoc(t, db, ResTrustedNetwork, "loopback", map[string]string{"network": "127.0.0.0/29"}) // the callers play trusted units
	putDoc(t, db, ResLimit, LimitCallRate, LimitDoc{Category: LimitCallRate, Quantity: 3})
	e := startEngine(t, WithStore(db), routeAll("ms/hold", "2833", holdCalls))
	p := newPeer(t, e)
	for i := range 8 {
		p.invite("600", "rate-"+strconv.Itoa(i), "")
	}
	got := map[int]int{}
	for range 8 {
		res := p.recv(false)
		got[res.StatusCode]++
		if res.StatusCode == 503 {
			refusedAsLimited(t, res, "1", LimitCallRate)
		}
	}
	if got[200] != 3 || got[503] != 5 {
		t.Fatalf("responses to a burst of 8 at 3 calls/s: %v", got)
	}
	other := udpPeerAt(t, e, "127.0.0.2")
	other.invite("600", "rate-other", "")
	if r := other.recv(false); r.StatusCode != 200 {
		t.Fatalf("another source: %d", r.StatusCode)
	}
}
