package store

import (
	"sync"
	"sync/atomic"
)

// readCache keeps what readers decoded from the configuration for as long
// as nothing is written to the store: the call path reads the same few
// documents (trusted networks, limits, notification settings) for every
// call, and a bbolt read transaction with its decode each time was a tenth
// of what a B2BUA call allocated. gen counts the writes (update); an entry
// loaded under an older count is loaded again.
type readCache struct {
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[string]cacheEntry
}

type cacheEntry struct {
	gen uint64
	v   any
}

// maxCached bounds the entries (keys may name a called number): past it
// the cache starts over.
const maxCached = 4096

// Cached returns what load returned for key, loading it again when the
// store was written since (a write that has returned is always seen); an
// error is returned, not kept.
// What load returns is shared by every caller until the next write: it
// must not be modified.
func (db *DB) Cached(key string, load func() (any, error)) (any, error) {
	c := &db.cache
	gen := c.gen.Load() // before the read: a write during it makes the entry stale
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && e.gen == gen {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err // not kept: a read error may pass
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]cacheEntry{}
	}
	c.m[key] = cacheEntry{gen: gen, v: v}
	c.mu.Unlock()
	return v, nil
}

// written makes every cached read stale.
func (c *readCache) written() { c.gen.Add(1) }
