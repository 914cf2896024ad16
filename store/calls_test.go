package store

import (
	"errors"
	"testing"
	"time"
)

func TestCallRecords(t *testing.T) {
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	if err := db.RecordCall(CallRecord{CallID: "a", Domain: "d", From: "1001", To: "112", Start: t0}); err != nil {
		t.Fatal(err)
	}
	// Progress of the same call: answer, then end; Start left zero is kept.
	if err := db.RecordCall(CallRecord{CallID: "a", Domain: "d", From: "1001", To: "112", Answer: t0.Add(2 * time.Second), End: t0.Add(62 * time.Second), Result: "answered", RTPLost: 3, RTPJitter: 1.5}); err != nil {
		t.Fatal(err)
	}
	_ = db.RecordCall(CallRecord{CallID: "b", Domain: "d", Start: t0.Add(time.Hour), Result: "486"})
	r, err := db.Call("d", "a")
	if err != nil || !r.Start.Equal(t0) || r.Duration() != time.Minute || r.RTPLost != 3 {
		t.Fatalf("record a: %+v %v", r, err)
	}
	var ids []string
	_ = db.Calls("d", time.Time{}, time.Time{}, func(r CallRecord) bool { ids = append(ids, r.CallID); return true })
	if len(ids) != 2 || ids[0] != "a" || ids[1] != "b" {
		t.Fatalf("calls %v (the update must not duplicate a)", ids)
	}
	ids = nil
	_ = db.Calls("d", t0.Add(time.Minute), time.Time{}, func(r CallRecord) bool { ids = append(ids, r.CallID); return true })
	if len(ids) != 1 || ids[0] != "b" {
		t.Fatalf("from filter: %v", ids)
	}
	if _, err := db.Call("d", "zz"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing call: %v", err)
	}
	if err := db.RecordCall(CallRecord{Domain: "d"}); err == nil {
		t.Fatal("record without Call-ID accepted")
	}
}
