package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The alarm event queue: store-and-forward of events to their destinations.
//
// Layout: one top-level bucket, bucketQueue, with a nested bucket per
// destination holding
//
//	items   seq (8 bytes, big endian) -> QueueItem JSON, in arrival order
//	ids     item id -> seq, for every pending or dead item (idempotent put)
//	dead    seq -> QueueItem JSON, items that will not be retried by themselves
//	done    item id -> 8-byte order number, ids recently delivered (bounded)
//	doneord order number -> item id, to drop the oldest done ids
//	meta    counters
//
// Durability: QueuePut returns only after the transaction that holds the
// items has been committed and fsynced, so an alarm unit may be given its
// kissoff then. Acks are committed the same way; an ack lost to a crash
// makes the item go out again, which the receiver's idempotency absorbs.
var bucketQueue = []byte("alarmqueue")

var (
	qItems   = []byte("items")
	qIDs     = []byte("ids")
	qDead    = []byte("dead")
	qDone    = []byte("done")
	qDoneOrd = []byte("doneord")
	qMeta    = []byte("meta")

	qCntPut       = []byte("put")
	qCntDelivered = []byte("delivered")
	qCntDead      = []byte("deadletters")
	qCntPending   = []byte("pending")
	qCntDeadNow   = []byte("deadnow")
	qCntRetries   = []byte("retries")
	qCntDoneN     = []byte("donen")
)

// DoneKeep is how many delivered ids each destination remembers to refuse
// a repeated put of an event already delivered.
const DoneKeep = 10000

