package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketBindings holds SIP registrations (RFC 3261 §10.3), one key per
// contact: domain NUL aor NUL contact URI. Owned by this file.
var bucketBindings = []byte("sip_bindings")

// Binding is one registered contact of an address of record.
type Binding struct {
	Domain    string    `json:"domain"`
	AOR       string    `json:"aor"`     // user part of the To URI
	Contact   string    `json:"contact"` // Contact URI as registered
	Expires   time.Time `json:"expires"`
	CallID    string    `json:"callId"`
	CSeq      uint32    `json:"cseq"`
	Source    string    `json:"source"`    // host:port the REGISTER came from
	Transport string    `json:"transport"` // UDP, TCP, TLS
	UserAgent string    `json:"userAgent,omitempty"`
	DeviceID  string    `json:"deviceId,omitempty"`
}

// Key is what identifies a binding (its key in the store): domain NUL aor
// NUL contact.
func (b Binding) Key() string {
	return b.Domain + "\x00" + b.AOR + "\x00" + b.Contact
}

// SaveBindings stores put and removes del in one transaction, so a burst of
// registrations costs one fsync.
func (db *DB) SaveBindings(put, del []Binding) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	return db.update(reachNone, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketBindings)
		if err != nil {
			return err
		}
		for _, x := range del {
			if err := b.Delete([]byte(x.Key())); err != nil {
				return err
			}
		}
		for _, x := range put {
			if x.Domain == "" || x.AOR == "" || x.Contact == "" {
				return fmt.Errorf("store: binding needs domain, aor and contact (got %q %q %q)", x.Domain, x.AOR, x.Contact)
			}
			v, err := json.Marshal(x)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(x.Key()), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Bindings returns every stored binding that has not expired at now.
func (db *DB) Bindings(now time.Time) ([]Binding, error) {
	var out []Binding
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBindings)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var x Binding
			if err := json.Unmarshal(v, &x); err != nil {
				return nil // a damaged record is skipped, not fatal
			}
			if x.Expires.After(now) {
				out = append(out, x)
			}
			return nil
		})
	})
	return out, err
}

// PurgeBindings removes bindings that expired before now and reports how
// many went.
func (db *DB) PurgeBindings(now time.Time) (int, error) {
	n := 0
	err := db.update(reachNone, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBindings)
		if b == nil {
			return nil
		}
		var dead [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			var x Binding
			if json.Unmarshal(v, &x) != nil || !x.Expires.After(now) {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(dead)
		return nil
	})
	return n, err
}
