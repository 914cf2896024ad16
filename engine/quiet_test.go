package engine

import (
	"testing"
	"time"
)

// The answered table goes once nothing in it is remembered, and comes back
// at the next answer; while an entry is remembered it stays.
func TestAnsweredTableForgottenWhenStale(t *testing.T) {
	a := answeredInvites{m: inviteMemo{size: answeredSlots}}
	if !a.forget(time.Now()) {
		t.Fatal("an unmade table not forgettable")
	}
	t0 := time.Now()
	a.m.add(42, false, t0)
	if a.forget(t0.Add(time.Second)) || a.m.slots == nil {
		t.Fatal("the table let go while an answer 1 s old is remembered")
	}
	if a.m.find(42, t0.Add(time.Second)) != invitePassed {
		t.Fatal("the answer forgotten by a forget that did not happen")
	}
	if !a.forget(t0.Add(inviteMemory)) || a.m.slots != nil {
		t.Fatal("the table kept once its only answer is past inviteMemory")
	}
	t1 := t0.Add(inviteMemory + time.Second)
	if a.m.find(42, t1) != inviteNew {
		t.Fatal("a forgotten answer found")
	}
	a.m.add(43, false, t1)
	if len(a.m.slots) != answeredSlots || a.m.find(43, t1) != invitePassed {
		t.Fatalf("the table not made again at the next answer (%d slots)", len(a.m.slots))
	}
}
