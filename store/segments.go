package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Append-only segment logs: the SIP log (siplog.go) and the call history
// (calls.go) keep, per domain, a folder of segment files named by a
// sequence number. Records are appended to the newest segment with write();
// once it is full the next one is started and the oldest beyond the bound
// deleted. A segment file is its kind's 8-byte magic followed by records:
//
//	u32 LE  body length (at most the kind's maxRecord)
//	u32 LE  CRC-32 (IEEE) of the body
//	body    (the kind's encoding)
//
// A reader stops at the first record that is short, too long, fails its
// CRC or does not decode: after a kill -9 or a power cut the last record may
// be torn, and everything before it is whole (records are only appended).
// A segment reopened for appending is cut back to its last whole record.

// segKind is one family of segment logs.
type segKind struct {
	what      string // names the log in errors
	magic     string // the first bytes of every segment file, 8 of them
	maxRecord int    // the longest body
	// valid says whether a body whose CRC matched decodes as a record of
	// the kind.
	valid func(body []byte) bool
	// durable logs sync a segment before closing it and on syncOpen.
	durable bool
}

const (
	segHeaderLen = int64(8) // the magic
	recHeaderLen = 8
	// segOpenMax bounds the segment files a log holds open for appending;
	// past it they are closed and reopened on their domain's next record.
	segOpenMax = 64
	// segWriteChunk is how much is gathered per write(): a flood's batch is
	// written in pieces through one reused buffer rather than built whole
	// in a buffer grown for it.
	segWriteChunk = 64 << 10
)

// segLog is one kind's folder, DIR/DOMAIN/SEQ.seg, with the newest segment
// of each domain written to open. Its owner serialises calls to it.
type segLog struct {
	kind     *segKind
	dir      string
	segments int   // per domain
	segBytes int64 // per segment, about
	open     map[string]*segment
}

func newSegLog(kind *segKind, dir string, segments int, segBytes int64) segLog {
	return segLog{kind: kind, dir: dir, segments: segments, segBytes: segBytes, open: map[string]*segment{}}
}

// segment is the segment a domain's records are appended to.
type segment struct {
	dir   string // the domain's folder
	f     *os.File
	seq   uint64
	size  int64
	buf   []byte // records not yet written, up to about segWriteChunk
	nbuf  int    // how many
	dirty bool   // written since last synced (durable kinds)
}

// segPos is where a record is: its segment's sequence number and its
// offset in it. Never 0 (no record is at offset 0); ordered as the log.
type segPos uint64

func makeSegPos(seq uint64, off int64) segPos { return segPos(seq<<32 | uint64(off)) }

func (p segPos) seq() uint64 { return uint64(p) >> 32 }
func (p segPos) off() int64  { return int64(p & (1<<32 - 1)) }

// add appends a record, whose body enc appends to the slice it is given
// (appending nothing drops the record), to the domain's newest segment,
// starting the next segment when that one is full. It returns where the
// record went (0 when it was lost) and how many records were lost: it,
// or records gathered before it that a failed write took with it.
func (l *segLog) add(domain string, enc func([]byte) []byte) (segPos, int, error) {
	var errs []error
	lost := 0
	seg := l.open[domain]
	if seg == nil {
		if len(l.open) >= segOpenMax {
			// Written first: they may have records gathered.
			n, err := l.closeAll()
			errs = append(errs, err)
			lost += n
		}
		var err error
		if seg, err = l.openSegment(domain); err != nil {
			return 0, lost + 1, errors.Join(append(errs, err)...)
		}
	}
	before := len(seg.buf)
	seg.buf = l.kind.appendRecord(seg.buf, enc)
	if len(seg.buf) == before {
		return 0, lost + 1, errors.Join(errs...)
	}
	seg.nbuf++
	if seg.size+int64(len(seg.buf)) > l.segBytes && seg.size+int64(before) > segHeaderLen {
		// This record starts the next segment.
		rec := append([]byte(nil), seg.buf[before:]...)
		seg.buf = seg.buf[:before]
		seg.nbuf--
		next, n, err := l.rotate(domain, seg, rec)
		if next == nil {
			return 0, lost + n, errors.Join(append(errs, err)...)
		}
		return makeSegPos(next.seq, segHeaderLen), lost + n, errors.Join(append(errs, err)...)
	}
	pos := makeSegPos(seg.seq, seg.size+int64(before))
	if len(seg.buf) >= segWriteChunk {
		if n, err := seg.write(l.kind); err != nil {
			l.closeSegment(domain, seg)
			return 0, lost + n, errors.Join(append(errs, err)...)
		}
	}
	return pos, lost, errors.Join(errs...)
}

