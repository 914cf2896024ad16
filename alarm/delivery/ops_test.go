package delivery

import (
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// With a long backoff, events wait for the ARC long after it is back; the
// technician's RetryNow sends them at once, and Pending lists them meanwhile.
func TestRetryNowSkipsTheBackoff(t *testing.T) {
	addr := freeAddr(t)
	route := Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: addr, Transport: "tcp", Timeout: 200 * time.Millisecond}}
	d := New(openDB(t), fixed(route), WithLogger(testLog), WithBackoff(time.Hour, time.Hour), WithPrimaryRecheck(time.Hour))
	start(t, d)
	for i := 1; i <= 3; i++ {
		if err := d.Enqueue(t.Context(), cidEvent("1001", i)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "a failed first attempt", 10*time.Second, func() bool { return d.Stats().Retries >= 1 })
	p, err := d.Pending(10)
	if err != nil || len(p) != 3 || p[0].Dest != "arc" || p[0].Attempts != 1 || p[0].Event.ContactID == nil || p[0].LastError == "" {
		t.Fatalf("Pending = %+v, %v: want 3 events, the first tried once with its error", p, err)
	}
	if !p[0].NextAttempt.After(time.Now().Add(30 * time.Minute)) {
		t.Fatalf("next attempt %v: the backoff should hold it for an hour", p[0].NextAttempt)
	}
	// The worker wakes only for its timer (an hour away: NextAttempt above)
	// or for RetryNow; nothing has reached the ARC when it comes up.
	arc := newDC09ARC(t, addr, nil)
	if arc.count() != 0 {
		t.Fatalf("ARC got %d events before RetryNow: the backoff did not hold", arc.count())
	}
	n, err := d.RetryNow()
	if err != nil || n != 1 {
		t.Fatalf("RetryNow = %d, %v: want the one waiting head brought forward", n, err)
	}
	testkit.WaitFor(t, "all 3 after RetryNow", 10*time.Second, func() bool { return arc.count() == 3 })
	// Acknowledgements are written in batches, so the queue empties a moment later.
	testkit.WaitFor(t, "nothing pending after delivery", 10*time.Second, func() bool { p, _ := d.Pending(10); return len(p) == 0 })
	var _ alarm.Queue = d
}

// An ARC that takes the connection but never answers is down for every
// device: after one event has waited out its timeout, the others wait for
// the next round instead of each waiting out its own timeout in turn.
func TestDownDestinationCostsOneTimeoutPerRound(t *testing.T) {
	var triedMu sync.Mutex
	var tried []string // the device of each attempt the ARC saw, in order
	arc := newDC09ARC(t, "127.0.0.1:0", nil, func(a *dc09ARC) {
		a.verdict = func(_ int, m dc09.Message) dc09.Verdict {
			triedMu.Lock()
			tried = append(tried, m.Account)
			triedMu.Unlock()
			return dc09.VerdictSilence
		}
	})
	route := Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: arc.addr, Transport: "tcp", Timeout: 150 * time.Millisecond}}
	d := New(openDB(t), fixed(route), WithLogger(testLog), WithBackoff(time.Hour, time.Hour), WithPrimaryRecheck(time.Hour))
	// Five devices' events wait in the queue (as after a restart): an event
	// arriving while the ARC is tried would rightly be tried at once.
	for _, dev := range []string{"1001", "1002", "1003", "1004", "1005"} {
		if err := d.Enqueue(t.Context(), cidEvent(dev, 1)); err != nil {
			t.Fatal(err)
		}
	}
	start(t, d)
	testkit.WaitFor(t, "the first attempt to fail", 10*time.Second, func() bool { return d.Stats().Retries >= 1 })
	if s := d.Stats(); s.Retries != 1 || s.Queued != 5 {
		t.Fatalf("stats %+v: want 1 failed attempt this round and all 5 events still queued", s)
	}
	// RetryNow starts the next round, which the worker takes only once this
	// one is over: had this round gone on to the other devices, the ARC's
	// second attempt would be one of theirs, not the first device's again.
	if _, err := d.RetryNow(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the next round's attempt at the ARC", 10*time.Second, func() bool {
		triedMu.Lock()
		defer triedMu.Unlock()
		return len(tried) >= 2
	})
	triedMu.Lock()
	defer triedMu.Unlock()
	if tried[1] != tried[0] {
		t.Fatalf("attempts for devices %v: the round went on to another device after the ARC timed out", tried)
	}
}
