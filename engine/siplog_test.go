package engine

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// After a flood the ring's messages are copied together (compact): a
// reader sees the same messages, in the same order, as before.
func TestSIPLogCompactKeepsMessages(t *testing.T) {
	e := &Engine{cfg: Config{Domain: "gw.test"}}
	tr := newTracer(e)
	e.trace = tr
	for i := range ringSize + 300 { // wraps the ring
		msg := fmt.Sprintf("OPTIONS sip:gw SIP/2.0\r\nCall-ID: c%d\r\nCSeq: %d OPTIONS\r\n\r\n", i%7, i)
		tr.add(i%2 == 0, "UDP", "127.0.0.1:5060", fmt.Sprintf("127.0.0.1:%d", 6000+i%3), []byte(msg))
		if i%100 == 0 {
			tr.flush()
		}
	}
	before := e.Messages("")
	if len(before) != ringSize {
		t.Fatalf("%d messages in the ring, want %d", len(before), ringSize)
	}
	tr.compact()
	after := e.Messages("")
	if !reflect.DeepEqual(before, after) {
		t.Fatal("the ring changed when compacted")
	}
	want := 0
	for _, m := range before {
		if m.CallID == "c3" {
			want++
		}
	}
	if got := e.Messages("c3"); len(got) != want || want == 0 {
		t.Fatalf("one call's messages after compaction: %d, want %d", len(got), want)
	}
	// It keeps working after: new messages go on from where the ring was.
	tr.add(false, "UDP", "127.0.0.1:5060", "127.0.0.1:7000", []byte("OPTIONS sip:gw SIP/2.0\r\nCall-ID: new\r\n\r\n"))
	if got := e.Messages("new"); len(got) != 1 || got[0].Remote != "127.0.0.1:7000" {
		t.Fatalf("a message after compaction: %+v", got)
	}
}

// The ring is kept (compacted after compactAfter) until dropRingAfter
// quiet ticks, then it goes; the next message starts it again.
func TestSIPRingDroppedWhenQuiet(t *testing.T) {
	e := &Engine{cfg: Config{Domain: "gw.test"}}
	tr := newTracer(e)
	e.trace = tr
	for i := range ringSize + 10 {
		tr.add(false, "UDP", "127.0.0.1:5060", "127.0.0.1:6000", fmt.Appendf(nil, "OPTIONS sip:gw SIP/2.0\r\nCall-ID: c%d\r\n\r\n", i))
	}
	if got := len(e.Messages("")); got != ringSize {
		t.Fatalf("%d messages in the ring, want %d", got, ringSize)
	}
	for n := 1; n < dropRingAfter; n++ {
		tr.quietFor(n)
	}
	if got := len(e.Messages("")); got != ringSize {
		t.Fatalf("%d messages in the ring after %d quiet ticks, want %d", got, dropRingAfter-1, ringSize)
	}
	tr.quietFor(dropRingAfter)
	if tr.ring != nil || len(e.Messages("")) != 0 {
		t.Fatalf("the ring kept %d messages once dropped", len(tr.ring))
	}
	tr.add(false, "UDP", "127.0.0.1:5060", "127.0.0.1:7000", []byte("OPTIONS sip:gw SIP/2.0\r\nCall-ID: new\r\n\r\n"))
	tr.add(false, "UDP", "127.0.0.1:5060", "127.0.0.1:7000", []byte("OPTIONS sip:gw SIP/2.0\r\nCall-ID: new2\r\n\r\n"))
	if got := e.Messages(""); len(got) != 2 || got[0].CallID != "new" || got[1].CallID != "new2" {
		t.Fatalf("after the drop the ring holds %+v, want the two new messages in order", got)
	}
}

// Writers racing while the queue grows from nothing lose no message and
// keep each writer's order; past traceQueue messages are counted dropped.
func TestTraceQueueGrowsUnderConcurrentWriters(t *testing.T) {
	e := &Engine{cfg: Config{Domain: "gw.test"}}
	tr := newTracer(e)
	const writers, each = 8, traceQueue / 8
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				tr.add(true, "UDP", "127.0.0.1:5060", fmt.Sprintf("127.0.0.1:%d", 6000+w), fmt.Appendf(nil, "OPTIONS sip:gw SIP/2.0\r\nCall-ID: w%d-%d\r\n\r\n", w, i))
			}
		})
	}
	wg.Wait()
	tr.add(true, "UDP", "127.0.0.1:5060", "127.0.0.1:7000", []byte("OPTIONS sip:gw SIP/2.0\r\nCall-ID: over\r\n\r\n"))
	if len(tr.q) != writers*each || tr.dropped.Load() != 1 {
		t.Fatalf("queued %d (dropped %d), want %d and the one past traceQueue dropped", len(tr.q), tr.dropped.Load(), writers*each)
	}
	next := make([]int, writers)
	for _, m := range tr.q {
		var w, i int
		if _, err := fmt.Sscanf(headerValue(m.Data, "Call-ID", "i"), "w%d-%d", &w, &i); err != nil || i != next[w] {
			t.Fatalf("message %q out of its writer's order (want w%d-%d)", m.Data, w, next[w])
		}
		next[w]++
	}
}
