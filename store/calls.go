package store

import (
	"cmp"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The call history lives beside the bbolt file, in append-only segment
// files as the SIP log does (segments.go; callsrec.go has the record's
// body): DATA/calls/DOMAIN/ holds up to CallHistorySegments files of about
// CallHistorySegmentBytes each, the oldest deleted first. Each version of
// a call's record (start, answer, end) is appended as written and points
// at the call's previous version, which readers then skip: the latest
// version of a Call-ID wins. In bbolt each batch of records rewrote
// hundreds of B+tree pages (a random-keyed Call-ID index among them) and
// synced twice; an append costs its bytes.
//
// The per-domain bound is bytes on disk: at most 4 × 4 MiB (16 MiB), of
// which the newest three quarters or more are always readable. A record is
// about 140 bytes for a call leg (a B2BUA call is two), so that is some
// 90000 records of calls written once (the engine holds a call's start back
// for a second for its end to replace it) or 30000 of calls whose start,
// answer and end were each written.
//
// Durability: written with write() and synced at most callSyncEvery later,
// so a power cut loses at most the last second of history (a crash of the
// daemon none of it); configuration and the alarm queue keep their sync
// before the write returns.
const (
	CallHistorySegments     = 4
	CallHistorySegmentBytes = 4 << 20
)

// Variables so that tests can exercise rotation with small segments.
var (
	callHistorySegments     = CallHistorySegments
	callHistorySegmentBytes = int64(CallHistorySegmentBytes)
)

const (
	callSyncEvery = time.Second
	// openCallsMax bounds the calls remembered as open (written without an
	// end) for pointing their next version at the previous one. Past it
	// one is forgotten, and its previous version is then read as a call of
	// its own: far more calls than a gateway carries at once.
	openCallsMax = 1 << 14
)

// CallRecord is what the gateway remembers of one call, for statistics and
// for the per-call pcap export (which joins it with the SIP log by CallID).
type CallRecord struct {
	CallID    string    `json:"callId"`
	Domain    string    `json:"domain"`
	Kind      string    `json:"kind,omitempty"` // "alarm", "trunk", "device", "mediaservice", "siprec"
	From      string    `json:"from"`
	To        string    `json:"to"`
	Start     time.Time `json:"start"`
	Answer    time.Time `json:"answer,omitzero"`  // zero if never answered
	End       time.Time `json:"end,omitzero"`     // zero while the call is up
	Result    string    `json:"result,omitempty"` // final SIP status or "answered", "cancelled", "failed"
	RTPLost   int64     `json:"rtpLost"`          // packets lost (RFC 3550 §6.4.1 cumulative)
	RTPJitter float64   `json:"rtpJitterMs"`      // interarrival jitter in ms (RFC 3550 §6.4.1)
	// For the recent calls list: who placed the call, with whom, how it ended.
	Direction string `json:"direction,omitempty"` // "inbound" (a peer called the gateway) or "outbound" (a leg the gateway placed)
	Local     string `json:"local,omitempty"`     // the gateway's SIP address
	Remote    string `json:"remote,omitempty"`    // host:port of the peer
	Trunk     string `json:"trunk,omitempty"`     // trunk id for calls from or to a trunk
	Cause     string `json:"cause,omitempty"`     // why it ended (the engine's cause: normal, remote-bye, rejected, cancelled, ...)
}

// Duration is the talk time: answer to end, or 0.
func (r CallRecord) Duration() time.Duration {
	if r.Answer.IsZero() || r.End.IsZero() || r.End.Before(r.Answer) {
		return 0
	}
	return r.End.Sub(r.Answer)
}

type callHistory struct {
	mu   sync.Mutex
	seg  segLog // DATA/calls
	open map[callKey]openCall
	// Syncing: at most once per callSyncEvery, the last by a timer.
	lastSync time.Time
	syncer   *time.Timer
	armed    bool
}

type callKey struct{ domain, callID string }

// openCall is where an open call's latest version is, and its start.
type openCall struct {
	pos   segPos
	start int64
}

func (db *DB) startCallHistory() {
	h := &db.calls
	h.seg = newSegLog(&callSegKind, filepath.Join(filepath.Dir(db.path), "calls"), callHistorySegments, callHistorySegmentBytes)
	h.open = map[callKey]openCall{}
	h.syncer = time.AfterFunc(time.Hour, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.sync()
	})
	h.syncer.Stop()
}

// stopCallHistory syncs and closes the segment files.
func (db *DB) stopCallHistory() {
	h := &db.calls
	h.syncer.Stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	_, _ = h.seg.closeAll()
}

func (h *callHistory) sync() {
	h.armed = false
	h.lastSync = time.Now()
	_ = h.seg.syncOpen() // a failing disk shows in the next write's error
}

// RecordCall stores or replaces the record of a call (by Domain and CallID).
// The engine calls it when a call starts, is answered and ends; the Start
// of the first write is kept when a later write leaves it zero.
func (db *DB) RecordCall(r CallRecord) error { return db.RecordCalls([]CallRecord{r}) }

