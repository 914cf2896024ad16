package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

func recordIDs(rs []store.CallRecord) string {
	s := ""
	for _, r := range rs {
		s += fmt.Sprintf("%s:%v ", r.CallID, !r.End.IsZero())
	}
	return s
}

// A call that ends within recordHold of its start is written once, ended;
// one still up after recordHold is written as it is then, and its end
// later; an engine that stops writes the calls it held.
func TestRecordHolderWritesShortCallsOnce(t *testing.T) {
	h := recordHolder{last: map[recordKey]int{}, held: map[recordKey]heldRecord{}}
	t0 := time.Unix(1_700_000_000, 0)
	short := store.CallRecord{CallID: "short", Domain: "d", Start: t0}
	long := store.CallRecord{CallID: "long", Domain: "d", Start: t0}
	if out := h.pass([]store.CallRecord{short, long}, t0, false); len(out) != 0 {
		t.Fatalf("calls just started written at once: %s", recordIDs(out))
	}
	answered := short
	answered.Answer = t0.Add(100 * time.Millisecond)
	if out := h.pass([]store.CallRecord{answered}, t0.Add(100*time.Millisecond), false); len(out) != 0 {
		t.Fatalf("answered call written within the hold: %s", recordIDs(out))
	}
	ended := answered
	ended.End = t0.Add(300 * time.Millisecond)
	if out := h.pass([]store.CallRecord{ended}, t0.Add(300*time.Millisecond), false); recordIDs(out) != "short:true " {
		t.Fatalf("the short call's end: %s, want it alone", recordIDs(out))
	}
	if out := h.pass(nil, t0.Add(recordHold), false); recordIDs(out) != "long:false " {
		t.Fatalf("after the hold: %s, want the long call, up", recordIDs(out))
	}
	longEnded := long
	longEnded.End = t0.Add(time.Minute)
	up := store.CallRecord{CallID: "up", Domain: "d", Start: t0.Add(time.Minute)}
	if out := h.pass([]store.CallRecord{longEnded, up}, t0.Add(time.Minute), false); recordIDs(out) != "long:true " {
		t.Fatalf("the long call's end: %s", recordIDs(out))
	}
	if out := h.pass(nil, t0.Add(time.Minute), true); recordIDs(out) != "up:false " {
		t.Fatalf("on stop: %s, want the call held", recordIDs(out))
	}
	if len(h.held) != 0 {
		t.Fatalf("%d calls still held after stop", len(h.held))
	}
}
