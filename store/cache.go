package store

import (
	"strings"
	"sync"
	"sync/atomic"
)

// readCache keeps what readers decoded from the configuration until a
// collection they read is written: the call path reads the same few
// documents (trusted networks, limits, notification settings) for every
// call, and a bbolt read transaction with its decode each time was a tenth
// of what a B2BUA call allocated. Invalidation follows what was written,
// so that the alarm queue, registrations and the other writes that are no
// configuration leave the cached reads warm.
//
// Bookkeeping: seq counts the writes that may change a document. A write
// commits, then takes the next seq and stamps it on the slot of every
// collection it wrote (a hash of domain and resource: two collections
// sharing a slot only cost a load too many), or on all when its reach is
// not known. An entry remembers seq as it was before its load and the
// slots its load read; it is stale once one of them carries a later
// stamp. A write that has returned has stamped, so the next read sees it.
type readCache struct {
	seq  atomic.Uint64
	all  atomic.Uint64 // stamp of the last write that may have changed anything
	slot [cacheSlots]atomic.Uint64
	mu   sync.Mutex
	m    map[CacheKey]cacheEntry
}

const cacheSlots = 256

// CacheKey names one cached read: what the reader makes of the documents
// (Read, a constant of the caller, e.g. "engine.limits"), of which domain,
// and an argument when the read has one (a called number). A struct, not a
// joined string, so that a lookup builds nothing.
type CacheKey struct {
	Read, Domain, Arg string
}

type cacheEntry struct {
	seq   uint64 // readCache.seq before the load
	reads collSet
	v     any
}

// maxCached bounds the entries (keys may name a called number): past it
// the cache starts over.
const maxCached = 4096

// maxCachedKey bounds the domain and argument of a kept entry: both may
// come from a SIP message (up to 64 KiB), and 4096 entries of such a From
// user would keep a quarter of a gigabyte. A longer key is loaded each
// time, never kept; no device, number or domain is that long.
const maxCachedKey = 256

// Cached returns what load returned for key, loading it again when a
// collection load read has been written since (a write that has returned
// is always seen); an error is returned, not kept. load reads through the
// read transaction it is given, and only through it: what it reads there
// is what the entry depends on (one that reads nothing through it depends
// on every document).
// What load returns is shared by every caller until it is loaded again:
// it must not be modified. load must not write to the store.
func (db *DB) Cached(key CacheKey, load func(tx *Tx) (any, error)) (any, error) {
	c := &db.cache
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && c.fresh(&e) {
		return e.v, nil
	}
	return db.cacheLoad(key, load)
}

// cacheLoad loads key's entry (apart from Cached so that a hit allocates
// nothing).
func (db *DB) cacheLoad(key CacheKey, load func(tx *Tx) (any, error)) (any, error) {
	c := &db.cache
	e := &cacheEntry{seq: c.seq.Load()} // before the read: a write during it makes the entry stale
	err := db.View(func(tx *Tx) error {
		tx.read = &e.reads
		var err error
		e.v, err = load(tx)
		tx.read = nil
		return err
	})
	if err != nil {
		return e.v, err // not kept: a read error may pass
	}
	if len(key.Domain)+len(key.Arg) > maxCachedKey {
		return e.v, nil
	}
	if len(e.reads.slots) == 0 {
		e.reads.any = true
	}
	// A key's domain and argument may be cut from a SIP message (a From
	// user, a called number): kept as they are, they would keep the
	// message's memory.
	key.Domain, key.Arg = strings.Clone(key.Domain), strings.Clone(key.Arg)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[CacheKey]cacheEntry{}
	}
	c.m[key] = *e
	c.mu.Unlock()
	return e.v, nil
}

// fresh says whether nothing e read has been written since its load.
func (c *readCache) fresh(e *cacheEntry) bool {
	if c.all.Load() > e.seq || (e.reads.any && c.seq.Load() > e.seq) {
		return false
	}
	for _, s := range e.reads.slots {
		if c.slot[s].Load() > e.seq {
			return false
		}
	}
	return true
}

// written stamps what a committed write reached.
func (c *readCache) written(w *collSet) {
	if !w.any && len(w.slots) == 0 {
		return
	}
	s := c.seq.Add(1)
	if w.any {
		stampMax(&c.all, s)
		return
	}
	for _, i := range w.slots {
		stampMax(&c.slot[i], s)
	}
}

// stampMax raises a to s: two writers stamping the same slot out of order
// must leave the later stamp.
func stampMax(a *atomic.Uint64, s uint64) {
	for {
		old := a.Load()
		if old >= s || a.CompareAndSwap(old, s) {
			return
		}
	}
}

// collSet is the collections a transaction read or wrote, as cache slots;
// any: every collection (the list of domains was read, or a write whose
// reach is not known).
type collSet struct {
	slots []uint8
	any   bool
}

// The reach of writes that do not go through a Tx.
var (
	reachAll  = &collSet{any: true} // schema upgrade, factory reset: anything
	reachNone = &collSet{}          // no configuration document (alarm queue, registrations, probe)
)

func (s *collSet) add(c Coll) {
	i := c.slot()
	for _, have := range s.slots {
		if have == i {
			return
		}
	}
	s.slots = append(s.slots, i)
}

// slot is the collection's cache slot: FNV-1a of domain, resource and
// copy, folded to a byte.
func (c Coll) slot() uint8 {
	h := uint32(2166136261)
	mix := func(b byte) { h = (h ^ uint32(b)) * 16777619 }
	for i := 0; i < len(c.Domain); i++ {
		mix(c.Domain[i])
	}
	mix(0)
	for i := 0; i < len(c.Resource); i++ {
		mix(c.Resource[i])
	}
	if c.Provisory {
		mix(1)
	}
	return uint8(h ^ h>>8 ^ h>>16 ^ h>>24)
}
