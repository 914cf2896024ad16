package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Configuration documents live in bucketDocs / domain / collection / id.
// A collection is a resource name ("device", "trunk", ...), with the suffix
// provisorySuffix for the provisory copy, so that a provisory write can never
// touch the working configuration the services use.
var bucketDocs = []byte("docs")

const provisorySuffix = "~provisory"

// MaxPageSize is the largest page List returns; DefaultPageSize is used when
// the caller asks for none. Both come from the provisioning API's `limit`.
const (
	DefaultPageSize = 100
	MaxPageSize     = 100
)

var (
	// ErrBadToken is returned by List for a nextToken it did not issue for
	// that collection.
	ErrBadToken = errors.New("store: invalid nextToken")
	// ErrBadName is returned for an empty domain, resource or id.
	ErrBadName = errors.New("store: empty domain, resource or id")
)

// Coll names one collection: the documents of one resource in one domain,
// in either the working or the provisory copy.
type Coll struct {
	Domain    string
	Resource  string
	Provisory bool
}

func (c Coll) valid() bool { return c.Domain != "" && c.Resource != "" }

func (c Coll) name() []byte {
	if c.Provisory {
		return []byte(c.Resource + provisorySuffix)
	}
	return []byte(c.Resource)
}

// Doc is one stored document: its id and its JSON.
type Doc struct {
	ID   string
	JSON []byte
}

// ListQuery selects a page of a collection in id order.
type ListQuery struct {
	Prefix string // only ids that start with Prefix
	Limit  int    // 0 means DefaultPageSize; above MaxPageSize is clamped
	Token  string // NextToken of the previous page, or ""
}

// Page is one page of a List. NextToken is empty on the last page.
type Page struct {
	Docs      []Doc
	NextToken string
}

// Tx is a transaction over the documents. Writes made through a Tx passed by
// Update are committed together, or not at all.
type Tx struct {
	tx *bolt.Tx
	// What a Cached load reads and what an Update writes, for the cache
	// (cache.go); nil when nobody asks.
	read, wrote *collSet
}

func (t *Tx) coll(c Coll, create bool) (*bolt.Bucket, error) {
	if !c.valid() {
		return nil, ErrBadName
	}
	if t.read != nil {
		t.read.add(c)
	}
	if !create {
		if d := domainBucket(t.tx, bucketDocs, c.Domain); d != nil {
			return d.Bucket(c.name()), nil
		}
		return nil, nil
	}
	d, err := createDomainBucket(t.tx, bucketDocs, c.Domain)
	if err != nil {
		return nil, err
	}
	return d.CreateBucketIfNotExists(c.name())
}

