package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestDiskFullAnswered507AndReported runs the daemon on a 2 MB tmpfs and
// fills it: REST writes answer 507 with the reason and change nothing,
// /healthz and the console's status say the store is unwritable, the log
// says so once however many writes fail; once there is room again the
// gateway notices by itself, /healthz is 200 again and the outage is
// queued as a supervision alarm (it shows among the recent alarms).
func TestDiskFullAnswered507AndReported(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a test that mounts a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a 2 MB tmpfs to fill (needs root, as make deps does): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	const key = "diskfull-admin-key-0123"
	// --store-min-free 1: the small disk alone raises no store-nearly-full
	// supervision event, which would stand in for the outage's below.
	d := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 20), "--store-min-free", "1")
	if code, body, err := d.req(key, "POST", "/provisioning/device/local", `{"deviceId":"1234","authType":"deviceid"}`); err != nil || code != 200 {
		t.Fatalf("device before the disk fills: %d %s %v", code, body, err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	desc := strings.Repeat("x", 190)
	var code int
	var body string
	for i := 0; i < 5000; i++ {
		code, body, err = d.req(key, "POST", "/provisioning/device/local", fmt.Sprintf(`{"deviceId":"d%d","authType":"deviceid","description":"%s"}`, i, desc))
		if err != nil {
			t.Fatal(err)
		}
		if code != 200 {
			break
		}
	}
	if code != 507 || !strings.Contains(body, "no space left on device") {
		t.Fatalf("write on a full disk: %d %s, want 507 with the reason", code, body)
	}
	for i := 0; i < 5; i++ {
		d.req(key, "POST", "/provisioning/device/local", `{"deviceId":"again`+fmt.Sprint(i)+`","authType":"deviceid","description":"`+desc+`"}`)
	}
	if code, body, _ := d.req("", "GET", "/healthz", ""); code != 503 || !strings.Contains(body, "store unwritable") {
		t.Fatalf("/healthz on a full disk: %d %s", code, body)
	}
	if n := strings.Count(d.log(), "store unwritable: the disk refuses writes"); n != 1 {
		t.Fatalf("%d log lines for the full disk, want 1:\n%s", n, d.log())
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "/healthz 200 once there is room", 15*time.Second, func() bool {
		code, _, _ := d.req("", "GET", "/healthz", "")
		return code == 200
	})
	if !testkit.Eventually(10*time.Second, func() bool {
		_, body, _ := d.req(key, "GET", "/gateway/alarms/recent", "")
		return strings.Contains(body, `"protocol":"supervision"`)
	}) {
		t.Fatalf("the outage is not among the recent alarms:\n%s", d.log())
	}
	if code, body, _ := d.req(key, "GET", "/provisioning/device/local/1234", ""); code != 200 {
		t.Fatalf("the device written before: %d %s", code, body)
	}
	// The store-unwritable alert, raised once while the disk was full (kept
	// until the store took it) and cleared once, is listed.
	_, body, _ = d.req(key, "GET", "/provisioning/alerts/local?alert_type=store-unwritable", "")
	var alerts struct {
		Data []struct {
			Cleared bool `json:"cleared"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &alerts); err != nil || len(alerts.Data) != 2 || !alerts.Data[0].Cleared || alerts.Data[1].Cleared {
		t.Fatalf("store-unwritable alerts %s, want one raised then one cleared (newest first)", body)
	}
}