// RecordCalls writes records as RecordCall does, in one write() per
// domain. They are on disk within callSyncEvery (see the history's
// durability above), readable when it returns.
func (db *DB) RecordCalls(rs []CallRecord) error {
	for _, r := range rs {
		if r.CallID == "" {
			return ErrBadName
		}
	}
	h := &db.calls
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, r := range rs {
		if r.Domain == "" {
			r.Domain = "local"
		}
		key := callKey{r.Domain, r.CallID}
		o, open := h.open[key]
		prev := o.pos
		if open && r.Start.IsZero() {
			r.Start = time.Unix(0, o.start)
		} else if !open && r.Start.IsZero() {
			// An update of a call not open here (before a restart): its
			// first version has its start.
			if _, err := h.seg.flush(); err != nil {
				errs = append(errs, err)
			}
			if old, pos, err := h.find(r.Domain, r.CallID); err == nil {
				r.Start, prev = old.Start, pos
			}
		}
		if r.Start.IsZero() {
			r.Start = time.Now()
		}
		pos, _, err := h.seg.add(r.Domain, func(b []byte) []byte { return appendCallBody(b, &r, prev) })
		if err != nil {
			errs = append(errs, err)
		}
		switch {
		case !r.End.IsZero() || pos == 0:
			delete(h.open, key)
		case open || len(h.open) < openCallsMax:
			h.open[key] = openCall{pos, r.Start.UnixNano()}
		default:
			for k := range h.open {
				delete(h.open, k)
				break
			}
			h.open[key] = openCall{pos, r.Start.UnixNano()}
		}
	}
	if _, err := h.seg.flush(); err != nil {
		errs = append(errs, err)
	}
	if wait := callSyncEvery - time.Since(h.lastSync); wait <= 0 {
		h.sync()
	} else if !h.armed {
		h.armed = true
		h.syncer.Reset(wait)
	}
	return errors.Join(errs...)
}

// Call returns the record of one call, or ErrNotFound.
func (db *DB) Call(domain, callID string) (CallRecord, error) {
	r, _, err := db.calls.find(domain, callID)
	return r, err
}

// find returns the latest version of a call's record and where it is:
// the last in the newest segment that has the call.
func (h *callHistory) find(domain, callID string) (CallRecord, segPos, error) {
	files, err := h.seg.openSegmentFiles(domain)
	if err != nil {
		return CallRecord{}, 0, err
	}
	defer closeSegFiles(files)
	for i := len(files) - 1; i >= 0; i-- {
		var at int64
		var r callRec
		_, err := scanSegment(files[i].f, &callSegKind, func(off int64, body []byte) bool {
			if !r.decode(body) {
				return false
			}
			if string(r.strs[0]) == callID {
				at = off
			}
			return true
		})
		if err != nil {
			return CallRecord{}, 0, err
		}
		if at == 0 {
			continue
		}
		rd := segReader{kind: &callSegKind, f: files[i].f}
		if err := rd.at(at, r.decode); err != nil {
			return CallRecord{}, 0, err
		}
		return r.record(domain), makeSegPos(files[i].seq, at), nil
	}
	return CallRecord{}, 0, ErrNotFound
}

// Calls calls fn for each call of a domain that started in [from, to), in
// start order, until fn returns false. A zero to means no upper bound.
//
// It reads the domain's segments twice: once for where each record is and
// when its call started (16 bytes a record, and 8 for each version a later
// one replaces, at most a few MB for a full history), then each call's
// latest record in start order.
func (db *DB) Calls(domain string, from, to time.Time, fn func(CallRecord) bool) error {
	files, err := db.calls.seg.openSegmentFiles(domain)
	if err != nil {
		return err
	}
	defer closeSegFiles(files)
	type entry struct {
		start int64
		pos   segPos
	}
	var ents []entry
	var replaced []segPos
	var r callRec
	for _, sf := range files {
		_, err := scanSegment(sf.f, &callSegKind, func(off int64, body []byte) bool {
			if !r.decode(body) {
				return false
			}
			if r.prev != 0 {
				replaced = append(replaced, r.prev)
			}
			if (!from.IsZero() && r.start < from.UnixNano()) || (!to.IsZero() && r.start >= to.UnixNano()) {
				return true
			}
			ents = append(ents, entry{r.start, makeSegPos(sf.seq, off)})
			return true
		})
		if err != nil {
			return err
		}
	}
	// ents is in log order; so is replaced once sorted.
	slices.Sort(replaced)
	latest := ents[:0]
	for _, e := range ents {
		i, found := slices.BinarySearch(replaced, e.pos)
		if !found {
			latest = append(latest, e)
		}
		replaced = replaced[i:]
	}
	slices.SortFunc(latest, func(a, b entry) int { return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.pos, b.pos)) })
	readers := make([]segReader, len(files))
	for i, sf := range files {
		readers[i] = segReader{kind: &callSegKind, f: sf.f}
	}
	for _, e := range latest {
		i := slices.IndexFunc(files, func(sf segFile) bool { return sf.seq == e.pos.seq() })
		if err := readers[i].at(e.pos.off(), r.decode); err != nil {
			return err
		}
		if !fn(r.record(domain)) {
			return nil
		}
	}
	return nil
}

// resetCalls deletes every domain's call history (factory reset).
func (db *DB) resetCalls() error {
	h := &db.calls
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.open)
	return h.seg.reset()
}