// appendRecord appends a record, header and the body enc appends, to b;
// nothing when the body is empty or longer than the kind's records.
func (k *segKind) appendRecord(b []byte, enc func([]byte) []byte) []byte {
	before := len(b)
	b = append(b, make([]byte, recHeaderLen)...)
	b = enc(b)
	body := b[before+recHeaderLen:]
	if len(body) == 0 || len(body) > k.maxRecord {
		return b[:before]
	}
	binary.LittleEndian.PutUint32(b[before:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[before+4:], crc32.ChecksumIEEE(body))
	return b
}

// flush writes what the open segments have gathered; it returns how many
// records were lost.
func (l *segLog) flush() (int, error) {
	var errs []error
	lost := 0
	for domain, seg := range l.open {
		if n, err := seg.write(l.kind); err != nil {
			errs = append(errs, err)
			lost += n
			l.closeSegment(domain, seg)
		}
	}
	return lost, errors.Join(errs...)
}

// syncOpen syncs the open segments written since they were last synced.
func (l *segLog) syncOpen() error {
	var errs []error
	for _, seg := range l.open {
		if seg.dirty {
			if err := seg.f.Sync(); err != nil {
				errs = append(errs, fmt.Errorf("store: %s: %w", l.kind.what, err))
			}
			seg.dirty = false
		}
	}
	return errors.Join(errs...)
}

// write appends the records gathered to the segment file; on an error it
// says how many records were not (all of them: a record cut short by the
// disk is cut off when the segment is next opened).
func (s *segment) write(k *segKind) (int, error) {
	if len(s.buf) == 0 || s.f == nil {
		return 0, nil
	}
	n, err := s.f.Write(s.buf)
	s.size += int64(n)
	s.dirty = true
	recs := s.nbuf
	s.buf, s.nbuf = s.buf[:0], 0
	if cap(s.buf) > 2*segWriteChunk {
		s.buf = nil // grown by a record of unusual size: not kept
	}
	if err != nil {
		return recs, fmt.Errorf("store: %s: %w", k.what, err)
	}
	return 0, nil
}

// rotate writes and closes seg, starts the domain's next segment with rec
// in its buffer and deletes the segments beyond the bound. It returns the
// new segment (nil when it could not be made) and how many records were
// lost.
func (l *segLog) rotate(domain string, seg *segment, rec []byte) (*segment, int, error) {
	lost, werr := seg.close(l.kind)
	next, err := l.createSegment(seg.dir, seg.seq+1)
	if err != nil {
		delete(l.open, domain)
		return nil, lost + 1, errors.Join(werr, err)
	}
	next.buf, next.nbuf = append(seg.buf[:0], rec...), 1
	l.open[domain] = next
	if next.seq >= uint64(l.segments) {
		removeSegmentsUpTo(next.dir, next.seq-uint64(l.segments))
	}
	return next, lost, werr
}

// openSegment opens the domain's newest segment for appending, cutting off
// a record torn by a crash mid-write (so that new records follow the last
// whole one), or starts the domain's first segment.
func (l *segLog) openSegment(domain string) (*segment, error) {
	dir := l.domainPath(domain)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	seqs, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	var seg *segment
	if len(seqs) == 0 {
		seg, err = l.createSegment(dir, 1)
	} else {
		seg, err = l.reopenSegment(dir, seqs[len(seqs)-1])
	}
	if err != nil {
		return nil, err
	}
	l.open[domain] = seg
	return seg, nil
}

func (l *segLog) createSegment(dir string, seq uint64) (*segment, error) {
	f, err := os.OpenFile(filepath.Join(dir, segmentName(seq)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	if _, err := f.Write([]byte(l.kind.magic)); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	return &segment{dir: dir, f: f, seq: seq, size: segHeaderLen, dirty: true}, nil
}

func (l *segLog) reopenSegment(dir string, seq uint64) (*segment, error) {
	path := filepath.Join(dir, segmentName(seq))
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	end, err := scanSegment(r, l.kind, nil)
	r.Close()
	if err != nil || end == 0 {
		// Not a segment we can append to (a crash before its header was
		// written, or not ours): start the next one instead.
		return l.createSegment(dir, seq+1)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	if err := f.Truncate(end); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	return &segment{dir: dir, f: f, seq: seq, size: end}, nil
}

func (l *segLog) closeSegment(domain string, seg *segment) {
	delete(l.open, domain)
	_, _ = seg.close(l.kind) // after a failed write: nothing left to write
}

// closeAll writes and closes every open segment; it returns how many
// records were lost.
func (l *segLog) closeAll() (int, error) {
	lost := 0
	var errs []error
	for d, s := range l.open {
		n, err := s.close(l.kind)
		if err != nil {
			errs = append(errs, err)
		}
		lost += n
		delete(l.open, d)
	}
	return lost, errors.Join(errs...)
}

// close writes what the segment gathered (and syncs it, for a durable
// kind) and closes its file; it returns how many records were lost.
func (s *segment) close(k *segKind) (int, error) {
	if s.f == nil {
		return 0, nil
	}
	n, err := s.write(k)
	if k.durable && s.dirty && err == nil {
		if serr := s.f.Sync(); serr != nil {
			err = fmt.Errorf("store: %s: %w", k.what, serr)
		}
	}
	_ = s.f.Close()
	s.f = nil
	return n, err
}

// reset deletes every domain's segments, open or not (factory reset).
func (l *segLog) reset() error {
	for d, s := range l.open {
		s.buf = s.buf[:0]
		_ = s.f.Close()
		s.f = nil
		delete(l.open, d)
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	return nil
}

// openSegmentFiles opens a domain's segments for reading, oldest first;
// one deleted by rotation meanwhile is left out. An open file stays
// readable after rotation deletes it, so a query reads one snapshot.
func (l *segLog) openSegmentFiles(domain string) ([]segFile, error) {
	dir := l.domainPath(domain)
	seqs, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
	}
	files := make([]segFile, 0, len(seqs))
	for _, seq := range seqs {
		f, err := os.Open(filepath.Join(dir, segmentName(seq)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			closeSegFiles(files)
			return nil, fmt.Errorf("store: %s: %w", l.kind.what, err)
		}
		files = append(files, segFile{f: f, seq: seq})
	}
	return files, nil
}

type segFile struct {
	f   *os.File
	seq uint64
}

func closeSegFiles(files []segFile) {
	for _, s := range files {
		s.f.Close()
	}
}

const segmentExt = ".seg"

func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentExt) }

// listSegments lists the sequence numbers of a domain's segments, oldest
// first; a missing folder is an empty log.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir) // sorted by name: by sequence
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || len(name) != 16 {
			continue
		}
		if seq, err := strconv.ParseUint(name, 16, 64); err == nil {
			seqs = append(seqs, seq)
		}
	}
	return seqs, nil
}

// removeSegmentsUpTo deletes a domain's segments numbered up to seq.
func removeSegmentsUpTo(dir string, seq uint64) {
	seqs, _ := listSegments(dir)
	for _, s := range seqs {
		if s <= seq {
			_ = os.Remove(filepath.Join(dir, segmentName(s)))
		}
	}
}

func (l *segLog) domainPath(domain string) string { return filepath.Join(l.dir, domainDir(domain)) }

// domainDir is a domain's folder name: the name itself when it is made of
// letters, digits, '-', '_' and non-leading '.', else those with every
// other byte as %XX, so that no domain name can reach outside its log's
// folder.
func domainDir(domain string) string {
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

// checkRecordHeader returns the body length a record header announces,
// or -1 when no record of the kind can be that long.
func (k *segKind) checkRecordHeader(h []byte) int {
	n := binary.LittleEndian.Uint32(h)
	if n == 0 || n > uint32(k.maxRecord) {
		return -1
	}
	return int(n)
}

// scanSegment reads a segment from its start and calls decode with the
// offset and body of each whole record, in order; decode says whether the
// body is a record of the kind (the reader decodes it once, for its own
// use), and the scan stops at one that is not, as at a torn record. The
// body is valid until decode returns; a nil decode is the kind's valid. It
// returns the offset just past the last whole record: where appending may
// go on. A segment without the magic gives 0. Only a read error other than
// the end of the data is returned as an error.
func scanSegment(rd io.Reader, k *segKind, decode func(off int64, body []byte) bool) (int64, error) {
	br := bufio.NewReaderSize(rd, 32<<10)
	var magic [segHeaderLen]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return 0, eofOK(err)
	}
	if string(magic[:]) != k.magic {
		return 0, nil
	}
	off := segHeaderLen
	var hdr [recHeaderLen]byte
	var body []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return off, eofOK(err)
		}
		n := k.checkRecordHeader(hdr[:])
		if n < 0 {
			return off, nil
		}
		if cap(body) < n {
			body = make([]byte, n, max(n, 4<<10))
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return off, eofOK(err)
		}
		if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(hdr[4:]) {
			return off, nil
		}
		if decode == nil && !k.valid(body) || decode != nil && !decode(off, body) {
			return off, nil
		}
		off += recHeaderLen + int64(n)
	}
}

