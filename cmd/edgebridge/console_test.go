package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/api/console"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/hal"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// TestConsoleCommandAgainstDaemonAPI runs `edgebridge console --port PTY
// --api URL` against a real API over HTTP: the standalone console and the
// in-process one run the same operations.
func TestConsoleCommandAgainstDaemonAPI(t *testing.T) {
	const key = "console-cmd-test-admin-key"
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, _, _ := api.EnsureAdminKey(db, key)
	a, err := api.New(api.Config{Store: db, AdminKeyHash: hash, Version: "cmdtest"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a)
	defer srv.Close()
	req, _ := http.NewRequest("PUT", srv.URL+"/provisioning/device/site9", strings.NewReader(`{"deviceId":"77","authType":"deviceid"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("creating a device: %v %v", err, resp)
	}

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out, errb bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"console", "--port", tty.Name(), "--baud", "9600", "--api", srv.URL, "--key", key}, &out, &errb)
	}()
	var mu sync.Mutex
	var seen bytes.Buffer
	var stop atomic.Bool
	readerDone := make(chan struct{})
	go func() {
		// The pty master is not pollable: Close does not end a Read, so
		// the reader stops on a flag after its next read instead.
		defer close(readerDone)
		b := make([]byte, 1024)
		for !stop.Load() {
			n, err := ptmx.Read(b)
			mu.Lock()
			seen.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(want string) {
		t.Helper()
		if testkit.Eventually(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(seen.String(), want) }) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("waited for %q; the console showed %q", want, seen.String())
	}
	waitFor("> ") // --key given: no login prompt
	ptmx.Write([]byte("set device site9 77 description boiler\r"))
	waitFor("site9 77 description set.")
	ptmx.Write([]byte("show device site9 77 description\r"))
	waitFor(`"boiler"`)
	ptmx.Write([]byte("status\r"))
	waitFor("health         ok")
	stop.Store(true)
	ptmx.Write([]byte("help\r"))
	<-readerDone
	ptmx.Close() // the cable is pulled: the console ends
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("console exited %d: %s", c, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("console did not end when its port went away")
	}
	// And the change is in the daemon's store, made through its REST API.
	_, b, err := testkit.APIRequest(srv.URL, key, "GET", "/provisioning/device/site9/77", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b, `"description":"boiler"`) {
		t.Fatalf("device after the console's set: %s", b)
	}
}

func TestConsoleCommandFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if c := run([]string{"console"}, &out, &errb); c != 2 || !strings.Contains(errb.String(), "usage: edgebridge console --port") {
		t.Fatalf("no --port: %d %q", c, errb.String())
	}
	errb.Reset()
	if c := run([]string{"console", "--port", "stdio", "--api", "ftp://x"}, &out, &errb); c != 2 || !strings.Contains(errb.String(), "--api") {
		t.Fatalf("bad --api: %d %q", c, errb.String())
	}
	errb.Reset()
	if c := run([]string{"console", "--port", "/dev/no-such-tty"}, &out, &errb); c != 1 || !strings.Contains(errb.String(), "no-such-tty") {
		t.Fatalf("missing port: %d %q", c, errb.String())
	}
}

func TestDaemonLoggerFeedsTheRing(t *testing.T) {
	var w bytes.Buffer
	log := newDaemonLogger(&w, "stdio")
	log.Info("registered", "device", "1001")
	log.Error("store failed")
	ring, ok := log.Handler().(*console.LogRing)
	if !ok {
		t.Fatalf("handler is %T, want the console's ring", log.Handler())
	}
	lines := ring.Tail(slog.LevelDebug, 10)
	if len(lines) != 2 || lines[0].Text != "registered device=1001" {
		t.Fatalf("ring holds %v", lines)
	}
	if strings.Contains(w.String(), "registered") || !strings.Contains(w.String(), "store failed") {
		t.Fatalf("with the console on stdio only errors reach the terminal: %q", w.String())
	}
}

func TestConsoleComponentOnAPty(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, _, _ := api.EnsureAdminKey(db, "component-test-admin-key-1")
	a, err := api.New(api.Config{Store: db, AdminKeyHash: hash, Version: "comp"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d := &daemon{cfg: serveConfig{console: tty.Name() + "@bogus", dataDir: t.TempDir()}, log: slog.New(slog.DiscardHandler), apiCfg: api.Config{AdminKeyHash: hash}}
	c := &consoleComponent{d: d, HTTP: &httpComponent{handler: a}}
	if err := c.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "speed") {
		t.Fatalf("bad speed: %v", err)
	}
	d.cfg.console = tty.Name() + "@9600"
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		var all []byte
		b := make([]byte, 512)
		for {
			n, err := ptmx.Read(b)
			all = append(all, b[:n]...)
			if strings.Contains(string(all), "admin key: ") || err != nil {
				got <- string(all)
				return
			}
		}
	}()
	select {
	case out := <-got:
		if !strings.Contains(out, "edgebridge "+version+" field console") {
			t.Fatalf("banner: %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no console on the port")
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the console")
	}
	ptmx.Close()
}

func TestLineDigitsFeedTheConsole(t *testing.T) {
	b, err := hal.Open("sim", hal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	digits, cancel := lineDigits{b.Line}.SubscribeDigits()
	pcm, _ := dsp.AppendDTMF(make([]int16, 800), "7", dsp.DefaultDTMFGen())
	pcm = append(pcm, make([]int16, 1600)...)
	raw := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		raw[2*i], raw[2*i+1] = byte(s), byte(uint16(s)>>8)
	}
	b.Sim.Line.Dial(bytes.NewReader(raw), io.Discard, nil)
	call, _ := b.Line.Answer()
	frame := make([]int16, 160)
	for call.ReadFrame(frame) == nil {
	}
	select {
	case d := <-digits:
		if d.Key != '7' || d.CallID != "fxs" || d.DurationMs < 60 {
			t.Fatalf("digit %+v", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no digit reached the console")
	}
	cancel()
	cancel() // twice is fine
}

func TestConsoleRebootOnAPCStopsTheDaemon(t *testing.T) {
	var stopped error
	d := &daemon{cfg: serveConfig{hw: "sim"}, log: slog.New(slog.DiscardHandler), fail: func(err error) { stopped = err }}
	c := &consoleComponent{d: d}
	if err := c.reboot(); err != nil || stopped == nil || !strings.Contains(stopped.Error(), "reboot") {
		t.Fatalf("reboot: %v, daemon stopped with %v", err, stopped)
	}
}