// QueueItem is one queued event for one destination.
type QueueItem struct {
	Dest string `json:"-"` // destination (queue) name
	Seq  uint64 `json:"-"` // position in the destination's queue, set by QueuePut

	ID          string    `json:"id"`    // idempotency key: the event id
	Group       string    `json:"group"` // items of one group leave in order (one device)
	Payload     []byte    `json:"payload"`
	Enqueued    time.Time `json:"enqueued"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	DeadReason  string    `json:"deadReason,omitempty"`
}

// QueueCounts are the counters of one destination.
type QueueCounts struct {
	Put       uint64 // items accepted (duplicates not counted)
	Delivered uint64 // acknowledged by the destination
	DeadTotal uint64 // ever moved to the dead letters
	Retries   uint64 // failed attempts that will be retried
	Pending   uint64 // waiting now
	Dead      uint64 // dead letters now
}

var errQueueArg = errors.New("store: queue")

func qKey(s uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], s)
	return b[:]
}

func qAdd(meta *bolt.Bucket, k []byte, d int64) error {
	var v uint64
	if b := meta.Get(k); len(b) == 8 {
		v = binary.BigEndian.Uint64(b)
	}
	v = uint64(int64(v) + d)
	return meta.Put(k, qKey(v))
}

func qCounter(meta *bolt.Bucket, k []byte) uint64 {
	if meta == nil {
		return 0
	}
	if b := meta.Get(k); len(b) == 8 {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// qDestBuckets opens (create: creates) the nested buckets of dest.
type qDestBuckets struct{ items, ids, dead, done, doneOrd, meta *bolt.Bucket }

func qOpenDest(tx *bolt.Tx, dest string, create bool) (*qDestBuckets, error) {
	if dest == "" {
		return nil, fmt.Errorf("%w: empty destination name", errQueueArg)
	}
	root := tx.Bucket(bucketQueue)
	if root == nil {
		if !create {
			return nil, nil
		}
		var err error
		if root, err = tx.CreateBucket(bucketQueue); err != nil {
			return nil, err
		}
	}
	d := root.Bucket([]byte(dest))
	if d == nil {
		if !create {
			return nil, nil
		}
		var err error
		if d, err = root.CreateBucket([]byte(dest)); err != nil {
			return nil, err
		}
	}
	var db qDestBuckets
	for _, p := range []struct {
		b    **bolt.Bucket
		name []byte
	}{{&db.items, qItems}, {&db.ids, qIDs}, {&db.dead, qDead}, {&db.done, qDone}, {&db.doneOrd, qDoneOrd}, {&db.meta, qMeta}} {
		*p.b = d.Bucket(p.name)
		if *p.b == nil {
			if !create {
				return nil, nil
			}
			var err error
			if *p.b, err = d.CreateBucket(p.name); err != nil {
				return nil, err
			}
		}
	}
	return &db, nil
}

// QueuePut adds items to their destinations' queues in one transaction and
// returns when it is on disk. An item whose ID is already pending, dead or
// recently delivered in that destination is not added again: added[i]
// reports which were new. Concurrent callers share commits (group commit),
// so many events per second cost few fsyncs and a lone event waits for none.
func (db *DB) QueuePut(items ...QueueItem) (added []bool, err error) {
	for i, it := range items {
		switch {
		case it.Dest == "":
			return nil, fmt.Errorf("%w: item %d: empty destination", errQueueArg, i)
		case it.ID == "":
			return nil, fmt.Errorf("%w: item %d: empty id (the idempotency key)", errQueueArg, i)
		case len(it.Dest) > 200 || len(it.ID) > 200:
			return nil, fmt.Errorf("%w: item %d: destination or id longer than 200 bytes", errQueueArg, i)
		}
	}
	added = make([]bool, len(items))
	err = db.qGroupUpdate(func(tx *bolt.Tx) error {
		for i, it := range items {
			b, err := qOpenDest(tx, it.Dest, true)
			if err != nil {
				return err
			}
			id := []byte(it.ID)
			if b.ids.Get(id) != nil || b.done.Get(id) != nil {
				added[i] = false
				continue
			}
			seq, err := b.items.NextSequence()
			if err != nil {
				return err
			}
			if it.Enqueued.IsZero() {
				it.Enqueued = time.Now()
			}
			v, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := b.items.Put(qKey(seq), v); err != nil {
				return err
			}
			if err := b.ids.Put(id, qKey(seq)); err != nil {
				return err
			}
			if err := qAdd(b.meta, qCntPut, 1); err != nil {
				return err
			}
			if err := qAdd(b.meta, qCntPending, 1); err != nil {
				return err
			}
			added[i] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: queue put: %w", err)
	}
	return added, nil
}

// QueueDue returns, in arrival order, up to max items of dest that may be
// sent now: an item is due when every earlier item of its group has left the
// queue and its own next attempt time has come (the head of a group waiting
// for a retry holds back the rest of that group, never other groups). wake is
// the earliest time a held-back head becomes due (zero: none waiting).
func (db *DB) QueueDue(dest string, now time.Time, max int) (due []QueueItem, wake time.Time, err error) {
	err = db.bolt.View(func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, false)
		if err != nil || b == nil {
			return err
		}
		blocked := map[string]bool{}
		c := b.items.Cursor()
		for k, v := c.First(); k != nil && len(due) < max; k, v = c.Next() {
			// Read the header fields first: a deep queue behind a waiting
			// group is scanned without decoding every payload.
			var h struct {
				Group       string    `json:"group"`
				NextAttempt time.Time `json:"next"`
			}
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("store: queue %s item %x: %w", dest, k, err)
			}
			if blocked[h.Group] {
				continue
			}
			if h.NextAttempt.After(now) {
				blocked[h.Group] = true
				if wake.IsZero() || h.NextAttempt.Before(wake) {
					wake = h.NextAttempt
				}
				continue
			}
			var it QueueItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("store: queue %s item %x: %w", dest, k, err)
			}
			it.Dest, it.Seq = dest, binary.BigEndian.Uint64(k)
			due = append(due, it)
		}
		return nil
	})
	return due, wake, err
}

// QueueAck removes delivered items and remembers their ids (the last
// DoneKeep per destination) so that a repeated put is refused.
func (db *DB) QueueAck(dest string, seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return db.update(reachNone, func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, true)
		if err != nil {
			return err
		}
		for _, s := range seqs {
			v := b.items.Get(qKey(s))
			if v == nil {
				continue // acked twice: nothing to do
			}
			var it struct {
				ID string `json:"id"` // all an ack needs: the payload stays undecoded
			}
			if err := json.Unmarshal(v, &it); err != nil {
				return err
			}
			if err := b.items.Delete(qKey(s)); err != nil {
				return err
			}
			if err := b.ids.Delete([]byte(it.ID)); err != nil {
				return err
			}
			ord, err := b.doneOrd.NextSequence()
			if err != nil {
				return err
			}
			if err := b.done.Put([]byte(it.ID), qKey(ord)); err != nil {
				return err
			}
			if err := b.doneOrd.Put(qKey(ord), []byte(it.ID)); err != nil {
				return err
			}
			if err := qAdd(b.meta, qCntDelivered, 1); err != nil {
				return err
			}
			if err := qAdd(b.meta, qCntPending, -1); err != nil {
				return err
			}
			if err := qAdd(b.meta, qCntDoneN, 1); err != nil {
				return err
			}
		}
		// Bound the done record: drop the oldest beyond DoneKeep.
		extra := int64(qCounter(b.meta, qCntDoneN)) - DoneKeep
		if extra > 0 {
			if err := qAdd(b.meta, qCntDoneN, -extra); err != nil {
				return err
			}
		}
		for n := extra; n > 0; n-- {
			c := b.doneOrd.Cursor()
			k, id := c.First()
			if k == nil {
				break
			}
			if err := b.done.Delete(id); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// QueueRetry records a failed attempt of item seq and when to try again.
func (db *DB) QueueRetry(dest string, seq uint64, next time.Time, lastErr string) (QueueItem, error) {
	var it QueueItem
	err := db.update(reachNone, func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, true)
		if err != nil {
			return err
		}
		if it, err = qPendingItem(b, dest, seq); err != nil {
			return err
		}
		it.Attempts++
		it.NextAttempt, it.LastError = next, lastErr
		v, err := json.Marshal(it)
		if err != nil {
			return err
		}
		if err := b.items.Put(qKey(seq), v); err != nil {
			return err
		}
		return qAdd(b.meta, qCntRetries, 1)
	})
	it.Dest, it.Seq = dest, seq
	return it, err
}

// QueueDeadLetter moves item seq to the dead letters with the reason: it is
// kept and counted, never dropped, and the items behind it in its group move on.
func (db *DB) QueueDeadLetter(dest string, seq uint64, reason string) error {
	return db.update(reachNone, func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, true)
		if err != nil {
			return err
		}
		it, err := qPendingItem(b, dest, seq)
		if err != nil {
			return err
		}
		it.Attempts++
		it.DeadReason = reason
		v, err := json.Marshal(it)
		if err != nil {
			return err
		}
		if err := b.dead.Put(qKey(seq), v); err != nil {
			return err
		}
		if err := b.items.Delete(qKey(seq)); err != nil {
			return err
		}
		if err := qAdd(b.meta, qCntDead, 1); err != nil {
			return err
		}
		if err := qAdd(b.meta, qCntDeadNow, 1); err != nil {
			return err
		}
		return qAdd(b.meta, qCntPending, -1)
	})
}

// qPendingItem reads item seq of dest's queue (ErrNotFound: not pending).
func qPendingItem(b *qDestBuckets, dest string, seq uint64) (QueueItem, error) {
	var it QueueItem
	v := b.items.Get(qKey(seq))
	if v == nil {
		return it, fmt.Errorf("store: queue %s item %d: %w", dest, seq, ErrNotFound)
	}
	err := json.Unmarshal(v, &it)
	return it, err
}

// QueueDeadItems lists up to max dead letters of dest, oldest first.
func (db *DB) QueueDeadItems(dest string, max int) ([]QueueItem, error) {
	return db.queueList(dest, max, func(b *qDestBuckets) *bolt.Bucket { return b.dead })
}

// QueueRequeueDead puts every dead letter of dest back in the queue, in its
// old place, with its attempts reset (an operator's "try again").
func (db *DB) QueueRequeueDead(dest string) (int, error) {
	n := 0
	err := db.update(reachNone, func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, false)
		if err != nil || b == nil {
			return err
		}
		c := b.dead.Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			var it QueueItem
			if err := json.Unmarshal(v, &it); err != nil {
				return err
			}
			it.Attempts, it.NextAttempt, it.DeadReason = 0, time.Time{}, ""
			nv, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := b.items.Put(bytes.Clone(k), nv); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		if err := qAdd(b.meta, qCntDeadNow, -int64(n)); err != nil {
			return err
		}
		return qAdd(b.meta, qCntPending, int64(n))
	})
	return n, err
}

// QueueCountsOf returns the counters of dest (zero for an unknown one).
func (db *DB) QueueCountsOf(dest string) (QueueCounts, error) {
	var q QueueCounts
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, false)
		if err != nil || b == nil {
			return err
		}
		q = QueueCounts{
			Put: qCounter(b.meta, qCntPut), Delivered: qCounter(b.meta, qCntDelivered),
			DeadTotal: qCounter(b.meta, qCntDead), Retries: qCounter(b.meta, qCntRetries),
			Pending: qCounter(b.meta, qCntPending), Dead: qCounter(b.meta, qCntDeadNow),
		}
		return nil
	})
	return q, err
}

// QueueDests lists the destinations that have a queue.
func (db *DB) QueueDests() ([]string, error) {
	var out []string
	err := db.bolt.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketQueue)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// QueueDelivered reports whether id was delivered to dest recently (within
// the last DoneKeep deliveries).
func (db *DB) QueueDelivered(dest, id string) (bool, error) {
	ok := false
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, false)
		if err != nil || b == nil {
			return err
		}
		ok = b.done.Get([]byte(id)) != nil
		return nil
	})
	return ok, err
}

// qGroupCommit lets concurrent writers share one bbolt transaction: the first
// caller commits, callers arriving meanwhile queue up and the next commit
// takes them all. Unlike bolt.DB.Batch there is no timer, so a lone write is
// not delayed. It is keyed by DB because DB's fields belong to store.go.
type qGroupCommit struct {
	mu      sync.Mutex
	running bool
	pending []*qCommitReq
}

type qCommitReq struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan struct{}
}

var qGroupCommits sync.Map // *DB -> *qGroupCommit

func (db *DB) qGroupUpdate(fn func(*bolt.Tx) error) error {
	v, _ := qGroupCommits.LoadOrStore(db, &qGroupCommit{})
	g := v.(*qGroupCommit)
	r := &qCommitReq{fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.running {
		g.mu.Unlock()
		<-r.done
		return r.err
	}
	g.running = true
	for len(g.pending) > 0 {
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		db.qCommitBatch(batch)
		g.mu.Lock()
	}
	g.running = false
	g.mu.Unlock()
	<-r.done
	return r.err
}

// commitBatch runs every fn in one transaction; when that fails, each fn
// runs alone so that one bad write does not fail the others.
func (db *DB) qCommitBatch(batch []*qCommitReq) {
	err := db.update(reachNone, func(tx *bolt.Tx) error {
		for _, r := range batch {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			r.err = db.update(reachNone, r.fn)
			close(r.done)
		}
		return
	}
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}

// QueueItems returns up to max items of dest in arrival order, waiting or
// not (the console's "alarms queued").
func (db *DB) QueueItems(dest string, max int) ([]QueueItem, error) {
	return db.queueList(dest, max, func(b *qDestBuckets) *bolt.Bucket { return b.items })
}

// queueList reads up to max items of one of dest's buckets in key order.
func (db *DB) queueList(dest string, max int, which func(*qDestBuckets) *bolt.Bucket) ([]QueueItem, error) {
	var out []QueueItem
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, false)
		if err != nil || b == nil {
			return err
		}
		c := which(b).Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			var it QueueItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("store: queue %s: damaged item: %w", dest, err)
			}
			it.Dest, it.Seq = dest, binary.BigEndian.Uint64(k)
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// QueueMakeDue brings every item of dest that waits for a later retry
// forward to now (a technician's "retry now"); attempts and counters stay as
// they are. It returns how many items moved.
func (db *DB) QueueMakeDue(dest string, now time.Time) (int, error) {
	n := 0
	err := db.update(reachNone, func(tx *bolt.Tx) error {
		b, err := qOpenDest(tx, dest, false)
		if err != nil || b == nil {
			return err
		}
		moved := map[string][]byte{} // written after the scan: a cursor must not see its bucket change
		c := b.items.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var it QueueItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("store: queue %s: damaged item: %w", dest, err)
			}
			if !it.NextAttempt.After(now) {
				continue
			}
			it.NextAttempt = now
			nv, err := json.Marshal(it)
			if err != nil {
				return err
			}
			moved[string(k)] = nv
		}
		for k, v := range moved {
			if err := b.items.Put([]byte(k), v); err != nil {
				return err
			}
		}
		n = len(moved)
		return nil
	})
	return n, err
}
