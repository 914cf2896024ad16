package engine

import (
	"math/rand/v2"
	"testing"
	"time"
)

// An INVITE table starts at a page, doubles rather than push out an entry
// still remembered, and stops at its bound whatever arrives.
func TestInviteTableGrowsWithTheRate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	now := time.Unix(1000, 0)
	m := inviteMemo{limit: 1 << 14}
	if m.find(1, now) != inviteNew || m.slots != nil {
		t.Fatal("a lookup made the table")
	}
	m.add(r.Uint64(), false, now)
	if len(m.slots) != minInviteSlots {
		t.Fatalf("first entry made %d slots, want %d", len(m.slots), minInviteSlots)
	}
	// 1000 entries within inviteMemory: every one is still found.
	keys := make([]uint64, 1000)
	for i := range keys {
		keys[i] = r.Uint64() &^ 1
		m.add(keys[i], i%2 == 1, now.Add(time.Duration(i)*time.Millisecond))
	}
	at := now.Add(time.Second)
	for i, k := range keys {
		want := invitePassed
		if i%2 == 1 {
			want = inviteRefused
		}
		if got := m.find(k, at); got != want {
			t.Fatalf("entry %d of 1000 (table of %d): %v, want %v", i, len(m.slots), got, want)
		}
	}
	if len(m.slots) <= minInviteSlots || len(m.slots) > m.limit {
		t.Fatalf("1000 entries in %d slots", len(m.slots))
	}
	// A flood of new keys (every one a new INVITE) stops at the bound.
	for i := range 100000 {
		m.add(r.Uint64(), true, at.Add(time.Duration(i)*time.Microsecond))
	}
	if len(m.slots) != m.limit {
		t.Fatalf("a flood grew the table to %d slots, bound %d", len(m.slots), m.limit)
	}
}

// tidy lets a table go once nothing in it is remembered, and moves a few
// entries still remembered into a table of their size; the next entry
// after the table went makes it again at a page.
func TestInviteTableTidy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Unix(1000, 0)
	m := inviteMemo{limit: answeredSlots}
	if !m.tidy(t0) {
		t.Fatal("an unmade table not gone")
	}
	for range 20000 {
		m.add(r.Uint64(), false, t0)
	}
	big := len(m.slots)
	// Four seconds later, ten calls' entries.
	t1 := t0.Add(4 * time.Second)
	keys := make([]uint64, 10)
	for i := range keys {
		keys[i] = r.Uint64() &^ 1
		m.add(keys[i], i == 0, t1)
	}
	if m.tidy(t1) || len(m.slots) != big {
		t.Fatalf("tidied to %d slots from %d while 20010 entries are remembered", len(m.slots), big)
	}
	t2 := t0.Add(inviteMemory)
	if m.tidy(t2) {
		t.Fatal("the table went while ten entries are remembered")
	}
	if len(m.slots) != minInviteSlots {
		t.Fatalf("ten entries kept in %d slots (from %d), want %d", len(m.slots), big, minInviteSlots)
	}
	for i, k := range keys {
		want := invitePassed
		if i == 0 {
			want = inviteRefused
		}
		if got := m.find(k, t2); got != want {
			t.Fatalf("entry %d after the tidy: %v, want %v", i, got, want)
		}
	}
	t3 := t1.Add(inviteMemory)
	if !m.tidy(t3) || m.slots != nil {
		t.Fatal("the table kept once nothing in it is remembered")
	}
	if m.find(keys[1], t3) != inviteNew {
		t.Fatal("a forgotten entry found")
	}
	m.add(43, false, t3)
	if len(m.slots) != minInviteSlots || m.find(43, t3) != invitePassed {
		t.Fatalf("the table not made again at the next entry (%d slots)", len(m.slots))
	}
}

// The engine tidies both its INVITE tables, the socket reader's included:
// the reader uses the engine's.
func TestEngineTidiesBothInviteTables(t *testing.T) {
	e, c, _, _ := shedReaderRig(t, 40020)
	e.answered.m.limit = answeredSlots
	if c.seen != &e.offered {
		t.Fatal("the socket's reader keeps a table of its own")
	}
	t0 := time.Now()
	for i := range uint64(5000) {
		c.seen.add(i<<32, false, t0)
		e.answered.add(i<<32, false, t0)
	}
	e.tidyInvites(t0.Add(time.Second))
	if e.offered.m.slots == nil || e.answered.m.slots == nil {
		t.Fatal("a table went while its entries are remembered")
	}
	e.tidyInvites(t0.Add(inviteMemory))
	if e.offered.m.slots != nil {
		t.Errorf("the reader's table kept (%d slots) once nothing is remembered", len(e.offered.m.slots))
	}
	if e.answered.m.slots != nil {
		t.Errorf("the answered table kept (%d slots) once nothing is remembered", len(e.answered.m.slots))
	}
}
