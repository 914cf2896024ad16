package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrUnwritable wraps the error of a write the disk refused: full (ENOSPC),
// over quota (EDQUOT), read-only (EROFS) or failing (EIO). Such a write is
// not committed; callers answer it as the disk's fault (REST: 507), not as
// a bug of theirs.
var ErrUnwritable = errors.New("store unwritable")

// unwritable is the store's write health: set by the first write the disk
// refuses, cleared by the next write that commits. OnWritable observers
// hear each change once, not every failed write.
type unwritable struct {
	mu      sync.Mutex
	err     error // nil while writable
	since   time.Time
	observe []func(err error, since time.Time)
}

// diskError says whether err is the disk refusing a write.
func diskError(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// update is bolt's Update with the disk's refusals noted and wrapped in
// ErrUnwritable: every write of the store goes through it. reach is which
// configuration collections fn writes (reachNone, reachAll, or those an
// Update's Tx noted): cached reads of them are loaded again.
func (db *DB) update(reach *collSet, fn func(tx *bolt.Tx) error) error {
	err := db.bolt.Update(fn)
	db.cache.written(reach) // after the commit, before the writer returns
	switch {
	case err != nil && diskError(err):
		db.noteWrite(err)
		return fmt.Errorf("%w: %w", ErrUnwritable, err)
	case err == nil:
		db.noteWrite(nil)
	}
	return err
}

func (db *DB) noteWrite(err error) {
	u := &db.health
	u.mu.Lock()
	if (u.err == nil) == (err == nil) {
		u.mu.Unlock()
		return
	}
	now := time.Now()
	since := u.since
	if err != nil {
		since = now
	}
	u.err, u.since = err, now
	obs := append([]func(error, time.Time){}, u.observe...)
	u.mu.Unlock()
	for _, f := range obs {
		f(err, since) // on recovery, since is when the trouble began
	}
}

// Writable is nil when the last write committed, else an ErrUnwritable
// error saying since when and why the disk refuses writes.
func (db *DB) Writable() error {
	u := &db.health
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil {
		return nil
	}
	return fmt.Errorf("%w since %s: %w", ErrUnwritable, u.since.UTC().Format(time.RFC3339), u.err)
}

// OnWritable calls f when the store becomes unwritable (err set, since now)
// and when it is writable again (err nil, since when it stopped): once per
// change, from the goroutine whose write saw it.
func (db *DB) OnWritable(f func(err error, since time.Time)) {
	db.health.mu.Lock()
	db.health.observe = append(db.health.observe, f)
	db.health.mu.Unlock()
}

// Probe tries a small write (the meta bucket's probe key), so that a store
// nothing else writes to notices when its disk takes writes again.
func (db *DB) Probe() error {
	return db.update(reachNone, func(tx *bolt.Tx) error {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
		return tx.Bucket(bucketMeta).Put([]byte("probe"), b[:])
	})
}
