package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func callRecord(i int, t0 time.Time) CallRecord {
	start := t0.Add(time.Duration(i) * time.Second)
	return CallRecord{
		CallID: fmt.Sprintf("call-%d@192.0.2.10", i), Domain: "d", Kind: "trunk", From: "1001", To: "1000",
		Start: start, Answer: start.Add(time.Second), End: start.Add(3 * time.Second), Result: "200",
		Direction: "inbound", Local: "192.0.2.1:5060", Remote: "192.0.2.10:5062", Trunk: "bench", Cause: "normal",
	}
}

func callIDs(t *testing.T, db *DB, domain string) []string {
	t.Helper()
	var ids []string
	if err := db.Calls(domain, time.Time{}, time.Time{}, func(r CallRecord) bool { ids = append(ids, r.CallID); return true }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// segmentsSize is how many files a domain's segment folder holds and
// their bytes.
func segmentsSize(t *testing.T, dir string) (int, int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, e := range ents {
		fi, _ := e.Info()
		size += fi.Size()
	}
	return len(ents), size
}

// The history rotates oldest-first within its bound: what is kept is the
// newest calls, in start order, without a gap, and another domain's
// history is left alone.
func TestCallHistoryRotatesOldestFirst(t *testing.T) {
	oldN, oldB := callHistorySegments, callHistorySegmentBytes
	callHistorySegments, callHistorySegmentBytes = 3, 2048
	defer func() { callHistorySegments, callHistorySegmentBytes = oldN, oldB }()
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	if err := db.RecordCall(CallRecord{CallID: "q", Domain: "quiet", Start: t0}); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := 0; i < n; i += 5 {
		var batch []CallRecord
		for j := i; j < i+5; j++ {
			batch = append(batch, callRecord(j, t0))
		}
		if err := db.RecordCalls(batch); err != nil {
			t.Fatal(err)
		}
	}
	ids := callIDs(t, db, "d")
	if len(ids) == 0 || len(ids) >= n {
		t.Fatalf("kept %d of %d: the history should have rotated", len(ids), n)
	}
	for i, id := range ids {
		if want := callRecord(n-len(ids)+i, t0).CallID; id != want {
			t.Fatalf("call %d of %d is %s, want %s: not the newest in order", i, len(ids), id, want)
		}
	}
	files, size := segmentsSize(t, filepath.Join(filepath.Dir(db.Path()), "calls", "d"))
	if files > callHistorySegments || size > int64(callHistorySegments)*callHistorySegmentBytes {
		t.Fatalf("%d segments, %d bytes: over the bound of %d × %d", files, size, callHistorySegments, callHistorySegmentBytes)
	}
	if size <= int64(callHistorySegments-1)*callHistorySegmentBytes-200 {
		t.Fatalf("only %d bytes kept of a bound of %d × %d", size, callHistorySegments, callHistorySegmentBytes)
	}
	if q := callIDs(t, db, "quiet"); len(q) != 1 {
		t.Fatalf("the quiet domain's history: %v; another domain's calls evicted it", q)
	}
}

// A call's versions (start, answer, end), written in separate batches
// with other calls between them, read as one record: the latest, with the
// first version's start when a later one leaves it zero, in start order
// among the others. After a restart (nothing open in memory) an update
// still replaces the call's record rather than adding a second one.
func TestCallHistoryLatestVersionWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	long := CallRecord{CallID: "long", Domain: "d", From: "1001", To: "112", Start: t0}
	steps := []CallRecord{
		long,
		callRecord(1, t0),
		{CallID: "long", Domain: "d", From: "1001", To: "112", Answer: t0.Add(2 * time.Second)},
		callRecord(2, t0),
		{CallID: "long", Domain: "d", From: "1001", To: "112", Start: t0, Answer: t0.Add(2 * time.Second), End: t0.Add(time.Hour), Result: "answered", RTPLost: 7},
		callRecord(3, t0),
	}
	for _, r := range steps {
		if err := db.RecordCall(r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"long", callRecord(1, t0).CallID, callRecord(2, t0).CallID, callRecord(3, t0).CallID}
	if got := callIDs(t, db, "d"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	r, err := db.Call("d", "long")
	if err != nil || !r.Start.Equal(t0) || r.Duration() != time.Hour-2*time.Second || r.RTPLost != 7 || r.Result != "answered" {
		t.Fatalf("latest version of long: %+v %v", r, err)
	}
	// Up when the daemon stops; its end written after the restart.
	if err := db.RecordCall(CallRecord{CallID: "up", Domain: "d", Start: t0.Add(90 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.RecordCall(CallRecord{CallID: "up", Domain: "d", End: t0.Add(100 * time.Second), Result: "486"}); err != nil {
		t.Fatal(err)
	}
	want = append(want, "up")
	if got := callIDs(t, db, "d"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the restart: calls %v, want %v", got, want)
	}
	if r, err := db.Call("d", "up"); err != nil || !r.Start.Equal(t0.Add(90*time.Second)) || r.Result != "486" {
		t.Fatalf("up after its update: %+v %v", r, err)
	}
	var window []string
	_ = db.Calls("d", t0.Add(time.Second), t0.Add(3*time.Second), func(r CallRecord) bool { window = append(window, r.CallID); return true })
	if fmt.Sprint(window) != fmt.Sprint(want[1:3]) {
		t.Fatalf("calls started in [t0+1s, t0+3s): %v, want %v", window, want[1:3])
	}
}

// A record torn by a kill -9 or a power cut mid-append is skipped on
// read, and the next record written after the restart follows the last
// whole one.
func TestCallHistoryTornRecordSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		if err := db.RecordCall(callRecord(i, t0)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	seg := filepath.Join(filepath.Dir(path), "calls", "d", segmentName(1))
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-5); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ids := callIDs(t, db, "d"); len(ids) != 4 || ids[3] != callRecord(3, t0).CallID {
		t.Fatalf("after a torn record: %v, want the 4 whole ones", ids)
	}
	if err := db.RecordCall(callRecord(9, t0)); err != nil {
		t.Fatal(err)
	}
	if ids := callIDs(t, db, "d"); len(ids) != 5 || ids[4] != callRecord(9, t0).CallID {
		t.Fatalf("after appending past a torn record: %v", ids)
	}
}

// writeOldCalls writes call records into a bbolt file as versions before
// the segment files did: calls/DOMAIN/(start, Call-ID) -> JSON and
// callidx/DOMAIN/Call-ID -> key, with the count.
func writeOldCalls(t *testing.T, path string, rs []CallRecord) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bolt.Tx) error {
		for _, r := range rs {
			cb, err := createDomainBucket(tx, bucketCalls, r.Domain)
			if err != nil {
				return err
			}
			ib, err := createDomainBucket(tx, bucketCallIndex, r.Domain)
			if err != nil {
				return err
			}
			k := append(seqKey(uint64(r.Start.UnixNano())), r.CallID...)
			v, _ := json.Marshal(r)
			if err := cb.Put(k, v); err != nil {
				return err
			}
			if err := ib.Put([]byte(r.CallID), k); err != nil {
				return err
			}
			if err := ib.Put([]byte("\x00count"), seqKey(uint64(cb.Stats().KeyN+1))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func oldBucketsGone(t *testing.T, db *DB) {
	t.Helper()
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketCalls) != nil || tx.Bucket(bucketCallIndex) != nil {
			t.Fatal("the old call record buckets are still in the file")
		}
		return nil
	})
}

// Call records of a version that kept them in bbolt move into the segments
// on Open, newest kept when they are more than the bound holds, oldest
// first; the buckets are deleted and the file shrinks; a crash after the
// move and before the deletion does not move them twice.
func TestCallHistoryMovedFromOldBuckets(t *testing.T) {
	oldN, oldB := callHistorySegments, callHistorySegmentBytes
	callHistorySegments, callHistorySegmentBytes = 4, 16<<10
	defer func() { callHistorySegments, callHistorySegmentBytes = oldN, oldB }()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	dev := Coll{Domain: "local", Resource: "device"}
	if err := db.Put(dev, "1234", []byte(`{"deviceId":"1234"}`)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t0 := time.Unix(1_700_000_000, 0).UTC()
	const n = 2000 // far more than 3 × 16 KiB of records hold
	var old []CallRecord
	for i := range n {
		old = append(old, callRecord(i, t0))
	}
	up := CallRecord{CallID: "up", Domain: "other", Start: t0.Add(time.Minute), Answer: t0.Add(61 * time.Second)}
	old = append(old, up)
	writeOldCalls(t, path, old)
	before, _ := os.Stat(path)

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	oldBucketsGone(t, db)
	after, _ := os.Stat(path)
	if after.Size() >= before.Size()/2 {
		t.Fatalf("file %d bytes after moving the call records, %d before: not compacted", after.Size(), before.Size())
	}
	ids := callIDs(t, db, "d")
	if len(ids) < 200 || len(ids) >= n {
		t.Fatalf("moved %d of %d records: want the newest that fit in %d × %d", len(ids), n, callHistorySegments-1, callHistorySegmentBytes)
	}
	for i, id := range ids {
		if want := old[n-len(ids)+i].CallID; id != want {
			t.Fatalf("moved call %d is %s, want %s: not the newest in order", i, id, want)
		}
	}
	if r, err := db.Call("d", old[n-1].CallID); err != nil || !r.Start.Equal(old[n-1].Start) || !r.End.Equal(old[n-1].End) || r.Remote != old[n-1].Remote || r.Trunk != "bench" {
		t.Fatalf("newest moved record: %+v %v", r, err)
	}
	if r, err := db.Call("other", "up"); err != nil || !r.Answer.Equal(up.Answer) || !r.End.IsZero() {
		t.Fatalf("moved record of a call up at the upgrade: %+v %v", r, err)
	}
	files, size := segmentsSize(t, filepath.Join(filepath.Dir(path), "calls", "d"))
	if files > callHistorySegments || size > int64(callHistorySegments)*callHistorySegmentBytes {
		t.Fatalf("%d files, %d bytes moved: over the bound", files, size)
	}
	if got, err := db.Get(dev, "1234"); err != nil || string(got) != `{"deviceId":"1234"}` {
		t.Fatalf("device after the move: %s %v", got, err)
	}
	db.Close()

	// As if killed after moving the records and before deleting the
	// buckets: the buckets are back, the markers say done.
	writeOldCalls(t, path, old)
	for _, d := range []string{"d", "other"} {
		if err := os.WriteFile(filepath.Join(filepath.Dir(path), "calls", d, callsMoveMarker), []byte("done"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	oldBucketsGone(t, db)
	if again := callIDs(t, db, "d"); fmt.Sprint(again) != fmt.Sprint(ids) {
		t.Fatalf("%d calls after the interrupted move, %d before: moved twice", len(again), len(ids))
	}
	if again := callIDs(t, db, "other"); len(again) != 1 {
		t.Fatalf("other after the interrupted move: %v", again)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "calls", "d", callsMoveMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the marker stayed: %v", err)
	}
	db.Close()

	// As if killed mid-move in a new store: some records appended, the
	// last torn; the move is done again from where the history ended.
	path2 := filepath.Join(t.TempDir(), "old.db")
	writeOldCalls(t, path2, old)
	dir := filepath.Join(filepath.Dir(path2), "calls", "d")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	part := []byte(callSegKind.magic)
	for _, r := range old[n-len(ids) : n-len(ids)+30] {
		part = callSegKind.appendRecord(part, func(b []byte) []byte { return appendCallBody(b, &r, 0) })
	}
	if err := os.WriteFile(filepath.Join(dir, segmentName(1)), part[:len(part)-3], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, callsMoveMarker), []byte("1 8"), 0o600); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path2)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	oldBucketsGone(t, db2)
	if again := callIDs(t, db2, "d"); fmt.Sprint(again) != fmt.Sprint(ids) {
		t.Fatalf("after a move interrupted midway: %d calls (first %s), want the %d of an uninterrupted one", len(again), again[0], len(ids))
	}
}

// FuzzCallHistorySegment reads arbitrary bytes as a call history segment
// (a torn tail, a corrupted disk, a file that is not ours): it never
// panics, what it accepts ends within the input, every record it accepts
// encodes back to exactly the bytes it was read from, and the scan ends at
// the first record that does not decode.
func FuzzCallHistorySegment(f *testing.F) {
	t0 := time.Unix(1_700_000_000, 123)
	seg := []byte(callSegKind.magic)
	for i, r := range []CallRecord{
		callRecord(1, t0),
		{CallID: "a@b", Start: t0, Answer: t0.Add(-time.Second), RTPLost: -3, RTPJitter: 2.5},
		{CallID: "x", Start: time.Unix(0, -1), End: time.Unix(0, 1<<62)},
		{},
	} {
		seg = callSegKind.appendRecord(seg, func(b []byte) []byte { return appendCallBody(b, &r, makeSegPos(uint64(i+1), 8)) })
		f.Add(append([]byte(nil), seg...))
		f.Add(append([]byte(nil), seg[:len(seg)-i-1]...)) // torn
	}
	f.Add([]byte(callSegKind.magic + "\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("EBCALLS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var last int64 = -1
		refused := int64(-1)
		end, err := scanSegment(bytes.NewReader(data), &callSegKind, func(off int64, body []byte) bool {
			if off <= last || off < segHeaderLen || refused >= 0 {
				t.Fatalf("record at %d after %d (one refused at %d)", off, last, refused)
			}
			var c callRec
			if !c.decode(body) {
				refused = off
				return false
			}
			last = off
			r := c.record("d")
			again := callSegKind.appendRecord(nil, func(b []byte) []byte { return appendCallBody(b, &r, c.prev) })
			if off+int64(len(again)) > int64(len(data)) || !bytes.Equal(again, data[off:off+int64(len(again))]) {
				t.Fatalf("record at %d does not encode back to its bytes", off)
			}
			return true
		})
		if err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		if end > int64(len(data)) || (end != 0 && end < segHeaderLen) || end <= last || (refused >= 0 && end != refused) {
			t.Fatalf("end %d of %d bytes (last record at %d)", end, len(data), last)
		}
	})
}

// BenchmarkRecordCalls is the history's cost per call: batches of 50
// ended calls (the engine's 100 ms at 500 calls/s), appended and written.
func BenchmarkRecordCalls(b *testing.B) {
	db := openTest(b)
	t0 := time.Now()
	batch := make([]CallRecord, 50)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for j := range batch {
			batch[j] = callRecord(i, t0)
			i++
		}
		if err := db.RecordCalls(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryCalls is a call history query over 20000 calls (the
// recent calls page, a statistics export): every record read, the
// latest version of each call returned.
func BenchmarkQueryCalls(b *testing.B) {
	db := openTest(b)
	t0 := time.Unix(1_700_000_000, 0)
	batch := make([]CallRecord, 0, 500)
	for i := range 20000 {
		batch = append(batch, callRecord(i, t0))
		if len(batch) == cap(batch) {
			if err := db.RecordCalls(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := db.Calls("d", time.Time{}, time.Time{}, func(CallRecord) bool { n++; return true }); err != nil || n != 20000 {
			b.Fatal(n, err)
		}
	}
}

// Queries while calls are written (and segments rotate) see each call
// once, in start order, whatever version they catch.
func TestCallHistoryQueryWhileWriting(t *testing.T) {
	oldN, oldB := callHistorySegments, callHistorySegmentBytes
	callHistorySegments, callHistorySegmentBytes = 3, 4096
	defer func() { callHistorySegments, callHistorySegmentBytes = oldN, oldB }()
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	done := make(chan error)
	go func() {
		for i := range 400 {
			r := callRecord(i, t0)
			up := r
			up.Answer, up.End = time.Time{}, time.Time{}
			if err := db.RecordCalls([]CallRecord{up}); err != nil {
				done <- err
				return
			}
			if err := db.RecordCalls([]CallRecord{r}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for queries := 0; ; queries++ {
		seen := map[string]bool{}
		var last time.Time
		err := db.Calls("d", time.Time{}, time.Time{}, func(r CallRecord) bool {
			if seen[r.CallID] || r.Start.Before(last) {
				t.Fatalf("query %d: %s twice or out of start order", queries, r.CallID)
			}
			seen[r.CallID], last = true, r.Start
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if queries == 0 {
				t.Fatal("no query ran while writing")
			}
			return
		default:
		}
	}
}

// TestQueriesDecodeEachRecordOnce: the call history's and the SIP log's
// queries decode a record where they read it, for their own use, and do
// not decode it a second time only to check it (the kind's valid is for
// reopening a segment to append).
func TestQueriesDecodeEachRecordOnce(t *testing.T) {
	db := openTest(t)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 20 {
		if err := db.RecordCall(callRecord(i, t0)); err != nil {
			t.Fatal(err)
		}
		db.AppendSIP(sipMsg(i, t0, fmt.Sprintf("call-%d", i)))
	}
	if err := db.FlushSIP(); err != nil {
		t.Fatal(err)
	}
	checks := 0
	for _, k := range []*segKind{&callSegKind, &sipSegKind} {
		valid := k.valid
		k.valid = func(body []byte) bool { checks++; return valid(body) }
		t.Cleanup(func() { k.valid = valid })
	}
	n := 0
	if err := db.Calls("d", time.Time{}, time.Time{}, func(CallRecord) bool { n++; return true }); err != nil || n != 20 {
		t.Fatalf("calls: %d, %v", n, err)
	}
	if _, err := db.Call("d", callRecord(7, t0).CallID); err != nil {
		t.Fatal(err)
	}
	if got, err := db.QuerySIP("d", SIPQuery{Limit: 5}); err != nil || len(got) != 5 {
		t.Fatalf("SIP log: %d messages, %v", len(got), err)
	}
	if checks != 0 {
		t.Fatalf("queries decoded records %d times more only to check them", checks)
	}
}
