package store

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

func openQueueDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func ids(items []QueueItem) string {
	var s []string
	for _, it := range items {
		s = append(s, it.ID)
	}
	return strings.Join(s, ",")
}

func TestQueuePutIsIdempotent(t *testing.T) {
	db := openQueueDB(t)
	added, err := db.QueuePut(QueueItem{Dest: "arc", ID: "e1", Group: "d1", Payload: []byte("x")},
		QueueItem{Dest: "arc", ID: "e1", Group: "d1"}, QueueItem{Dest: "cb", ID: "e1", Group: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	if !added[0] || added[1] || !added[2] {
		t.Fatalf("added = %v, want [true false true]: same id twice in one destination is one item", added)
	}
	due, _, _ := db.QueueDue("arc", time.Now(), 10)
	if len(due) != 1 || string(due[0].Payload) != "x" || due[0].Enqueued.IsZero() {
		t.Fatalf("due = %+v", due)
	}
	if err := db.QueueAck("arc", due[0].Seq); err != nil {
		t.Fatal(err)
	}
	// Delivered: a repeat of the same event (panel retry) is refused.
	added, err = db.QueuePut(QueueItem{Dest: "arc", ID: "e1", Group: "d1"})
	if err != nil || added[0] {
		t.Fatalf("put after delivery: added %v err %v, want refused", added, err)
	}
	if ok, _ := db.QueueDelivered("arc", "e1"); !ok {
		t.Error("QueueDelivered(e1) = false after ack")
	}
	c, _ := db.QueueCountsOf("arc")
	if c.Put != 1 || c.Delivered != 1 || c.Pending != 0 {
		t.Errorf("counts %+v", c)
	}
	if _, err := db.QueuePut(QueueItem{Dest: "arc", Group: "d1"}); err == nil || !strings.Contains(err.Error(), "id") {
		t.Errorf("empty id: err %v, want one naming the id", err)
	}
	if _, err := db.QueuePut(QueueItem{ID: "x"}); err == nil || !strings.Contains(err.Error(), "destination") {
		t.Errorf("empty destination: err %v, want one naming the destination", err)
	}
	dests, _ := db.QueueDests()
	if strings.Join(dests, ",") != "arc,cb" {
		t.Errorf("dests %v", dests)
	}
}

func TestQueueOrderPerGroupAndRetry(t *testing.T) {
	db := openQueueDB(t)
	now := time.Now()
	for _, id := range []string{"a1", "b1", "a2", "b2", "c1", "a3"} {
		if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: id, Group: id[:1]}); err != nil {
			t.Fatal(err)
		}
	}
	due, wake, _ := db.QueueDue("arc", now, 100)
	if got := ids(due); got != "a1,b1,a2,b2,c1,a3" || !wake.IsZero() {
		t.Fatalf("due %s wake %v", got, wake)
	}
	if due, _, _ := db.QueueDue("arc", now, 2); ids(due) != "a1,b1" {
		t.Fatalf("max 2: %s", ids(due))
	}
	// a1 failed: group a waits for its retry, b and c go on.
	next := now.Add(time.Minute)
	it, err := db.QueueRetry("arc", due[0].Seq, next, "connection refused")
	if err != nil || it.Attempts != 1 || it.LastError != "connection refused" {
		t.Fatalf("retry: %+v %v", it, err)
	}
	due, wake, _ = db.QueueDue("arc", now, 100)
	if got := ids(due); got != "b1,b2,c1" || !wake.Equal(next) {
		t.Fatalf("with a1 waiting: due %s wake %v, want b1,b2,c1 and %v", got, wake, next)
	}
	due, _, _ = db.QueueDue("arc", next, 100)
	if got := ids(due); got != "a1,b1,a2,b2,c1,a3" {
		t.Fatalf("after the retry time: %s", got)
	}
	// a1 is given up on: kept as a dead letter, a2 moves up.
	if err := db.QueueDeadLetter("arc", due[0].Seq, "DUH"); err != nil {
		t.Fatal(err)
	}
	due, _, _ = db.QueueDue("arc", next, 100)
	if got := ids(due); got != "b1,a2,b2,c1,a3" {
		t.Fatalf("after dead letter: %s", got)
	}
	dead, _ := db.QueueDeadItems("arc", 10)
	if len(dead) != 1 || dead[0].ID != "a1" || dead[0].DeadReason != "DUH" || dead[0].Attempts != 2 {
		t.Fatalf("dead %+v", dead)
	}
	if added, _ := db.QueuePut(QueueItem{Dest: "arc", ID: "a1", Group: "a"}); added[0] {
		t.Error("a dead letter's id was queued again as new")
	}
	c, _ := db.QueueCountsOf("arc")
	if c.Pending != 5 || c.Dead != 1 || c.DeadTotal != 1 || c.Retries != 1 {
		t.Errorf("counts %+v", c)
	}
	if n, err := db.QueueRequeueDead("arc"); n != 1 || err != nil {
		t.Fatalf("requeue: %d %v", n, err)
	}
	due, _, _ = db.QueueDue("arc", now, 100)
	if got := ids(due); got != "a1,b1,a2,b2,c1,a3" {
		t.Fatalf("after requeue: %s, want a1 back in its place", got)
	}
	c, _ = db.QueueCountsOf("arc")
	if c.Pending != 6 || c.Dead != 0 || c.DeadTotal != 1 {
		t.Errorf("counts after requeue %+v", c)
	}
}