// segReader reads records at positions scanSegment gave, through a window
// of the file: one pread for a run of nearby records.
type segReader struct {
	kind *segKind
	f    *os.File
	base int64  // the file offset of win[0]
	win  []byte // what was read at base
}

const segReadWindow = 32 << 10

// at reads the record at off and decodes its body with decode (the body is
// valid until the next call); an error when it is no whole record of the
// kind.
func (r *segReader) at(off int64, decode func(body []byte) bool) error {
	n := r.fits(off)
	if n < 0 {
		if cap(r.win) < segReadWindow {
			r.win = make([]byte, segReadWindow)
		}
		m, err := r.f.ReadAt(r.win[:cap(r.win)], off)
		r.base, r.win = off, r.win[:m]
		if m < recHeaderLen {
			return readErr(r.kind, err)
		}
		if n = r.kind.checkRecordHeader(r.win); n < 0 {
			return readErr(r.kind, nil)
		}
		if recHeaderLen+n > m {
			if m < cap(r.win) {
				return readErr(r.kind, err)
			}
			// Longer than the window: read it whole.
			r.win = make([]byte, recHeaderLen+n)
			if m, err := r.f.ReadAt(r.win, off); m < len(r.win) {
				return readErr(r.kind, err)
			}
		}
	}
	i := int(off - r.base)
	body := r.win[i+recHeaderLen : i+recHeaderLen+n]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(r.win[i+4:]) || !decode(body) {
		return readErr(r.kind, nil)
	}
	return nil
}

// fits is the body length of the record at off when it lies wholly in the
// window, else -1.
func (r *segReader) fits(off int64) int {
	i := off - r.base
	if r.win == nil || i < 0 || i+recHeaderLen > int64(len(r.win)) {
		return -1
	}
	n := r.kind.checkRecordHeader(r.win[i : i+recHeaderLen])
	if n < 0 || i+recHeaderLen+int64(n) > int64(len(r.win)) {
		return -1
	}
	return n
}

func readErr(k *segKind, err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("store: %s: record changed while read", k.what)
	}
	return fmt.Errorf("store: %s: %w", k.what, err)
}

func eofOK(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}
