package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The SIP log lives beside the bbolt file, not in it: DATA/siplog/DOMAIN/
// holds up to sipLogSegments segment files of about sipLogSegmentBytes
// each, named by a sequence number (siplogseg.go has the record format).
// New messages are appended to the newest segment with write(); once it is
// full a new one is started and the oldest is deleted. In bbolt every
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
	// sipOpenMax bounds the segment files held open for appending; past
	// it they are closed and reopened on their domain's next message.
	sipOpenMax = 64
	// sipWriteChunk is how much of a batch is gathered per write(): a
	// flood's batch is written in pieces through one reused buffer rather
	// than built whole in a buffer grown for it.
	sipWriteChunk = 64 << 10
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
	dir string // DATA/siplog

	mu      sync.Mutex
	pending []SIPMessage
	dropped uint64
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	// wmu serialises writing (FlushSIP) against closing and reset.
	wmu  sync.Mutex
	open map[string]*sipSegment // domain -> newest segment, open for appending
}

// sipSegment is the segment a domain's messages are appended to.
type sipSegment struct {
	dir  string // the domain's folder
	f    *os.File
	seq  uint64
	size int64
	buf  []byte // records not yet written, up to about sipWriteChunk
	nbuf int    // how many
}

func (db *DB) startSIPLog() {
	db.sip.dir = filepath.Join(filepath.Dir(db.path), "siplog")
	db.sip.open = map[string]*sipSegment{}
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
		db.sip.closeSegments()
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
	err := db.update(func(tx *bolt.Tx) error {
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
	l.pending = nil
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	var errs []error
	lost := 0
	for i := range batch {
		m := &batch[i]
		seg := l.open[m.Domain]
		if seg == nil {
			if len(l.open) >= sipOpenMax {
				// Written first: the batch may have records gathered for them.
				n, err := l.closeSegments()
				if err != nil {
					errs = append(errs, err)
				}
				lost += n
			}
			var err error
			if seg, err = l.openSegment(m.Domain); err != nil {
				errs = append(errs, err)
				lost++
				continue
			}
		}
		before := len(seg.buf)
		seg.buf = appendSIPRecord(seg.buf, m)
		if len(seg.buf) == before {
			lost++ // larger than a record may be
			continue
		}
		seg.nbuf++
		if seg.size+int64(len(seg.buf)) > sipLogSegmentBytes && seg.size+int64(before) > sipSegHeaderLen {
			// This record starts the next segment.
			rec := append([]byte(nil), seg.buf[before:]...)
			seg.buf = seg.buf[:before]
			seg.nbuf--
			n, err := l.rotate(m.Domain, seg, rec)
			if err != nil {
				errs = append(errs, err)
			}
			lost += n
		} else if len(seg.buf) >= sipWriteChunk {
			if n, err := seg.write(); err != nil {
				errs = append(errs, err)
				lost += n
				l.closeSegment(seg)
			}
		}
	}
	// What is left gathered is in the open segments (closing one writes it).
	for _, seg := range l.open {
		if n, err := seg.write(); err != nil {
			errs = append(errs, err)
			lost += n
			l.closeSegment(seg)
		}
	}
	if lost > 0 {
		l.mu.Lock()
		l.dropped += uint64(lost)
		l.mu.Unlock()
	}
	return errors.Join(errs...)
}

// write appends the records gathered to the segment file; on an error it
// says how many records were not (all of them: a record cut short by the
// disk is cut off when the segment is next opened).
func (s *sipSegment) write() (int, error) {
	if len(s.buf) == 0 || s.f == nil {
		return 0, nil
	}
	n, err := s.f.Write(s.buf)
	s.size += int64(n)
	recs := s.nbuf
	s.buf, s.nbuf = s.buf[:0], 0
	if cap(s.buf) > 2*sipWriteChunk {
		s.buf = nil // grown by a record of unusual size: not kept
	}
	if err != nil {
		return recs, fmt.Errorf("store: SIP log: %w", err)
	}
	return 0, nil
}

// rotate writes what seg holds, starts the domain's next segment with rec
// in its buffer and deletes the segments beyond sipLogSegments. It returns
// how many records were lost.
func (l *sipLog) rotate(domain string, seg *sipSegment, rec []byte) (int, error) {
	lost, werr := seg.close()
	next, err := createSIPSegment(seg.dir, seg.seq+1)
	if err != nil {
		delete(l.open, domain)
		return lost + 1, errors.Join(werr, err)
	}
	next.buf, next.nbuf = append(seg.buf[:0], rec...), 1
	l.open[domain] = next
	if next.seq >= uint64(sipLogSegments) {
		removeSIPSegmentsUpTo(next.dir, next.seq-uint64(sipLogSegments))
	}
	return lost, werr
}

// openSegment opens the domain's newest segment for appending, cutting off
// a record torn by a crash mid-write (so that new records follow the last
// whole one), or starts the domain's first segment.
func (l *sipLog) openSegment(domain string) (*sipSegment, error) {
	dir := filepath.Join(l.dir, sipDomainDir(domain))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: SIP log: %w", err)
	}
	seqs, err := sipSegments(dir)
	if err != nil {
		return nil, err
	}
	var seg *sipSegment
	if len(seqs) == 0 {
		seg, err = createSIPSegment(dir, 1)
	} else {
		seg, err = reopenSIPSegment(dir, seqs[len(seqs)-1])
	}
	if err != nil {
		return nil, err
	}
	l.open[domain] = seg
	return seg, nil
}

func createSIPSegment(dir string, seq uint64) (*sipSegment, error) {
	f, err := os.OpenFile(filepath.Join(dir, sipSegmentName(seq)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: SIP log: %w", err)
	}
	if _, err := f.Write([]byte(sipSegMagic)); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: SIP log: %w", err)
	}
	return &sipSegment{dir: dir, f: f, seq: seq, size: sipSegHeaderLen}, nil
}

func reopenSIPSegment(dir string, seq uint64) (*sipSegment, error) {
	path := filepath.Join(dir, sipSegmentName(seq))
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("store: SIP log: %w", err)
	}
	end, err := scanSIPSegment(r, nil)
	r.Close()
	if err != nil || end == 0 {
		// Not a segment we can append to (a crash before its header was
		// written, or not ours): start the next one instead.
		return createSIPSegment(dir, seq+1)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: SIP log: %w", err)
	}
	if err := f.Truncate(end); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: SIP log: %w", err)
	}
	return &sipSegment{dir: dir, f: f, seq: seq, size: end}, nil
}

