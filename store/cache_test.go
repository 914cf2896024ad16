package store

import (
	"errors"
	"testing"
)

// TestCachedUntilWritten: a cached read is loaded once, served until a
// write returns, then loaded again; a failed load is returned, not kept.
func TestCachedUntilWritten(t *testing.T) {
	db := openTest(t)
	c := Coll{Domain: "d", Resource: "notificationsettings"}
	loads := 0
	read := func() string {
		v, err := db.Cached("k", func() (any, error) {
			loads++
			b, err := db.Get(c, "settings")
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
	if got := read(); got != "" || loads != 1 {
		t.Fatalf("first read %q after %d loads", got, loads)
	}
	if got := read(); got != "" || loads != 1 {
		t.Fatalf("second read %q after %d loads, want the cached one", got, loads)
	}
	if err := db.Put(c, "settings", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != `{"a":1}` || loads != 2 {
		t.Fatalf("read after a write %q after %d loads", got, loads)
	}
	failed := errors.New("disk says no")
	if _, err := db.Cached("bad", func() (any, error) { return nil, failed }); err != failed {
		t.Fatalf("failed load: %v", err)
	}
	v, err := db.Cached("bad", func() (any, error) { return 7, nil })
	if err != nil || v.(int) != 7 {
		t.Fatalf("a failed load was kept: %v %v", v, err)
	}
}
