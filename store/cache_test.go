package store

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// cachedDoc is a Cached read of one document that counts its loads.
type cachedDoc struct {
	db    *DB
	key   CacheKey
	c     Coll
	id    string
	loads int
}

func (r *cachedDoc) read(t *testing.T) string {
	t.Helper()
	v, err := r.db.Cached(r.key, func(tx *Tx) (any, error) {
		r.loads++
		b, err := tx.Get(r.c, r.id)
		if errors.Is(err, ErrNotFound) {
			return "", nil
		}
		return string(b), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v.(string)
}

// TestCachedUntilWritten: a cached read is loaded once, served until a
// write to what it read returns, then loaded again; a failed load is
// returned, not kept.
func TestCachedUntilWritten(t *testing.T) {
	db := openTest(t)
	r := &cachedDoc{db: db, key: CacheKey{Read: "k", Domain: "d"}, c: Coll{Domain: "d", Resource: "notificationsettings"}, id: "settings"}
	if got := r.read(t); got != "" || r.loads != 1 {
		t.Fatalf("first read %q after %d loads", got, r.loads)
	}
	if got := r.read(t); got != "" || r.loads != 1 {
		t.Fatalf("second read %q after %d loads, want the cached one", got, r.loads)
	}
	if err := db.Put(r.c, "settings", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if got := r.read(t); got != `{"a":1}` || r.loads != 2 {
		t.Fatalf("read after a write %q after %d loads", got, r.loads)
	}
	failed := errors.New("disk says no")
	bad := CacheKey{Read: "bad"}
	if _, err := db.Cached(bad, func(*Tx) (any, error) { return nil, failed }); err != failed {
		t.Fatalf("failed load: %v", err)
	}
	v, err := db.Cached(bad, func(*Tx) (any, error) { return 7, nil })
	if err != nil || v.(int) != 7 {
		t.Fatalf("a failed load was kept: %v %v", v, err)
	}
}

// TestCachedFollowsWhatWasWritten: writes that touch no collection a
// cached read read (the alarm queue, registrations, the probe, another
// resource or domain, the provisory copy) leave it cached; every way of
// writing its own collection, and a write of unknown reach, load it again.
func TestCachedFollowsWhatWasWritten(t *testing.T) {
	db := openTest(t)
	own := Coll{Domain: "d", Resource: "limit"}
	r := &cachedDoc{db: db, key: CacheKey{Read: "limits", Domain: "d"}, c: own, id: "voice_call_session"}
	others := []Coll{
		{Domain: "d", Resource: "trunk"},
		{Domain: "e", Resource: "limit"},
		{Domain: "d", Resource: "limit", Provisory: true},
	}
	for _, o := range others {
		if o.slot() == own.slot() {
			t.Fatalf("%v shares the slot of %v: pick other names", o, own)
		}
	}
	r.read(t)
	unrelated := map[string]func() error{
		"queue put": func() error {
			_, err := db.QueuePut(QueueItem{Dest: "arc", ID: "ev1", Group: "u1", Payload: []byte("x"), Enqueued: time.Now()})
			return err
		},
		"bindings": func() error {
			return db.SaveBindings([]Binding{{Domain: "d", AOR: "panel1", Contact: "sip:panel1@127.0.0.1:5070", Expires: time.Now().Add(time.Hour)}}, nil)
		},
		"probe": db.Probe,
	}
	for i, o := range others {
		unrelated["put "+o.String()] = func() error { return db.Put(o, "x"+strconv.Itoa(i), []byte(`{}`)) }
	}
	for name, write := range unrelated {
		if err := write(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.read(t); r.loads != 1 {
			t.Fatalf("%s made the cached read load again", name)
		}
	}
	doc := `{"category":"voice_call_session","quantity":1}`
	own2 := []struct {
		name  string
		write func() error
		want  string
	}{
		{"put", func() error { return db.Put(own, r.id, []byte(doc)) }, doc},
		{"update with another collection", func() error {
			return db.Update(func(tx *Tx) error {
				if err := tx.Put(others[0], "t1", []byte(`{}`)); err != nil {
					return err
				}
				return tx.Put(own, r.id, []byte(`{"quantity":2}`))
			})
		}, `{"quantity":2}`},
		{"delete", func() error { return db.Delete(own, r.id) }, ""},
		{"delete all", func() error {
			if err := db.Put(own, r.id, []byte(doc)); err != nil {
				return err
			}
			if r.read(t) != doc {
				t.Fatal("put not seen")
			}
			_, err := db.DeleteAll(own)
			return err
		}, ""},
		{"put again", func() error { return db.Put(own, r.id, []byte(doc)) }, doc},
		{"factory reset", db.FactoryReset, ""},
	}
	for _, w := range own2 {
		before := r.loads
		if err := w.write(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if got := r.read(t); got != w.want || r.loads == before {
			t.Fatalf("after %s: read %q (loads %d, %d before), want %q", w.name, got, r.loads, before, w.want)
		}
	}
}

// TestCachedWithoutTrackedReads: a load that lists the domains, or reads
// nothing through its transaction, is loaded again after any write of a
// document, and after none other.
func TestCachedWithoutTrackedReads(t *testing.T) {
	db := openTest(t)
	domains, other := 0, 0
	read := func() {
		if _, err := db.Cached(CacheKey{Read: "domains"}, func(tx *Tx) (any, error) { domains++; return tx.Domains(), nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Cached(CacheKey{Read: "untracked"}, func(*Tx) (any, error) { other++; return 1, nil }); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if err := db.SaveBindings([]Binding{{Domain: "d", AOR: "a", Contact: "sip:a@h", Expires: time.Now().Add(time.Hour)}}, nil); err != nil {
		t.Fatal(err)
	}
	read()
	if domains != 1 || other != 1 {
		t.Fatalf("a binding reloaded reads of documents: %d %d loads", domains, other)
	}
	if err := db.Put(Coll{Domain: "new", Resource: "device"}, "d1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	read()
	if domains != 2 || other != 2 {
		t.Fatalf("a new domain's document left reads cached: %d %d loads", domains, other)
	}
}

// TestCachedSeesReturnedWrites: with writers and readers at once, a read
// that starts after a write returned sees that write or a later one.
func TestCachedSeesReturnedWrites(t *testing.T) {
	db := openTest(t)
	c := Coll{Domain: "d", Resource: "limit"}
	key := CacheKey{Read: "n", Domain: "d"}
	var returned atomic.Int64 // the highest value whose write returned
	read := func() int64 {
		v, err := db.Cached(key, func(tx *Tx) (any, error) {
			b, err := tx.Get(c, "n")
			if errors.Is(err, ErrNotFound) {
				return int64(0), nil
			}
			if err != nil {
				return nil, err
			}
			return strconv.ParseInt(string(b), 10, 64)
		})
		if err != nil {
			t.Error(err)
			return -1
		}
		return v.(int64)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for range 60 {
				// Writers write increasing values: bbolt runs them one at a
				// time, in the order they take their number.
				var n int64
				err := db.Update(func(tx *Tx) error {
					n = next.Add(1)
					if err := tx.Put(c, "n", []byte(strconv.FormatInt(n, 10))); err != nil {
						return err
					}
					return tx.Put(Coll{Domain: "d", Resource: "trunk"}, "t", []byte(`{}`))
				})
				if err != nil {
					t.Error(err)
					return
				}
				for {
					if old := returned.Load(); old >= n || returned.CompareAndSwap(old, n) {
						break
					}
				}
			}
		})
	}
	var rg sync.WaitGroup
	for range 3 {
		rg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				want := returned.Load()
				if got := read(); got < want {
					t.Errorf("read %d after the write of %d returned", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	if got, want := read(), next.Load(); got != want {
		t.Fatalf("last read %d, last write %d", got, want)
	}
}

// TestCacheStampsOutOfOrder: two writers of one collection stamping out of
// order (the later write's stamp first) leave the later stamp, so an entry
// loaded between the two writes stays stale.
func TestCacheStampsOutOfOrder(t *testing.T) {
	var c readCache
	slot := Coll{Domain: "d", Resource: "limit"}.slot()
	stampMax(&c.slot[slot], 2)
	stampMax(&c.slot[slot], 1)
	e := cacheEntry{seq: 1, reads: collSet{slots: []uint8{slot}}}
	if c.fresh(&e) {
		t.Fatalf("an entry loaded before the write stamped 2 is fresh: slot at %d", c.slot[slot].Load())
	}
}

// TestCachedHitAllocatesNothing: a hit builds no key and no entry (the
// call path asks a few times per call).
func TestCachedHitAllocatesNothing(t *testing.T) {
	db := openTest(t)
	domain := strconv.Itoa(42) // not a constant
	c := Coll{Domain: domain, Resource: "limit"}
	get := func() {
		_, err := db.Cached(CacheKey{Read: "limits", Domain: domain}, func(tx *Tx) (any, error) {
			_, err := tx.Get(c, "x")
			return 1, ignoreNotFound(err)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	get()
	if n := testing.AllocsPerRun(100, get); n != 0 {
		t.Fatalf("a hit allocates %v times", n)
	}
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// TestCachedKeyKeepsNoMessage: a key's domain and argument cut from a
// bigger string (a SIP message) are copied when kept, so that the entry
// does not keep the message's memory.
func TestCachedKeyKeepsNoMessage(t *testing.T) {
	db := openTest(t)
	msg := "INVITE sip:1000@local SIP/2.0\r\nFrom: <sip:panel1@local>\r\n\r\n"
	key := CacheKey{Read: "k", Domain: msg[16:21], Arg: msg[11:15]}
	if _, err := db.Cached(key, func(*Tx) (any, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	in := func(s string) bool {
		p, m := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(msg)))
		return p >= m && p < m+uintptr(len(msg))
	}
	for k := range db.cache.m {
		if k != key {
			t.Fatalf("kept %+v, want %+v", k, key)
		}
		if in(k.Domain) || in(k.Arg) {
			t.Fatalf("the kept key points into the message")
		}
	}
}

// TestCachedKeepsNoLongKey: a key longer than any name (a hostile From
// user of kilobytes) is loaded each time and never kept, so that a flood
// of them cannot make the cache hold megabytes.
func TestCachedKeepsNoLongKey(t *testing.T) {
	db := openTest(t)
	loads := 0
	load := func(*Tx) (any, error) { loads++; return 1, nil }
	long := CacheKey{Read: "k", Domain: "d", Arg: strings.Repeat("x", 30000)}
	for i := 0; i < 2; i++ {
		if v, err := db.Cached(long, load); err != nil || v.(int) != 1 {
			t.Fatalf("long key: %v %v", v, err)
		}
	}
	if loads != 2 || len(db.cache.m) != 0 {
		t.Fatalf("long key: %d loads, %d entries kept; want 2 loads and none kept", loads, len(db.cache.m))
	}
	short := CacheKey{Read: "k", Domain: "d", Arg: "panel1"}
	for i := 0; i < 2; i++ {
		if _, err := db.Cached(short, load); err != nil {
			t.Fatal(err)
		}
	}
	if loads != 3 || len(db.cache.m) != 1 {
		t.Fatalf("short key: %d loads, %d entries kept; want 3 loads and one kept", loads, len(db.cache.m))
	}
}
