//go:build linux

package store

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssFileKB is this process's file-backed resident memory.
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "RssFile:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// After a flood of call records the database's mapped pages count in RSS;
// ReleaseMapped takes them out, and every record still reads back.
func TestReleaseMapped(t *testing.T) {
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	for i := range 20 {
		batch := make([]CallRecord, 1000)
		for j := range batch {
			batch[j] = CallRecord{CallID: "call-" + strconv.Itoa(i*1000+j), Domain: "d", From: strings.Repeat("1", 200), Start: t0.Add(time.Duration(i*1000+j) * time.Second)}
		}
		if err := db.RecordCalls(batch); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		if err := db.Calls("d", time.Time{}, time.Time{}, func(CallRecord) bool { n++; return true }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 20000 { // every page of the records touched
		t.Fatalf("%d records", n)
	}
	before := rssFileKB(t)
	if err := db.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if before-after < 2048 {
		t.Errorf("RssFile %d kB before, %d kB after: want at least 2 MB of database pages released", before, after)
	}
	if n := count(); n != 20000 {
		t.Fatalf("%d records after the release, want 20000", n)
	}
}
