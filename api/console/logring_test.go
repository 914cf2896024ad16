package console

import (
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"unsafe"
)

// Compact copies the lines' texts into one block: the ring shows the same
// lines, in the same order, and goes on wrapping after it.
func TestLogRingCompactKeepsLines(t *testing.T) {
	ring := NewLogRing(50, nil)
	log := slog.New(ring)
	for i := range 80 { // wraps the ring
		log.Info("call refused", "status", 404+i%3, "called", fmt.Sprint(9000+i))
	}
	before := ring.Tail(slog.LevelDebug, 100)
	ring.Compact()
	after := ring.Tail(slog.LevelDebug, 100)
	if len(after) != 50 || !reflect.DeepEqual(before, after) {
		t.Fatalf("compacted ring: %d lines, same as before %v", len(after), reflect.DeepEqual(before, after))
	}
	// One block: each text starts where the one before it in the ring's
	// array ends.
	c := ring.core
	for i := 1; i < len(c.buf); i++ {
		prev, cur := c.buf[i-1].Text, c.buf[i].Text
		if unsafe.StringData(cur) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(prev)), len(prev))) {
			t.Fatalf("line %d's text not right after line %d's", i, i-1)
		}
	}
	log.Info("after", "n", 1)
	if got := ring.Tail(slog.LevelDebug, 1); len(got) != 1 || got[0].Text != "after n=1" {
		t.Fatalf("a line after compaction: %+v", got)
	}
	if got := ring.Tail(slog.LevelDebug, 100); len(got) != 50 || got[0] != before[1] {
		t.Fatalf("the ring after compaction and one line: %d lines, oldest %q, want 50 from %q", len(got), got[0].Text, before[1].Text)
	}
}
