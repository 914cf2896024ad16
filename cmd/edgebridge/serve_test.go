package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/edgebridge/edgebridge/internal/testkit"

	"github.com/edgebridge/edgebridge/store"
)

// The daemon tests re-execute this test binary as `edgebridge serve`
// (testkit's child harness): a real process with real sockets that can be
// SIGTERMed and SIGKILLed.
func TestMain(m *testing.M) {
	testkit.ChildMain(map[string]func([]string) int{
		"edgebridge": func(args []string) int { return run(args, os.Stdout, os.Stderr) },
	})
	os.Exit(m.Run())
}

func TestServeFlags(t *testing.T) {
	c, code := parseServe(nil, io.Discard)
	if code != -1 || c.dataDir != "./data" || c.httpAddr != "127.0.0.1:8080" || c.sipAddr != "127.0.0.1:5060" ||
		c.rtpLo != 10000 || c.rtpHi != 10999 || c.hw != "sim" || c.domain != "local" ||
		c.ops.CallQueueCalls != 5 || c.ops.CallQueueWait != 2*time.Minute {
		t.Fatalf("defaults: %+v code %d", c, code)
	}
	for _, bad := range [][]string{
		{"--nope"},
		{"--rtp-ports", "10000"},
		{"--rtp-ports", "20000-10000"},
		{"--rtp-ports", "80-90"},
		{"--hw", "fpga"},
		{"--http", "8080"},
		{"--sip", "example.com:5060"},
		{"--https", "gateway.local:443"},
		{"--console", "ttyS0"},
		{"--admin-key", "short"},
		{"--domain", "a b"},
		{"--advertise", "not a host"},
		{"--advertise", "gw.example.net:0"},
		{"--alert-call-queue-calls", "10"}, // a queue holds 10: more than 10 never happens
		{"--alert-call-queue-calls", "0"},
		{"--alert-call-queue-wait", "5m"}, // a caller waits at most 5m
		{"extra"},
	} {
		var out bytes.Buffer
		if _, code := parseServe(bad, &out); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		} else if out.Len() == 0 {
			t.Errorf("%v: no message", bad)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"serve", "--bogus"}, io.Discard, &out); code != 2 || !strings.Contains(out.String(), "usage: edgebridge serve") {
		t.Fatalf("unknown flag: exit %d, %q", code, out.String())
	}
	t.Setenv("EDGEBRIDGE_ADMIN_KEY", "from-the-environment-123")
	if c, _ := parseServe(nil, io.Discard); c.adminKey != "from-the-environment-123" {
		t.Fatalf("env key not used: %q", c.adminKey)
	}
	if c, _ := parseServe([]string{"--admin-key", "from-the-flag-0123456"}, io.Discard); c.adminKey != "from-the-flag-0123456" {
		t.Fatalf("flag should win over env: %q", c.adminKey)
	}
	for in, want := range map[string]string{"gw.example.net": "gw.example.net", "192.0.2.7:5070": "192.0.2.7:5070", "[2001:db8::1]:5070": "[2001:db8::1]:5070", "2001:db8::1": "2001:db8::1"} {
		if c, code := parseServe([]string{"--advertise", in}, io.Discard); code != -1 || c.advertise != want {
			t.Errorf("--advertise %s: %q (exit %d), want %q", in, c.advertise, code, want)
		}
	}
	if c, _ := parseServe([]string{"--console", "/dev/ttyS1"}, io.Discard); c.console != "/dev/ttyS1" {
		t.Fatalf("console device: %q", c.console)
	}
}

// daemonProc is one running `edgebridge serve` child.
type daemonProc struct {
	cmd    *exec.Cmd
	url    string
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan error
}

var listenRe = regexp.MustCompile(`http listening" addr=(\S+)`)

