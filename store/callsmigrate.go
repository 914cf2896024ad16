package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Versions before the call history's segment files kept call records in
// bbolt: calls/DOMAIN/(start, Call-ID) -> JSON CallRecord, and
// callidx/DOMAIN/Call-ID -> that key. Open moves them into the segments
// (moveOldCalls) and deletes both buckets.
var (
	bucketCalls     = []byte("calls")
	bucketCallIndex = []byte("callidx")
)

// callsMoveMarker, in a domain's history folder, makes moving its old
// records idempotent: before the move it holds where the domain's history
// ended ("SEQ SIZE"), after it "done". Open after a crash mid-move cuts the
// history back to that end and moves again; after a crash once it is done
// (before the buckets were deleted), it does not move them twice.
const callsMoveMarker = "moving-from-store"

// moveOldCalls moves each domain's old call records, the newest that fit
// in all but one of the domain's segments (what rotation keeps readable),
// into the segments, oldest first, syncs them, deletes the old buckets and
// rewrites the file without their pages, as dropOldSIPLog does. It reads
// through a cursor: memory does not grow with the records. A disk that
// refuses the segments leaves the buckets for the next Open: the gateway
// starts anyway, and only that history is missing meanwhile. A firmware
// rolled back to such a version starts new buckets, which the next upgrade
// moves in turn.
func (db *DB) moveOldCalls() error {
	var domains []string
	found := false
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketCalls) != nil || tx.Bucket(bucketCallIndex) != nil
		if root := tx.Bucket(bucketCalls); root != nil {
			_ = root.ForEachBucket(func(k []byte) error { domains = append(domains, string(k)); return nil })
		}
		return nil
	})
	if !found {
		return nil
	}
	h := &db.calls
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range domains {
		if err := db.moveOldDomainCalls(d); err != nil {
			return nil // kept for the next Open
		}
	}
	err := db.update(reachAll, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketCalls, bucketCallIndex} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil // moved already (the markers say so): deleted next time
	}
	for _, d := range domains {
		_ = os.Remove(filepath.Join(h.seg.domainPath(d), callsMoveMarker))
	}
	return db.compact()
}

// moveOldDomainCalls moves one domain's records; the caller holds the
// history's lock.
func (db *DB) moveOldDomainCalls(domain string) error {
	h := &db.calls
	marker := filepath.Join(h.seg.domainPath(domain), callsMoveMarker)
	if err := h.startMove(marker, domain); err != nil {
		if errors.Is(err, errMoved) {
			return nil
		}
		return err
	}
	budget := int64(h.seg.segments-1) * h.seg.segBytes
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := domainBucket(tx, bucketCalls, domain)
		if b == nil {
			return nil
		}
		// Newest first, to where the budget is spent; then forward from there.
		c := b.Cursor()
		var first []byte
		var used int64
		var scratch []byte
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r CallRecord
			if json.Unmarshal(v, &r) != nil || r.CallID == "" {
				continue
			}
			scratch = appendCallBody(scratch[:0], &r, 0)
			if used += int64(recHeaderLen + len(scratch)); used > budget {
				break
			}
			first = k
		}
		if first == nil {
			return nil
		}
		for k, v := c.Seek(first); k != nil; k, v = c.Next() {
			var r CallRecord
			if json.Unmarshal(v, &r) != nil || r.CallID == "" {
				continue
			}
			if _, _, err := h.seg.add(domain, func(b []byte) []byte { return appendCallBody(b, &r, 0) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := h.seg.flush(); err != nil {
		return err
	}
	if err := h.seg.syncOpen(); err != nil {
		return err
	}
	return writeSynced(marker, "done")
}

var errMoved = errors.New("moved already")

// startMove writes where the domain's history ends now in its marker; or,
// when a move was interrupted, cuts the history back to where the marker
// says it ended; or says the move is done (errMoved).
func (h *callHistory) startMove(marker, domain string) error {
	if b, err := os.ReadFile(marker); err == nil {
		var seq uint64
		var size int64
		if string(b) == "done" {
			return errMoved
		}
		if _, err := fmt.Sscanf(string(b), "%d %d", &seq, &size); err == nil {
			h.seg.closeAll()
			dir := h.seg.domainPath(domain)
			seqs, _ := listSegments(dir)
			for _, s := range seqs {
				switch {
				case s > seq:
					_ = os.Remove(filepath.Join(dir, segmentName(s)))
				case s == seq:
					if err := os.Truncate(filepath.Join(dir, segmentName(s)), size); err != nil {
						return err
					}
				}
			}
		}
		// A marker torn before its content was synced: nothing moved yet.
	}
	seg := h.seg.open[domain]
	if seg == nil {
		var err error
		if seg, err = h.seg.openSegment(domain); err != nil {
			return err
		}
	}
	if _, err := seg.write(h.seg.kind); err != nil {
		return err
	}
	return writeSynced(marker, fmt.Sprintf("%d %d", seg.seq, seg.size))
}

// writeSynced replaces a small file whole and syncs it and its folder.
func writeSynced(path, content string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		err = errors.Join(err, d.Sync())
		d.Close()
	}
	return err
}
