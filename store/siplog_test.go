package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func sipMsg(i int, t0 time.Time, callID string) SIPMessage {
	return SIPMessage{
		Time: t0.Add(time.Duration(i) * time.Second), Domain: "d", Direction: "in", Transport: "udp",
		Src: "127.0.0.1:5062", Dst: "127.0.0.1:5060", CallID: callID,
		Raw: fmt.Sprintf("INVITE sip:%d@d SIP/2.0\r\nCall-ID: %s\r\n\r\n", i, callID),
	}
}

func TestSIPLogQuery(t *testing.T) {
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 50; i++ {
		db.AppendSIP(sipMsg(i, t0, fmt.Sprintf("call-%d", i%5)))
	}
	db.AppendSIP(SIPMessage{Time: t0, Domain: "other", Raw: "OPTIONS sip:x SIP/2.0\r\n\r\n"})

	all, err := db.QuerySIP("d", SIPQuery{Limit: 1000})
	if err != nil || len(all) != 50 {
		t.Fatalf("%d messages, %v", len(all), err)
	}
	if !all[0].Time.Equal(t0) || !all[49].Time.Equal(t0.Add(49*time.Second)) {
		t.Fatalf("not oldest-first: %v .. %v", all[0].Time, all[49].Time)
	}
	last, _ := db.QuerySIP("d", SIPQuery{Limit: 3})
	if len(last) != 3 || !strings.HasPrefix(last[2].Raw, "INVITE sip:49@") {
		t.Fatalf("limit should keep the newest: %+v", last)
	}
	byCall, _ := db.QuerySIP("d", SIPQuery{CallID: "call-3", Limit: 100})
	if len(byCall) != 10 {
		t.Fatalf("call-3: %d", len(byCall))
	}
	pat, _ := db.QuerySIP("d", SIPQuery{Pattern: "sip:17@", Limit: 100})
	if len(pat) != 1 || pat[0].CallID != "call-2" {
		t.Fatalf("pattern: %+v", pat)
	}
	win, _ := db.QuerySIP("d", SIPQuery{From: t0.Add(10 * time.Second), To: t0.Add(19 * time.Second), Limit: 100})
	if len(win) != 10 || !win[0].Time.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("window: %d", len(win))
	}
	other, _ := db.QuerySIP("other", SIPQuery{})
	if len(other) != 1 {
		t.Fatalf("domains mixed: %d", len(other))
	}
}

// The log rotates oldest-first within its bound of segments, one domain's
// flood leaves another's log alone, and what is kept is the newest
// messages, in order, without a gap.
func TestSIPLogRotatesOldestFirst(t *testing.T) {
	oldN, oldB := sipLogSegments, sipLogSegmentBytes
	sipLogSegments, sipLogSegmentBytes = 3, 2048
	defer func() { sipLogSegments, sipLogSegmentBytes = oldN, oldB }()
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	db.AppendSIP(SIPMessage{Time: t0, Domain: "quiet", Raw: "OPTIONS sip:quiet SIP/2.0\r\n\r\n"})
	const n = 300
	for i := 0; i < n; i++ {
		db.AppendSIP(sipMsg(i, t0, "c"))
		if i%7 == 0 {
			if err := db.FlushSIP(); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := db.QuerySIP("d", SIPQuery{Limit: 1000})
	if err != nil || len(got) == 0 || len(got) >= n {
		t.Fatalf("kept %d of %d (%v): the log should have rotated", len(got), n, err)
	}
	for i, m := range got {
		want := fmt.Sprintf("INVITE sip:%d@", n-len(got)+i)
		if !strings.HasPrefix(m.Raw, want) {
			t.Fatalf("message %d of %d is %q, want %s...: not the newest in order", i, len(got), m.Raw, want)
		}
	}
	files, size := segmentsSize(t, filepath.Join(filepath.Dir(db.Path()), "siplog", "d"))
	if files > sipLogSegments || size > int64(sipLogSegments)*sipLogSegmentBytes {
		t.Fatalf("%d segments, %d bytes: over the bound of %d × %d", files, size, sipLogSegments, sipLogSegmentBytes)
	}
	// What is kept fills more than the bound less one segment.
	if size <= int64(sipLogSegments-1)*sipLogSegmentBytes-int64(len(got[0].Raw))-100 {
		t.Fatalf("only %d bytes kept of a bound of %d × %d", size, sipLogSegments, sipLogSegmentBytes)
	}
	if q, err := db.QuerySIP("quiet", SIPQuery{}); err != nil || len(q) != 1 {
		t.Fatalf("the quiet domain's log: %d messages, %v; another domain's flood evicted it", len(q), err)
	}
}

// A record torn by a kill -9 mid-write is skipped on read, and the next
// message logged after the restart follows the last whole record.
func TestSIPLogTornRecordSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	for i := 0; i < 5; i++ {
		db.AppendSIP(sipMsg(i, t0, "c"))
	}
	db.Close()
	seg := filepath.Join(filepath.Dir(path), "siplog", "d", segmentName(1))
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-5); err != nil { // the last record loses its tail
		t.Fatal(err)
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.QuerySIP("d", SIPQuery{})
	if err != nil || len(got) != 4 || !strings.HasPrefix(got[3].Raw, "INVITE sip:3@") {
		t.Fatalf("after a torn record: %d messages (%v), want the 4 whole ones", len(got), err)
	}
	db.AppendSIP(sipMsg(9, t0, "c"))
	got, err = db.QuerySIP("d", SIPQuery{})
	if err != nil || len(got) != 5 || !strings.HasPrefix(got[4].Raw, "INVITE sip:9@") {
		t.Fatalf("after appending past a torn record: %d messages (%v)", len(got), err)
	}
}

// Garbage where a segment should be is not read as messages, and logging
// goes on in a new segment.
func TestSIPLogForeignSegment(t *testing.T) {
	db := openTest(t)
	dir := filepath.Join(filepath.Dir(db.Path()), "siplog", "d")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(7)), []byte("not a segment at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	db.AppendSIP(sipMsg(1, time.Now(), "c1"))
	got, err := db.QuerySIP("d", SIPQuery{})
	if err != nil || len(got) != 1 || got[0].CallID != "c1" {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(8))); err != nil {
		t.Fatalf("the next segment was not started: %v", err)
	}
}

