package store

import (
	"testing"
	"time"
)

// A technician's "retry now" moves waiting items forward without counting an
// attempt, and "alarms queued" lists every item in arrival order.
func TestQueueMakeDueAndItems(t *testing.T) {
	db := openQueueDB(t)
	now := time.Now()
	if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: "e1", Group: "d1"}, QueueItem{Dest: "arc", ID: "e2", Group: "d2"},
		QueueItem{Dest: "arc", ID: "e3", Group: "d1"}); err != nil {
		t.Fatal(err)
	}
	due, _, _ := db.QueueDue("arc", now, 10)
	if ids(due) != "e1,e2,e3" {
		t.Fatalf("due = %s, want e1,e2,e3", ids(due))
	}
	if _, err := db.QueueRetry("arc", due[0].Seq, now.Add(time.Hour), "ARC down"); err != nil {
		t.Fatal(err)
	}
	if due, _, _ = db.QueueDue("arc", now, 10); ids(due) != "e2" {
		t.Fatalf("after a retry of e1 an hour out, due = %s, want e2 (e3 waits behind e1)", ids(due))
	}
	all, err := db.QueueItems("arc", 10)
	if err != nil || ids(all) != "e1,e2,e3" || all[0].Attempts != 1 || all[0].LastError != "ARC down" {
		t.Fatalf("QueueItems = %s %+v %v", ids(all), all, err)
	}
	n, err := db.QueueMakeDue("arc", now)
	if err != nil || n != 1 {
		t.Fatalf("QueueMakeDue moved %d (%v), want 1", n, err)
	}
	if due, _, _ = db.QueueDue("arc", now, 10); ids(due) != "e1,e2,e3" {
		t.Fatalf("after retry now, due = %s, want e1,e2,e3", ids(due))
	}
	if all, _ = db.QueueItems("arc", 10); all[0].Attempts != 1 {
		t.Fatalf("retry now counted an attempt: %+v", all[0])
	}
	if n, err := db.QueueMakeDue("nowhere", now); n != 0 || err != nil {
		t.Fatalf("unknown destination: %d %v", n, err)
	}
	if got, _ := db.QueueItems("arc", 2); len(got) != 2 {
		t.Fatalf("max not honoured: %d items", len(got))
	}
}
