package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A factory reset forgets configuration, registrations and call records but
// keeps every queued alarm, and the file stays usable at its schema version.
func TestFactoryResetKeepsQueuedAlarms(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dev := Coll{Domain: "local", Resource: "device"}
	if err := db.Put(dev, "1234", []byte(`{"deviceId":"1234"}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveBindings([]Binding{{Domain: "local", AOR: "1234", Contact: "sip:1234@10.0.0.2", Expires: time.Now().Add(time.Hour)}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordCall(CallRecord{Domain: "local", CallID: "c1", Start: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.QueuePut(QueueItem{Dest: "arc", ID: "e1", Group: "1234", Payload: []byte("alarm")}); err != nil {
		t.Fatal(err)
	}

	if err := db.FactoryReset(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(dev, "1234"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("device after reset: err %v, want not found", err)
	}
	if b, err := db.Bindings(time.Now()); err != nil || len(b) != 0 {
		t.Fatalf("bindings after reset: %v %v", b, err)
	}
	if _, err := db.Call("local", "c1"); err == nil {
		t.Fatal("call record survived the reset")
	}
	items, err := db.QueueItems("arc", 10)
	if err != nil || len(items) != 1 || string(items[0].Payload) != "alarm" {
		t.Fatalf("queued alarm after reset: %+v %v, want it kept", items, err)
	}
	if v, err := db.Schema(); err != nil || v != SchemaVersion {
		t.Fatalf("schema %d %v", v, err)
	}
	if err := db.Put(dev, "5678", []byte(`{}`)); err != nil {
		t.Fatalf("store unusable after reset: %v", err)
	}
	if err := db.FactoryReset(); err != nil {
		t.Fatalf("second reset: %v", err)
	}
}

// A factory reset deletes the SIP log's segment files, and logging goes on
// after it.
func TestFactoryResetDeletesSIPLog(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.AppendSIP(SIPMessage{Time: time.Now(), Domain: "local", CallID: "before", Raw: "OPTIONS sip:a SIP/2.0\r\n\r\n"})
	if err := db.FlushSIP(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(db.Path()), "siplog")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("no SIP log folder before the reset: %v", err)
	}
	if err := db.FactoryReset(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SIP log folder after reset: %v, want it gone", err)
	}
	db.AppendSIP(SIPMessage{Time: time.Now(), Domain: "local", CallID: "after", Raw: "OPTIONS sip:b SIP/2.0\r\n\r\n"})
	got, err := db.QuerySIP("local", SIPQuery{})
	if err != nil || len(got) != 1 || got[0].CallID != "after" {
		t.Fatalf("SIP log after reset: %+v %v", got, err)
	}
}
