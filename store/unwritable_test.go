package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of size bytes (root only; the tests run as root
// because make deps installs packages) and unmounts it when the test ends.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that mounts a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a %s tmpfs to fill (needs root): %v %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFullIsUnwritable: on a full disk writes fail with ErrUnwritable,
// Writable says so, the observer hears it once (not per write), and all
// of it clears with the first write that commits once there is room.
func TestDiskFullIsUnwritable(t *testing.T) {
	dir := smallDisk(t, "1m")
	db, err := Open(filepath.Join(dir, "eb.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	var changes []string
	db.OnWritable(func(err error, since time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			changes = append(changes, "unwritable")
		} else {
			changes = append(changes, "writable")
		}
	})
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break // the disk is full
		}
	}
	f.Close()
	doc := []byte(`{"description":"` + strings.Repeat("x", 8000) + `"}`)
	c := Coll{Domain: "d", Resource: "device"}
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		werr = db.Put(c, "dev"+string(rune('a'+i%26))+strings.Repeat("x", i), doc)
	}
	if !errors.Is(werr, ErrUnwritable) {
		t.Fatalf("write on a full disk: %v, want ErrUnwritable", werr)
	}
	for range 3 {
		_ = db.Put(c, "more", doc)
	}
	if err := db.Writable(); !errors.Is(err, ErrUnwritable) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Writable on a full disk: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(c, "after", []byte(`{}`)); err != nil {
		t.Fatalf("write after room was made: %v", err)
	}
	if err := db.Writable(); err != nil {
		t.Fatalf("Writable after a committed write: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(changes, ",") != "unwritable,writable" {
		t.Fatalf("observed %v, want one unwritable then one writable", changes)
	}
}
