package service

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ProvDB opens a store for the test (closed at its end) and returns it with
// put, which stores a provisioning document of domain "d". It is exported
// for the package's external tests (service_test.go) too.
func ProvDB(t testing.TB) (db *store.DB, put func(resource, id, doc string)) {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "eb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, func(resource, id, doc string) {
		t.Helper()
		if err := db.Put(store.Coll{Domain: "d", Resource: resource}, id, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
}