func (l *sipLog) closeSegment(seg *sipSegment) {
	for d, s := range l.open {
		if s == seg {
			delete(l.open, d)
		}
	}
	_, _ = seg.close() // after a failed write: nothing left to write
}

// closeSegments writes and closes every open segment; it returns how many
// records were lost.
func (l *sipLog) closeSegments() (int, error) {
	lost := 0
	var errs []error
	for d, s := range l.open {
		n, err := s.close()
		if err != nil {
			errs = append(errs, err)
		}
		lost += n
		delete(l.open, d)
	}
	return lost, errors.Join(errs...)
}

// close writes what the segment gathered and closes its file; it returns
// how many records were lost.
func (s *sipSegment) close() (int, error) {
	if s.f == nil {
		return 0, nil
	}
	n, err := s.write()
	_ = s.f.Close()
	s.f = nil
	return n, err
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
	l.closeSegments()
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("store: SIP log: %w", err)
	}
	return nil
}

const sipSegmentExt = ".seg"

func sipSegmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, sipSegmentExt) }

// sipSegments lists the sequence numbers of a domain's segments, oldest
// first; a missing folder is an empty log.
func sipSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir) // sorted by name: by sequence
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: SIP log: %w", err)
	}
	var seqs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), sipSegmentExt)
		if !ok || len(name) != 16 {
			continue
		}
		if seq, err := strconv.ParseUint(name, 16, 64); err == nil {
			seqs = append(seqs, seq)
		}
	}
	return seqs, nil
}

// removeSIPSegmentsUpTo deletes a domain's segments numbered up to seq.
func removeSIPSegmentsUpTo(dir string, seq uint64) {
	seqs, _ := sipSegments(dir)
	for _, s := range seqs {
		if s <= seq {
			_ = os.Remove(filepath.Join(dir, sipSegmentName(s)))
		}
	}
}

// sipDomainDir is a domain's folder name: the name itself when it is made
// of letters, digits, '-', '_' and non-leading '.', else those with every
// other byte as %XX, so that no domain name can reach outside DATA/siplog.
func sipDomainDir(domain string) string {
	var b strings.Builder
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%"
	}
	return b.String()
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
	dir := filepath.Join(db.sip.dir, sipDomainDir(domain))
	seqs, err := sipSegments(dir)
	if err != nil {
		return nil, err
	}
	var parts [][]SIPMessage // newest segment first
	n := 0
	for i := len(seqs) - 1; i >= 0 && n < limit; i-- {
		got, first, err := querySIPSegment(filepath.Join(dir, sipSegmentName(seqs[i])), domain, q, limit-n)
		if errors.Is(err, fs.ErrNotExist) {
			continue // rotated away while we read
		}
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
func querySIPSegment(path, domain string, q SIPQuery, max int) ([]SIPMessage, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
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
	_, err = scanSIPSegment(f, func(off int64, r *sipRecord) {
		if first.IsZero() {
			first = time.Unix(0, r.time)
		}
		if !r.matches(domain, q, pat, from, to) {
			return
		}
		if len(ring) < max {
			ring = append(ring, off)
			return
		}
		ring[next] = off
		next = (next + 1) % max
	})
	if err != nil {
		return nil, first, err
	}
	out := make([]SIPMessage, 0, len(ring))
	var buf []byte
	for i := range ring {
		off := ring[(next+i)%len(ring)]
		var r sipRecord
		if buf, err = readSIPRecordAt(f, off, buf, &r); err != nil {
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
