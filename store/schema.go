package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this build writes. Each step in migrations
// upgrades a file from version i to i+1 inside one transaction, so an
// interrupted upgrade leaves the old version intact.
const SchemaVersion = 1

var (
	bucketMeta    = []byte("meta")
	keySchema     = []byte("schema")
	errNewerStore = fmt.Errorf("store: file written by a newer edgebridge")
)

// migrations[i] upgrades schema version i to i+1. Version 0 is an empty file.
var migrations = []func(tx *bolt.Tx) error{
	0: func(tx *bolt.Tx) error { return nil },
}

func (db *DB) migrate() error {
	return db.update(reachAll, func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		v := 0
		if b := meta.Get(keySchema); len(b) == 8 {
			v = int(binary.BigEndian.Uint64(b))
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w (schema %d, this build knows %d)", errNewerStore, v, SchemaVersion)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("store: migrate schema %d to %d: %w", v, v+1, err)
			}
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(v))
		return meta.Put(keySchema, b[:])
	})
}

// Schema reports the schema version of the open file.
func (db *DB) Schema() (int, error) {
	v := 0
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(keySchema); len(b) == 8 {
			v = int(binary.BigEndian.Uint64(b))
		}
		return nil
	})
	return v, err
}