// A domain name cannot make the log write outside its folder.
func TestSIPLogDomainFolder(t *testing.T) {
	db := openTest(t)
	for _, d := range []string{"../escape", "..", ".", "a/b", "", "x\x00y"} {
		db.AppendSIP(SIPMessage{Time: time.Now(), Domain: d, Raw: "OPTIONS sip:" + d + " SIP/2.0\r\n\r\n"})
	}
	if err := db.FlushSIP(); err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(db.Path())
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if e.Name() != "siplog" && e.Name() != filepath.Base(db.Path()) {
			t.Fatalf("the SIP log wrote %s outside its folder", e.Name())
		}
	}
	for _, d := range []string{"../escape", "..", "a/b", "x\x00y"} {
		got, err := db.QuerySIP(d, SIPQuery{})
		if err != nil || len(got) != 1 || got[0].Domain != d {
			t.Fatalf("domain %q: %+v %v", d, got, err)
		}
	}
}

// Versions before the segment files kept the log in a bbolt bucket: Open
// deletes it and rewrites the file without its pages, keeping the rest.
func TestSIPLogOldBucketDropped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	dev := Coll{Domain: "local", Resource: "device"}
	if err := db.Put(dev, "1234", []byte(`{"deviceId":"1234"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: "e1", Group: "1234", Payload: []byte("alarm")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		d, err := createDomainBucket(tx, bucketSIPLog, "local")
		if err != nil {
			return err
		}
		v := []byte(`{"raw":"INVITE sip:old SIP/2.0` + strings.Repeat("x", 1000) + `"}`)
		for i := range 4000 {
			if err := d.Put(seqKey(uint64(i)), v); err != nil {
				return err
			}
		}
		return nil
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSIPLog) != nil {
			t.Fatal("the old SIP log bucket is still in the file")
		}
		return nil
	})
	after, _ := os.Stat(path)
	if after.Size() > before.Size()/4 {
		t.Fatalf("file %d bytes after dropping the old log, %d before: not compacted", after.Size(), before.Size())
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("compaction left its file behind: %v", err)
	}
	if got, err := db.Get(dev, "1234"); err != nil || string(got) != `{"deviceId":"1234"}` {
		t.Fatalf("device after compaction: %s %v", got, err)
	}
	if items, err := db.QueueItems("arc", 10); err != nil || len(items) != 1 || string(items[0].Payload) != "alarm" {
		t.Fatalf("queued alarm after compaction: %+v %v", items, err)
	}
	if v, err := db.Schema(); err != nil || v != SchemaVersion {
		t.Fatalf("schema %d %v", v, err)
	}
	if err := db.Put(dev, "5678", []byte(`{}`)); err != nil {
		t.Fatalf("store unusable after compaction: %v", err)
	}
}

func TestSIPLogSurvivesClose(t *testing.T) {
	path := t.TempDir() + "/s.db"
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.AppendSIP(sipMsg(1, time.Now(), "c1"))
	db.Close() // flushes the pending batch
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, _ := db.QuerySIP("d", SIPQuery{})
	if len(got) != 1 || got[0].CallID != "c1" {
		t.Fatalf("after reopen: %+v", got)
	}
}

func BenchmarkAppendSIP(b *testing.B) {
	db := openTest(b)
	m := sipMsg(1, time.Now(), "c")
	b.ReportAllocs()
	for b.Loop() {
		db.AppendSIP(m)
	}
}

// BenchmarkFlushSIP is the writer's cost per message: a batch of 512
// typical INVITEs appended and written (make bench measures the daemon).
func BenchmarkFlushSIP(b *testing.B) {
	db := openTest(b)
	raw := "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1-0\r\n" +
		"From: sipp <sip:sipp@127.0.0.1:5062>;tag=1\r\nTo: <sip:1000@127.0.0.1:5060>\r\nCall-ID: 1-1@127.0.0.1\r\n" +
		"CSeq: 1 INVITE\r\nContact: sip:sipp@127.0.0.1:5062\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n" +
		"Content-Length: 129\r\n\r\nv=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	m := SIPMessage{Time: time.Now(), Domain: "local", Direction: "in", Transport: "udp", Src: "127.0.0.1:5062", Dst: "127.0.0.1:5060", CallID: "1-1@127.0.0.1", Raw: raw}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		db.AppendSIP(m)
		if n++; n%512 == 0 {
			if err := db.FlushSIP(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// More domains in one batch than segment files are held open: closing
// them to open the next must not lose what the batch gathered for them.
func TestSIPLogManyDomainsOneBatch(t *testing.T) {
	db := openTest(t)
	t0 := time.Now()
	const domains = segOpenMax + 8
	for d := range domains {
		m := sipMsg(d, t0, "c")
		m.Domain = fmt.Sprintf("d%d.example", d)
		db.AppendSIP(m)
	}
	if err := db.FlushSIP(); err != nil {
		t.Fatal(err)
	}
	for d := range domains {
		got, err := db.QuerySIP(fmt.Sprintf("d%d.example", d), SIPQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("domain %d: %d messages logged, want 1", d, len(got))
		}
	}
	if n := db.SIPDropped(); n != 0 {
		t.Fatalf("SIPDropped = %d, want 0", n)
	}
}

// BenchmarkQuerySIP is a SIP log search over 20000 messages whose
// pattern few match: every record read, the newest 100 matches returned.
func BenchmarkQuerySIP(b *testing.B) {
	db := openTest(b)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 20000 {
		db.AppendSIP(sipMsg(i, t0, fmt.Sprintf("call-%d", i)))
		if i%500 == 499 {
			if err := db.FlushSIP(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.QuerySIP("d", SIPQuery{Pattern: "sip:1", Limit: 100})
		if err != nil || len(got) != 100 {
			b.Fatal(len(got), err)
		}
	}
}

// TestSIPLogBatchArraysKept: a flush with nothing to write keeps both
// batch arrays (losing one made the next batch grow a new array from
// nothing: about 0.8 KB a B2BUA call at 2000 calls a second), and
// sipQuietFlushes of them in a row let both go.
func TestSIPLogBatchArraysKept(t *testing.T) {
	db := openTest(t)
	l := &db.sip
	// The test flushes by itself: the flusher's ticks would interleave.
	l.once.Do(func() { close(l.stop); <-l.done })
	t.Cleanup(func() { l.wmu.Lock(); l.seg.closeAll(); l.wmu.Unlock() })
	t0 := time.Unix(1_700_000_000, 0)
	batch := func() {
		for i := range 300 {
			db.AppendSIP(sipMsg(i, t0, "c"))
		}
		if err := db.FlushSIP(); err != nil {
			t.Fatal(err)
		}
	}
	batch()
	batch()
	if err := db.FlushSIP(); err != nil { // nothing to write
		t.Fatal(err)
	}
	if cap(l.pending) < 300 || cap(l.spare) < 300 {
		t.Fatalf("after a flush with nothing to write: arrays of %d and %d messages, want both kept", cap(l.pending), cap(l.spare))
	}
	for range sipQuietFlushes - 1 {
		if err := db.FlushSIP(); err != nil {
			t.Fatal(err)
		}
	}
	if l.pending != nil || l.spare != nil {
		t.Fatalf("after %d quiet flushes: arrays of %d and %d messages kept", sipQuietFlushes, cap(l.pending), cap(l.spare))
	}
}
