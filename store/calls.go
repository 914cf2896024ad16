package store

import (
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Call records: bucketCalls / domain / (start time, Call-ID) -> JSON CallRecord,
// and bucketCallIndex / domain / Call-ID -> that key, so a record can be
// updated as the call progresses (start, answer, end).
var (
	bucketCalls     = []byte("calls")
	bucketCallIndex = []byte("callidx")
)

// CallRecordCap is the number of call records kept per domain; the oldest go first.
const CallRecordCap = 100000

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

func callKey(start time.Time, callID string) []byte {
	k := make([]byte, 8, 8+len(callID))
	binary.BigEndian.PutUint64(k, uint64(start.UnixNano()))
	return append(k, callID...)
}

// RecordCall stores or replaces the record of a call (by Domain and CallID),
// durably. The engine calls it when a call starts, is answered and ends; the
// Start of the first write is kept when a later write leaves it zero.
func (db *DB) RecordCall(r CallRecord) error { return db.RecordCalls([]CallRecord{r}) }

// RecordCalls writes records as RecordCall does, all in one transaction
// (one sync to disk for a batch of calls, not one per call).
func (db *DB) RecordCalls(rs []CallRecord) error {
	for _, r := range rs {
		if r.CallID == "" {
			return ErrBadName
		}
	}
	return db.update(func(tx *bolt.Tx) error {
		for _, r := range rs {
			if err := recordCall(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

func recordCall(tx *bolt.Tx, r CallRecord) error {
	if r.Domain == "" {
		r.Domain = "local"
	}
	cb, err := createDomainBucket(tx, bucketCalls, r.Domain)
	if err != nil {
		return err
	}
	ib, err := createDomainBucket(tx, bucketCallIndex, r.Domain)
	if err != nil {
		return err
	}
	n := counter(ib)
	if old := ib.Get([]byte(r.CallID)); old != nil {
		if r.Start.IsZero() {
			var prev CallRecord
			if json.Unmarshal(cb.Get(old), &prev) == nil {
				r.Start = prev.Start
			}
		}
		if err := cb.Delete(old); err != nil {
			return err
		}
		n--
	}
	if r.Start.IsZero() {
		r.Start = time.Now()
	}
	k := callKey(r.Start, r.CallID)
	v, _ := json.Marshal(r)
	if err := cb.Put(k, v); err != nil {
		return err
	}
	if err := ib.Put([]byte(r.CallID), k); err != nil {
		return err
	}
	n++
	// Bound the history: drop the oldest records beyond the cap.
	for ; n > CallRecordCap; n-- {
		c := cb.Cursor()
		fk, fv := c.First()
		var old CallRecord
		if json.Unmarshal(fv, &old) == nil {
			_ = ib.Delete([]byte(old.CallID))
		}
		if err := cb.Delete(fk); err != nil {
			return err
		}
	}
	return ib.Put(keyCallCount, seqKey(uint64(n)))
}

// keyCallCount holds the number of records of a domain in its index bucket;
// a Call-ID never starts with a NUL byte.
var keyCallCount = []byte("\x00count")

func counter(b *bolt.Bucket) int {
	if v := b.Get(keyCallCount); len(v) == 8 {
		return int(binary.BigEndian.Uint64(v))
	}
	return 0
}

// Call returns the record of one call, or ErrNotFound.
func (db *DB) Call(domain, callID string) (CallRecord, error) {
	var r CallRecord
	err := db.bolt.View(func(tx *bolt.Tx) error {
		ib, cb := domainBucket(tx, bucketCallIndex, domain), domainBucket(tx, bucketCalls, domain)
		if ib == nil || cb == nil {
			return ErrNotFound
		}
		k := ib.Get([]byte(callID))
		if k == nil {
			return ErrNotFound
		}
		return json.Unmarshal(cb.Get(k), &r)
	})
	return r, err
}

// Calls calls fn for each call of a domain that started in [from, to), in
// start order, until fn returns false. A zero to means no upper bound.
func (db *DB) Calls(domain string, from, to time.Time, fn func(CallRecord) bool) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		cb := domainBucket(tx, bucketCalls, domain)
		if cb == nil {
			return nil
		}
		c := cb.Cursor()
		var start [8]byte
		if !from.IsZero() {
			binary.BigEndian.PutUint64(start[:], uint64(from.UnixNano()))
		}
		for k, v := c.Seek(start[:]); k != nil; k, v = c.Next() {
			if !to.IsZero() && int64(binary.BigEndian.Uint64(k[:8])) >= to.UnixNano() {
				return nil
			}
			var r CallRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !fn(r) {
				return nil
			}
		}
		return nil
	})
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}
