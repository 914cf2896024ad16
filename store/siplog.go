package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The SIP log lives beside the bbolt file, not in it: DATA/siplog/DOMAIN/
// holds up to sipLogSegments segment files of about sipLogSegmentBytes
// each (segments.go; siplogseg.go has the record's body). New messages are
// appended to the newest segment with write(); once it is full a new one is
// started and the oldest is deleted. In bbolt every
// message cost a JSON encoding, a B-tree insert and a delete, and the
// file's pages the log touched stayed mapped into the daemon after a
// flood; segment files are only page cache, and the kernel decides.
//
// The per-domain bound is bytes on disk, not messages: at most
// SIPLogSegments × SIPLogSegmentBytes (16 MiB) per domain, of which the
// newest three quarters or more are always readable (about 15000 typical
// messages of 800 bytes). One domain's flood never evicts another's log.
const (
	SIPLogSegments     = 4
	SIPLogSegmentBytes = 4 << 20
)

// Variables so that tests can exercise rotation with small segments.
var (
	sipLogSegments     = SIPLogSegments
	sipLogSegmentBytes = int64(SIPLogSegmentBytes)
)

// bucketSIPLog is where versions before the segment files kept the log;
// Open deletes it (dropOldSIPLog).
var bucketSIPLog = []byte("siplog")

// SIP log writes are batched: the SIP stack must never wait for the disk.
const (
	sipFlushEvery = 200 * time.Millisecond
	sipFlushBatch = 512
	sipQueueMax   = 8192 // beyond this AppendSIP drops (and counts) messages
	// sipQuietFlushes flushes in a row with nothing to write (a second of
	// ticks) let the batch arrays go.
	sipQuietFlushes = 5
)

// SIPMessage is one SIP message as it crossed the gateway's socket.
type SIPMessage struct {
	Time      time.Time `json:"time"`
	Domain    string    `json:"domain"`
	Direction string    `json:"direction"` // "in" or "out"
	Transport string    `json:"transport"` // "udp", "tcp", "tls", "ws"
	Src       string    `json:"src"`       // "ip:port"
	Dst       string    `json:"dst"`       // "ip:port"
	CallID    string    `json:"callId"`
	Raw       string    `json:"raw"` // the whole message, start line to body
}

// SIPQuery selects messages of one domain. Zero fields do not filter.
type SIPQuery struct {
	Pattern string    // substring of the raw message (case-sensitive)
	CallID  string    // exact Call-ID
	From    time.Time // inclusive
	To      time.Time // inclusive
	Limit   int       // newest Limit messages; 0 means 100
}

type sipLog struct {
	mu      sync.Mutex
	pending []SIPMessage
	spare   []SIPMessage // the last batch's array, for the next queue (wmu)
	quiet   int          // flushes in a row that had nothing to write (wmu)
	dropped uint64
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	// wmu serialises writing (FlushSIP) against closing and reset.
	wmu sync.Mutex
	seg segLog // DATA/siplog
}

func (db *DB) startSIPLog() {
	db.sip.seg = newSegLog(&sipSegKind, filepath.Join(filepath.Dir(db.path), "siplog"), sipLogSegments, sipLogSegmentBytes)
	db.sip.kick = make(chan struct{}, 1)
	db.sip.stop = make(chan struct{})
	db.sip.done = make(chan struct{})
	go db.sipFlusher()
}

// stopSIPLog stops the flusher, writes what is pending and closes the
// segment files.
func (db *DB) stopSIPLog() {
	db.sip.once.Do(func() {
		close(db.sip.stop)
		<-db.sip.done
		db.sip.wmu.Lock()
		db.sip.seg.closeAll()
		db.sip.wmu.Unlock()
	})
}

func (db *DB) sipFlusher() {
	defer close(db.sip.done)
	t := time.NewTicker(sipFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-db.sip.stop:
			_ = db.FlushSIP()
			return
		case <-t.C:
		case <-db.sip.kick:
		}
		_ = db.FlushSIP()
	}
}

// dropOldSIPLog deletes the bbolt bucket earlier versions kept the SIP log
// in (a one-time migration), then rewrites the file without the pages it
// held: bbolt never shrinks its file, and the store-nearly-full alert reads
// its size. A firmware rolled back to such a version starts a new bucket,
// which the next upgrade deletes again, so no schema version is spent on it.
func (db *DB) dropOldSIPLog() error {
	found := false
	_ = db.bolt.View(func(tx *bolt.Tx) error { found = tx.Bucket(bucketSIPLog) != nil; return nil })
	if !found {
		return nil
	}
	err := db.update(reachAll, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketSIPLog); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return db.compact()
}

// compact rewrites the store file with bbolt.Compact into a new file and
// renames it over the old one. Until the rename nothing is lost by a
// failure (a disk without room for the copy keeps the old file, still
// correct, only larger); only failing to reopen afterwards is an error.
func (db *DB) compact() error {
	tmp := db.path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil
	}
	err = bolt.Compact(dst, db.bolt, 4<<20)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return nil
	}
	if err := db.bolt.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: compact: %w", err)
	}
	if err := os.Rename(tmp, db.path); err != nil {
		_ = os.Remove(tmp)
	} else if d, err := os.Open(filepath.Dir(db.path)); err == nil {
		_ = d.Sync() // the rename itself survives a power cut
		d.Close()
	}
	b, err := bolt.Open(db.path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("store: reopen %s after compacting: %w", db.path, err)
	}
	db.bolt = b
	return nil
}

