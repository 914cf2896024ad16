package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The SIP log ring: bucketSIPLog / domain / 8-byte sequence -> JSON SIPMessage.
// Each domain keeps at most SIPLogCap messages; the oldest go first.
var bucketSIPLog = []byte("siplog")

// SIPLogCap is the number of messages kept per domain.
const SIPLogCap = 20000

// sipLogCap is SIPLogCap; a variable so tests can exercise the ring's wrap.
var sipLogCap uint64 = SIPLogCap

// SIP log writes are batched: the SIP stack must never wait for an fsync.
const (
	sipFlushEvery = 200 * time.Millisecond
	sipFlushBatch = 512
	sipQueueMax   = 8192 // beyond this AppendSIP drops (and counts) messages
)

// SIPMessage is one SIP message as it crossed the gateway's socket.
type SIPMessage struct {
	Time      time.Time `json:"time"`
	Domain    string    `json:"domain"`
	Direction string    `json:"direction"` // "in" or "out"
	Transport string    `json:"transport"` // "udp", "tcp", "tls", "ws"
	Src       string    `json:"src"`       // "ip:port"
	Dst       string    `json:"dst"`       // "ip:port"
	CallID    string    `json:"callId"`
	Raw       string    `json:"raw"` // the whole message, start line to body
}

// SIPQuery selects messages of one domain. Zero fields do not filter.
type SIPQuery struct {
	Pattern string    // substring of the raw message (case-sensitive)
	CallID  string    // exact Call-ID
	From    time.Time // inclusive
	To      time.Time // inclusive
	Limit   int       // newest Limit messages; 0 means 100
}

type sipLog struct {
	mu      sync.Mutex
	pending []SIPMessage
	dropped uint64
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func (db *DB) startSIPLog() {
	db.sip.kick = make(chan struct{}, 1)
	db.sip.stop = make(chan struct{})
	db.sip.done = make(chan struct{})
	go db.sipFlusher()
}

// stopSIPLog stops the flusher and writes what is pending.
func (db *DB) stopSIPLog() {
	db.sip.once.Do(func() {
		close(db.sip.stop)
		<-db.sip.done
	})
}

func (db *DB) sipFlusher() {
	defer close(db.sip.done)
	t := time.NewTicker(sipFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-db.sip.stop:
			_ = db.FlushSIP()
			return
		case <-t.C:
		case <-db.sip.kick:
		}
		_ = db.FlushSIP()
	}
}

// AppendSIP records one SIP message in its domain's ring. It never blocks on
// the disk: messages are written in batches within sipFlushEvery; if the disk
// falls far behind, messages are dropped and counted (SIPDropped) rather than
// slowing down call handling. Safe for concurrent use.
func (db *DB) AppendSIP(m SIPMessage) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	if m.Domain == "" {
		m.Domain = "local"
	}
	db.sip.mu.Lock()
	if len(db.sip.pending) >= sipQueueMax {
		db.sip.dropped++
		db.sip.mu.Unlock()
		return
	}
	db.sip.pending = append(db.sip.pending, m)
	n := len(db.sip.pending)
	db.sip.mu.Unlock()
	if n >= sipFlushBatch {
		select {
		case db.sip.kick <- struct{}{}:
		default:
		}
	}
}

// SIPDropped is how many messages AppendSIP dropped because the writer was
// too far behind.
func (db *DB) SIPDropped() uint64 {
	db.sip.mu.Lock()
	defer db.sip.mu.Unlock()
	return db.sip.dropped
}

// FlushSIP writes pending SIP messages now. Queries flush first, so a reader
// always sees every message appended before its query.
func (db *DB) FlushSIP() error {
	db.sip.mu.Lock()
	batch := db.sip.pending
	db.sip.pending = nil
	db.sip.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return db.update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketSIPLog)
		if err != nil {
			return err
		}
		last := map[*bolt.Bucket]uint64{}
		for _, m := range batch {
			b, err := root.CreateBucketIfNotExists([]byte(m.Domain))
			if err != nil {
				return err
			}
			seq, _ := b.NextSequence()
			v, _ := json.Marshal(m)
			if err := b.Put(seqKey(seq), v); err != nil {
				return err
			}
			last[b] = seq
		}
		// Trim each ring once per batch: drop everything at or below
		// seq-cap (one walk from the oldest, not one per message).
		for b, seq := range last {
			if seq <= sipLogCap {
				continue
			}
			lim := seqKey(seq - sipLogCap)
			var old [][]byte
			c := b.Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, lim) <= 0; k, _ = c.Next() {
				old = append(old, k)
			}
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return err
				}
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

// QuerySIP returns the newest messages of a domain that match q, oldest
// first.
func (db *DB) QuerySIP(domain string, q SIPQuery) ([]SIPMessage, error) {
	if err := db.FlushSIP(); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	escaped := []byte(jsonEscape(q.Pattern))
	var out []SIPMessage
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := domainBucket(tx, bucketSIPLog, domain)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if q.Pattern != "" && !bytes.Contains(v, escaped) {
				continue // cheap pre-filter on the JSON; exact check below
			}
			var m SIPMessage
			if err := json.Unmarshal(v, &m); err != nil {
				continue
			}
			if !q.From.IsZero() && m.Time.Before(q.From) {
				break // keys are in time order: nothing older can match
			}
			if !q.To.IsZero() && m.Time.After(q.To) {
				continue
			}
			if q.CallID != "" && m.CallID != q.CallID {
				continue
			}
			if q.Pattern != "" && !strings.Contains(m.Raw, q.Pattern) && !strings.Contains(m.Src, q.Pattern) && !strings.Contains(m.Dst, q.Pattern) {
				continue
			}
			out = append(out, m)
		}
		return nil
	})
	// Newest were collected first; hand them out in time order.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// jsonEscape returns s as it appears inside a JSON string, so the pre-filter
// can search the stored bytes without decoding them.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