func startDaemon(t *testing.T, dataDir string, env []string, args ...string) *daemonProc {
	t.Helper()
	cmd := testkit.ChildCommand("edgebridge", append([]string{"serve", "--data", dataDir, "--http", "127.0.0.1:0", "--sip", "127.0.0.1:0", "--console", "off"}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, exited: make(chan error, 1)}
	go func() { err := cmd.Wait(); pw.Close(); d.exited <- err }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.mu.Lock()
			d.stderr.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		d.url = "http://" + addr
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("daemon did not start:\n%s", d.log())
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return d
}

func (d *daemonProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

func (d *daemonProc) req(key, method, path, body string) (int, string, error) {
	return testkit.APIRequest(d.url, key, method, path, body)
}

var keyRe = regexp.MustCompile(`shown ONCE[^\n]*\n\s+(eb_\S+)`)

func TestServeFirstStartKeyAndSIGTERM(t *testing.T) {
	dir := t.TempDir()
	// The banner goes out before the HTTP listener starts, and startDaemon
	// has read up to "http listening": it is in the log already.
	d := startDaemon(t, dir, nil)
	m := keyRe.FindStringSubmatch(d.log())
	if m == nil {
		t.Fatalf("no admin key printed on first start:\n%s", d.log())
	}
	key := m[1]
	if code, _, _ := d.req("", "GET", "/healthz", ""); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, body, _ := d.req(key, "PUT", "/provisioning/device/local", `{"deviceId":"d1","authType":"deviceid"}`); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	if code, _, _ := d.req("", "GET", "/provisioning/device/local", ""); code != 401 {
		t.Fatalf("no key: %d", code)
	}
	// SIGTERM: clean exit (status 0) within 2 s.
	sent := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, d.log())
		}
		t.Logf("shutdown took %v", time.Since(sent))
	case <-time.After(2 * time.Second):
		t.Fatalf("no exit within 2 s of SIGTERM:\n%s", d.log())
	}
	// Second start: the key is not printed again, the old one works, the data is there.
	d2 := startDaemon(t, dir, nil) // read up to "http listening", past where a banner would be
	if strings.Contains(d2.log(), "shown ONCE") || strings.Contains(d2.log(), key) {
		t.Fatalf("key printed again:\n%s", d2.log())
	}
	if code, body, _ := d2.req(key, "GET", "/provisioning/device/local/d1", ""); code != 200 {
		t.Fatalf("after restart: %d %s", code, body)
	}
	_ = d2.cmd.Process.Signal(syscall.SIGINT)
	if err := <-d2.exited; err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
}

// TestServeCrashKeepsAcknowledgedWrites: writes stream in over HTTP, the
// daemon is SIGKILLed in the middle, restarted, and every write that was
// answered 200 is there.
func TestServeCrashKeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	const key = "crash-test-admin-key-01"
	env := []string{"EDGEBRIDGE_ADMIN_KEY=" + key}
	d := startDaemon(t, dir, env)
	var acked []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%05d", w, i)
				code, _, err := d.req(key, "PUT", "/provisioning/device/local", `{"deviceId":"`+id+`","authType":"credentials","description":"crash"}`)
				if err != nil {
					return // the daemon is gone
				}
				if code == 200 {
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}(w)
	}
	// Killed mid-stream, once a good number of writes were answered.
	testkit.WaitFor(t, "100 acknowledged writes", 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 100 })
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}
	d2 := startDaemon(t, dir, env)
	for _, id := range acked {
		if code, body, err := d2.req(key, "GET", "/provisioning/device/local/"+id, ""); code != 200 {
			t.Fatalf("acknowledged device %s lost after SIGKILL: %d %s %v", id, code, body, err)
		}
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(acked))
}

// --console auto takes stdin only when it is a terminal: /dev/null (systemd,
// CI, a daemon started in the background) is a character device, not one.
func TestServeConsoleAutoNeedsATerminal(t *testing.T) {
	saved := os.Stdin
	defer func() { os.Stdin = saved }()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	os.Stdin = null
	if c, _ := parseServe(nil, io.Discard); c.console != "off" {
		t.Fatalf("stdin /dev/null: console %q, want off", c.console)
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	os.Stdin = tty
	if c, _ := parseServe(nil, io.Discard); c.console != "stdio" {
		t.Fatalf("stdin a terminal: console %q, want stdio", c.console)
	}
}

// The console's factory-reset erases the configuration, keeps queued alarms
// (store test) and stops the daemon so its service manager restarts it.
func TestFactoryResetRestartsTheDaemon(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dev := store.Coll{Domain: "local", Resource: "device"}
	if err := db.Put(dev, "1234", []byte(`{"deviceId":"1234"}`)); err != nil {
		t.Fatal(err)
	}
	var stopped error
	d := &daemon{db: db, log: slog.New(slog.NewTextHandler(io.Discard, nil)), fail: func(err error) { stopped = err }}
	if err := d.factoryReset(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(dev, "1234"); err == nil {
		t.Fatal("device kept after a factory reset")
	}
	if stopped == nil {
		t.Fatal("the daemon was not stopped for its restart")
	}
}