// AppendSIP records one SIP message in its domain's log. It never blocks
// on the disk: messages are written in batches within sipFlushEvery; if the
// disk falls far behind, messages are dropped and counted (SIPDropped)
// rather than slowing down call handling. Safe for concurrent use.
func (db *DB) AppendSIP(m SIPMessage) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	if m.Domain == "" {
		m.Domain = "local"
	}
	db.sip.mu.Lock()
	if len(db.sip.pending) >= sipQueueMax {
		db.sip.dropped++
		db.sip.mu.Unlock()
		return
	}
	db.sip.pending = append(db.sip.pending, m)
	n := len(db.sip.pending)
	db.sip.mu.Unlock()
	if n >= sipFlushBatch {
		select {
		case db.sip.kick <- struct{}{}:
		default:
		}
	}
}

// SIPDropped is how many messages were not logged: AppendSIP dropped them
// because the writer was too far behind, or the disk refused them.
func (db *DB) SIPDropped() uint64 {
	db.sip.mu.Lock()
	defer db.sip.mu.Unlock()
	return db.sip.dropped
}

// FlushSIP writes pending SIP messages now. Queries flush first, so a reader
// always sees every message appended before its query. The messages go to
// the page cache (write(), no fsync): a crash of the daemon loses none of
// them, a power cut those the kernel had not yet written back.
func (db *DB) FlushSIP() error {
	l := &db.sip
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	batch := l.pending
	if len(batch) == 0 {
		// Nothing came since the last flush: both arrays stay for the
		// next messages (swapping them here lost one, and the batch after
		// grew a new one from nothing), until the log has been quiet for
		// sipQuietFlushes flushes in a row: then memory returns.
		if l.quiet++; l.quiet >= sipQuietFlushes {
			l.pending, l.spare = nil, nil
		}
		l.mu.Unlock()
		return nil
	}
	l.quiet = 0
	// The queue takes the array of the batch before: one growing from
	// nothing for each batch was as much as the messages themselves.
	l.pending, l.spare = l.spare, nil
	l.mu.Unlock()
	var errs []error
	lost := 0
	for i := range batch {
		m := &batch[i]
		_, n, err := l.seg.add(m.Domain, func(b []byte) []byte { return appendSIPBody(b, m) })
		if err != nil {
			errs = append(errs, err)
		}
		lost += n
	}
	if cap(batch) <= 2*sipFlushBatch { // not a flood's backlog: memory returns after it
		clear(batch)
		l.spare = batch[:0]
	}
	n, err := l.seg.flush()
	errs = append(errs, err)
	lost += n
	if lost > 0 {
		l.mu.Lock()
		l.dropped += uint64(lost)
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// resetSIPLog deletes every domain's SIP log and what is waiting to be
// written (factory reset).
func (db *DB) resetSIPLog() error {
	l := &db.sip
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	l.pending = nil
	l.mu.Unlock()
	return l.seg.reset()
}

// QuerySIP returns the newest messages of a domain that match q, oldest
// first. It reads the segments newest first, one record at a time, and
// keeps only the positions of the newest Limit matches, so a query holds
// its answer and a read buffer, not the log.
func (db *DB) QuerySIP(domain string, q SIPQuery) ([]SIPMessage, error) {
	if err := db.FlushSIP(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	files, err := db.sip.seg.openSegmentFiles(domain)
	if err != nil {
		return nil, err
	}
	defer closeSegFiles(files)
	var parts [][]SIPMessage // newest segment first
	n := 0
	for i := len(files) - 1; i >= 0 && n < limit; i-- {
		got, first, err := querySIPSegment(files[i].f, domain, q, limit-n)
		if err != nil {
			return nil, err
		}
		parts = append(parts, got)
		n += len(got)
		if !q.From.IsZero() && !first.IsZero() && first.Before(q.From) {
			break // segments are in time order: nothing older can match
		}
	}
	out := make([]SIPMessage, 0, n)
	for i := len(parts) - 1; i >= 0; i-- {
		out = append(out, parts[i]...)
	}
	return out, nil
}

// querySIPSegment returns the newest max messages of one segment that match
// q, oldest first, and the time of the segment's first record.
func querySIPSegment(f *os.File, domain string, q SIPQuery, max int) ([]SIPMessage, time.Time, error) {
	var first time.Time
	var pat []byte
	if q.Pattern != "" {
		pat = []byte(q.Pattern)
	}
	var from, to int64
	if !q.From.IsZero() {
		from = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		to = q.To.UnixNano()
	}
	// Positions of the newest max matches, a ring once it is full.
	var ring []int64
	next := 0
	var r sipRecord
	_, err := scanSegment(f, &sipSegKind, func(off int64, body []byte) bool {
		if !r.decode(body) {
			return false
		}
		if first.IsZero() {
			first = time.Unix(0, r.time)
		}
		if !r.matches(domain, q, pat, from, to) {
			return true
		}
		if len(ring) < max {
			ring = append(ring, off)
			return true
		}
		ring[next] = off
		next = (next + 1) % max
		return true
	})
	if err != nil {
		return nil, first, err
	}
	out := make([]SIPMessage, 0, len(ring))
	rd := segReader{kind: &sipSegKind, f: f}
	for i := range ring {
		if err := rd.at(ring[(next+i)%len(ring)], r.decode); err != nil {
			return nil, first, err
		}
		out = append(out, r.message())
	}
	return out, first, nil
}

func (r *sipRecord) matches(domain string, q SIPQuery, pat []byte, from, to int64) bool {
	if string(r.domain) != domain {
		return false
	}
	if (from != 0 && r.time < from) || (to != 0 && r.time > to) {
		return false
	}
	if q.CallID != "" && string(r.callID) != q.CallID {
		return false
	}
	if pat != nil && !bytes.Contains(r.raw, pat) && !bytes.Contains(r.src, pat) && !bytes.Contains(r.dst, pat) {
		return false
	}
	return true
}
