package store

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// FactoryReset erases, in one transaction, every domain's configuration
// (devices, trunks, alarmbridges, API keys and the admin key among them) and
// the SIP registrations, then the SIP log's and the call history's segment
// files. The alarm queue is kept on purpose: an event an alarm unit was
// told is safe is still delivered after a reset, to the route it was
// queued for.
func (db *DB) FactoryReset() error {
	err := db.update(reachAll, func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketDocs, bucketBindings, bucketSIPLog, bucketCalls, bucketCallIndex} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(db.resetSIPLog(), db.resetCalls())
}
