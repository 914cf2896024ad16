package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is returned when a document, queue item or record does not exist.
var ErrNotFound = errors.New("not found")

// DB is the gateway's store. It is safe for concurrent use.
type DB struct {
	bolt  *bolt.DB
	path  string
	sip   sipLog      // batched SIP log writer (siplog.go)
	calls callHistory // call records (calls.go)
	// health is whether the disk takes writes (unwritable.go).
	health unwritable
	cache  readCache // decoded configuration reads (cache.go)
}

// Open opens (creating when needed) the store file at path, creating its
// folder, and brings its schema up to date.
func Open(path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path}
	if err := db.migrate(); err != nil {
		b.Close()
		return nil, err
	}
	if err := db.dropOldSIPLog(); err != nil {
		db.bolt.Close() // dropOldSIPLog may have reopened the file
		return nil, err
	}
	db.startSIPLog()
	db.startCallHistory()
	if err := db.moveOldCalls(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close writes the pending SIP log batch, syncs the call history and
// closes the files. Every other write has already been committed when its
// method returned.
func (db *DB) Close() error {
	db.stopSIPLog()
	db.stopCallHistory()
	return db.bolt.Close()
}

// Path is the file the store lives in.
func (db *DB) Path() string { return db.path }

// Size is the size of the store file in bytes.
func (db *DB) Size() int64 {
	var n int64
	_ = db.bolt.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// domainBucket is the bucket root/domain (docs, SIP log, call records), or
// nil when either does not exist.
func domainBucket(tx *bolt.Tx, root []byte, domain string) *bolt.Bucket {
	r := tx.Bucket(root)
	if r == nil {
		return nil
	}
	return r.Bucket([]byte(domain))
}

// createDomainBucket returns root/domain, creating either when needed.
func createDomainBucket(tx *bolt.Tx, root []byte, domain string) (*bolt.Bucket, error) {
	r, err := tx.CreateBucketIfNotExists(root)
	if err != nil {
		return nil, err
	}
	return r.CreateBucketIfNotExists([]byte(domain))
}
