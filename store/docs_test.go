package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDocsWorkingAndProvisoryApart(t *testing.T) {
	db := openTest(t)
	work := Coll{Domain: "d1", Resource: "alarmbridge"}
	prov := Coll{Domain: "d1", Resource: "alarmbridge", Provisory: true}
	if err := db.Put(work, "ab1", []byte(`{"name":"working"}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(prov, "ab1", []byte(`{"name":"provisory"}`)); err != nil {
		t.Fatal(err)
	}
	w, _ := db.Get(work, "ab1")
	p, _ := db.Get(prov, "ab1")
	if string(w) != `{"name":"working"}` || string(p) != `{"name":"provisory"}` {
		t.Fatalf("copies mixed: working %s provisory %s", w, p)
	}
	if err := db.Delete(prov, "ab1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(prov, "ab1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("provisory still there: %v", err)
	}
	if _, err := db.Get(work, "ab1"); err != nil {
		t.Fatalf("deleting the provisory copy removed the working one: %v", err)
	}
	if _, err := db.Get(Coll{Domain: "d2", Resource: "alarmbridge"}, "ab1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("domains not apart: %v", err)
	}
	if err := db.Delete(work, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of a missing doc: %v", err)
	}
}

func TestListPaginationAndPrefix(t *testing.T) {
	db := openTest(t)
	c := Coll{Domain: "d", Resource: "device"}
	err := db.Update(func(tx *Tx) error {
		for i := 0; i < 250; i++ {
			if err := tx.Put(c, fmt.Sprintf("dev%04d", i), []byte(`{}`)); err != nil {
				return err
			}
		}
		return tx.Put(c, "other", []byte(`{}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	tok := ""
	pages := 0
	for {
		p, err := db.List(c, ListQuery{Prefix: "dev", Limit: 100, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, d := range p.Docs {
			seen = append(seen, d.ID)
		}
		if p.NextToken == "" {
			break
		}
		tok = p.NextToken
	}
	if pages != 3 || len(seen) != 250 || seen[0] != "dev0000" || seen[249] != "dev0249" {
		t.Fatalf("pages %d, %d ids, first %q last %q", pages, len(seen), seen[0], seen[len(seen)-1])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("not in order or repeated at %d: %s after %s", i, seen[i], seen[i-1])
		}
	}
	p, _ := db.List(c, ListQuery{})
	if len(p.Docs) != DefaultPageSize {
		t.Fatalf("default page size %d", len(p.Docs))
	}
	p, _ = db.List(c, ListQuery{Limit: 1000})
	if len(p.Docs) != MaxPageSize {
		t.Fatalf("limit above max gave %d", len(p.Docs))
	}
	// A token is bound to its collection and cannot be forged.
	other := Coll{Domain: "d", Resource: "trunk"}
	if _, err := db.List(other, ListQuery{Token: p.NextToken}); !errors.Is(err, ErrBadToken) {
		t.Fatalf("foreign token accepted: %v", err)
	}
	if _, err := db.List(c, ListQuery{Token: "!!notbase64"}); !errors.Is(err, ErrBadToken) {
		t.Fatalf("garbage token accepted: %v", err)
	}
	n, err := db.Count(c, "dev01")
	if err != nil || n != 100 {
		t.Fatalf("count prefix dev01 = %d, %v", n, err)
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	db := openTest(t)
	c := Coll{Domain: "d", Resource: "trunk"}
	if err := db.Put(c, "a", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := db.Update(func(tx *Tx) error {
		if err := tx.Put(c, "a", []byte(`2`)); err != nil {
			return err
		}
		if err := tx.Put(c, "b", []byte(`2`)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if v, _ := db.Get(c, "a"); string(v) != "1" {
		t.Fatalf("failed update leaked: a=%s", v)
	}
	if _, err := db.Get(c, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed update leaked b: %v", err)
	}
}

func TestDeleteAll(t *testing.T) {
	db := openTest(t)
	c := Coll{Domain: "d", Resource: "device"}
	keep := Coll{Domain: "e", Resource: "device"}
	for i := 0; i < 5; i++ {
		_ = db.Put(c, fmt.Sprint(i), []byte(`{}`))
	}
	_ = db.Put(keep, "x", []byte(`{}`))
	n, err := db.DeleteAll(c)
	if err != nil || n != 5 {
		t.Fatalf("DeleteAll = %d, %v", n, err)
	}
	if n, _ := db.Count(c, ""); n != 0 {
		t.Fatalf("%d left", n)
	}
	if n, _ := db.Count(keep, ""); n != 1 {
		t.Fatalf("other domain lost its device")
	}
	if n, err := db.DeleteAll(c); err != nil || n != 0 {
		t.Fatalf("DeleteAll of empty = %d, %v", n, err)
	}
}

func TestReopenKeepsDocsAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c := Coll{Domain: "d", Resource: "device"}
	_ = db.Put(c, "k", []byte(`{"v":1}`))
	db.Close()
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.Get(c, "k"); err != nil || string(v) != `{"v":1}` {
		t.Fatalf("after reopen: %s %v", v, err)
	}
	if v, _ := db.Schema(); v != SchemaVersion {
		t.Fatalf("schema %d", v)
	}
}

func BenchmarkPutDoc(b *testing.B) {
	db := openTest(b)
	c := Coll{Domain: "d", Resource: "device"}
	doc := []byte(`{"deviceId":"x","authType":"deviceid"}`)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := db.Put(c, fmt.Sprint(i), doc); err != nil {
			b.Fatal(err)
		}
	}
}