// Get returns a copy of the document, or ErrNotFound.
func (t *Tx) Get(c Coll, id string) ([]byte, error) {
	b, err := t.coll(c, false)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Put stores doc under id, replacing any document there.
func (t *Tx) Put(c Coll, id string, doc []byte) error {
	if id == "" {
		return ErrBadName
	}
	b, err := t.coll(c, true)
	if err != nil {
		return err
	}
	t.written(c)
	return b.Put([]byte(id), doc)
}

// Delete removes a document; ErrNotFound when there is none.
func (t *Tx) Delete(c Coll, id string) error {
	b, err := t.coll(c, false)
	if err != nil {
		return err
	}
	if b == nil || b.Get([]byte(id)) == nil {
		return ErrNotFound
	}
	t.written(c)
	return b.Delete([]byte(id))
}

// ForEach calls fn for each document whose id starts with prefix, in id
// order, until fn returns false or an error. The JSON passed to fn is only
// valid during the call.
func (t *Tx) ForEach(c Coll, prefix string, fn func(id string, doc []byte) (bool, error)) error {
	b, err := t.coll(c, false)
	if err != nil || b == nil {
		return err
	}
	p := []byte(prefix)
	cur := b.Cursor()
	for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
		more, err := fn(string(k), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// List returns one page of the collection in id order.
func (t *Tx) List(c Coll, q ListQuery) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	if limit > MaxPageSize {
		limit = MaxPageSize
	}
	var after []byte
	if q.Token != "" {
		k, err := decodeToken(c, q.Token)
		if err != nil {
			return Page{}, err
		}
		after = k
	}
	var page Page
	b, err := t.coll(c, false)
	if err != nil || b == nil {
		return page, err
	}
	p := []byte(q.Prefix)
	cur := b.Cursor()
	var k, v []byte
	if after != nil {
		k, v = cur.Seek(after)
		if bytes.Equal(k, after) {
			k, v = cur.Next()
		}
	} else {
		k, v = cur.Seek(p)
	}
	for ; k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
		if len(page.Docs) == limit {
			page.NextToken = encodeToken(c, page.Docs[len(page.Docs)-1].ID)
			break
		}
		page.Docs = append(page.Docs, Doc{ID: string(k), JSON: bytes.Clone(v)})
	}
	return page, nil
}

// DeleteAll removes every document of the collection and reports how many
// there were.
func (t *Tx) DeleteAll(c Coll) (int, error) {
	n, err := t.Count(c, "")
	if err != nil || n == 0 {
		return n, err
	}
	t.written(c)
	return n, domainBucket(t.tx, bucketDocs, c.Domain).DeleteBucket(c.name())
}

// Count is the number of documents whose id starts with prefix.
func (t *Tx) Count(c Coll, prefix string) (int, error) {
	n := 0
	err := t.ForEach(c, prefix, func(string, []byte) (bool, error) { n++; return true, nil })
	return n, err
}

// written notes a write to c for the cache.
func (t *Tx) written(c Coll) {
	if t.wrote != nil {
		t.wrote.add(c)
	}
}

// Domains lists the domains that have at least one collection.
func (t *Tx) Domains() []string {
	if t.read != nil {
		t.read.any = true // any write may add a domain
	}
	docs := t.tx.Bucket(bucketDocs)
	if docs == nil {
		return nil
	}
	var out []string
	_ = docs.ForEachBucket(func(k []byte) error { out = append(out, string(k)); return nil })
	return out
}

// pageToken is the opaque pagination cursor: the last id of the page, bound to
// its collection so that a token cannot be replayed against another one.
type pageToken struct {
	C string `json:"c"`
	K string `json:"k"`
}

func encodeToken(c Coll, lastID string) string {
	b, _ := json.Marshal(pageToken{C: c.Domain + "/" + string(c.name()), K: lastID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(c Coll, s string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadToken
	}
	var tk pageToken
	if json.Unmarshal(raw, &tk) != nil || tk.C != c.Domain+"/"+string(c.name()) || tk.K == "" {
		return nil, ErrBadToken
	}
	return []byte(tk.K), nil
}

// Update runs fn in a read-write transaction. Everything fn writes is
// committed and fsynced before Update returns nil; if fn returns an error
// nothing it wrote is kept. Cached reads of the collections it wrote are
// loaded again; the others stay.
func (db *DB) Update(fn func(tx *Tx) error) error {
	var wrote collSet
	return db.update(&wrote, func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, wrote: &wrote}) })
}

// View runs fn in a read-only transaction: a consistent snapshot.
func (db *DB) View(fn func(tx *Tx) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Get returns one document, or ErrNotFound.
func (db *DB) Get(c Coll, id string) ([]byte, error) {
	return result(db.View, func(tx *Tx) ([]byte, error) { return tx.Get(c, id) })
}

// Put stores one document durably.
func (db *DB) Put(c Coll, id string, doc []byte) error {
	return db.Update(func(tx *Tx) error { return tx.Put(c, id, doc) })
}

// Delete removes one document durably; ErrNotFound when there is none.
func (db *DB) Delete(c Coll, id string) error {
	return db.Update(func(tx *Tx) error { return tx.Delete(c, id) })
}

// List returns one page of a collection.
func (db *DB) List(c Coll, q ListQuery) (Page, error) {
	return result(db.View, func(tx *Tx) (Page, error) { return tx.List(c, q) })
}

// DeleteAll removes every document of a collection durably and reports how
// many it removed.
func (db *DB) DeleteAll(c Coll) (int, error) {
	return result(db.Update, func(tx *Tx) (int, error) { return tx.DeleteAll(c) })
}

// Count is the number of documents of a collection whose id starts with prefix.
func (db *DB) Count(c Coll, prefix string) (int, error) {
	return result(db.View, func(tx *Tx) (int, error) { return tx.Count(c, prefix) })
}

// result runs fn in a transaction of run (db.View or db.Update) and returns
// what fn returned.
func result[T any](run func(func(*Tx) error) error, fn func(tx *Tx) (T, error)) (T, error) {
	var out T
	err := run(func(tx *Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

func (c Coll) String() string { return fmt.Sprintf("%s/%s", c.Domain, c.name()) }
