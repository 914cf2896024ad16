package engine

import (
	"errors"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

// TestStoreDirectoryDevice: the device lookup every INVITE and REGISTER
// makes is kept, allocates nothing when the From user is no device, sees a
// device written after it, and gives each caller its own copy.
func TestStoreDirectoryDevice(t *testing.T) {
	db := openStore(t)
	d := StoreDirectory{DB: db}
	if _, err := d.Device("local", "panel1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no device: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = d.Device("local", "panel1") }); n != 0 {
		t.Fatalf("a kept answer of no device allocates %v times", n)
	}
	c := store.Coll{Domain: "local", Resource: ResDevice}
	if err := db.Put(c, "panel1", []byte(`{"deviceId":"panel1","authType":"deviceid","deviceType":"alarm"}`)); err != nil {
		t.Fatal(err)
	}
	dev, err := d.Device("local", "panel1")
	if err != nil || dev.AuthType != "deviceid" || dev.DeviceType != "alarm" {
		t.Fatalf("after the device was written: %+v, %v", dev, err)
	}
	dev.DeviceType = "changed by a caller"
	if again, err := d.Device("local", "panel1"); err != nil || again.DeviceType != "alarm" || again == dev {
		t.Fatalf("a caller's change reached the next: %+v, %v", again, err)
	}
	if err := db.Delete(c, "panel1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Device("local", "panel1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the device was deleted: %v", err)
	}
}