func TestQueueDoneRecordIsBounded(t *testing.T) {
	db := openQueueDB(t)
	n := DoneKeep + 5
	items := make([]QueueItem, n)
	for i := range items {
		items[i] = QueueItem{Dest: "arc", ID: fmt.Sprintf("e%05d", i), Group: "g"}
	}
	if _, err := db.QueuePut(items...); err != nil {
		t.Fatal(err)
	}
	due, _, _ := db.QueueDue("arc", time.Now(), n)
	seqs := make([]uint64, len(due))
	for i, it := range due {
		seqs[i] = it.Seq
	}
	if err := db.QueueAck("arc", seqs...); err != nil {
		t.Fatal(err)
	}
	first, _ := db.QueueDelivered("arc", "e00000")
	fifth, _ := db.QueueDelivered("arc", "e00005")
	last, _ := db.QueueDelivered("arc", fmt.Sprintf("e%05d", n-1))
	if first || !fifth || !last {
		t.Errorf("done record: oldest %v (want forgotten), 6th %v, last %v (want kept)", first, fifth, last)
	}
}

func TestQueueConcurrentPutsShareCommits(t *testing.T) {
	db := openQueueDB(t)
	var wg sync.WaitGroup
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: fmt.Sprintf("w%d-%d", w, i), Group: fmt.Sprint(w)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	due, _, _ := db.QueueDue("arc", time.Now(), 1000)
	if len(due) != 500 {
		t.Fatalf("%d items, want 500", len(due))
	}
	// Within each writer (group) the order of its puts is kept.
	last := map[string]int{}
	for _, it := range due {
		var w, i int
		fmt.Sscanf(it.ID, "w%d-%d", &w, &i)
		if p, ok := last[it.Group]; ok && i != p+1 {
			t.Fatalf("group %s: %d after %d", it.Group, i, p)
		}
		last[it.Group] = i
	}
}

func TestQueuePutFailsWhenStoreIsGone(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: "e1"}); err == nil {
		t.Fatal("QueuePut on a closed store returned nil: a panel would get a kissoff for a lost event")
	}
}

// queueCrashChild puts events in a loop and prints each id only after
// QueuePut returned; TestQueueSurvivesKill kills it with SIGKILL mid-stream.
func queueCrashChild(path string) int {
	db, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := 0; g < 4; g++ { // several devices at once, as several calls would
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("d%d-%06d", g, i)
				if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: id, Group: fmt.Sprint("d", g), Payload: []byte(id)}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintln(w, id)
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

func TestQueueSurvivesKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[string]bool{}
	for round := 0; round < 3; round++ {
		child := testkit.StartChild(t, "queue", path)
		n := 0
		for child.Out.Scan() && n < 300+100*round {
			acked[child.Out.Text()] = true
			n++
		}
		for _, id := range child.Kill() { // lines already written before the kill
			acked[id] = true
		}
		if n < 300 {
			t.Fatalf("round %d: child printed only %d ids", round, n)
		}
		db, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		due, _, err := db.QueueDue("arc", time.Now(), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		last := map[string]string{}
		for _, it := range due {
			have[it.ID] = true
			if string(it.Payload) != it.ID {
				t.Fatalf("item %s payload %q", it.ID, it.Payload)
			}
			if p := last[it.Group]; p >= it.ID && p != "" {
				t.Fatalf("group %s out of order: %s after %s", it.Group, it.ID, p)
			}
			last[it.Group] = it.ID
		}
		for id := range acked {
			if !have[id] {
				t.Fatalf("round %d: %s was acknowledged to the caller but is not in the queue after SIGKILL", round, id)
			}
		}
		c, _ := db.QueueCountsOf("arc")
		if int(c.Pending) != len(due) {
			t.Errorf("round %d: pending counter %d, items %d", round, c.Pending, len(due))
		}
		db.Close()
		// The next round restarts the child, whose ids start again at 0:
		// those puts are duplicates and must not add items.
		t.Logf("round %d: %d acknowledged ids, %d queued", round, len(acked), len(due))
	}
}

// BenchmarkQueuePut is the durable put alone: one commit (fsync) per call
// when sequential, shared commits when parallel (group commit).
func BenchmarkQueuePut(b *testing.B) {
	for _, par := range []int{1, 8} {
		b.Run(fmt.Sprintf("callers=%d", par), func(b *testing.B) {
			db, err := Open(filepath.Join(b.TempDir(), "q.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			payload := make([]byte, 600) // about one queued event with its route
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for c := 0; c < par; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: fmt.Sprint(i), Group: fmt.Sprint(c), Payload: payload}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
		})
	}
}
