package console

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/api/metrics"
	"github.com/edgebridge/edgebridge/firmware"
	"github.com/edgebridge/edgebridge/hal"
	"github.com/edgebridge/edgebridge/store"
	"periph.io/x/conn/v3/gpio"
)

const adminKey = "console-test-admin-key-42"

// terminal is the technician's end of the pty: what they type and see.
type terminal struct {
	t   *testing.T
	f   io.ReadWriter
	mu  sync.Mutex
	buf bytes.Buffer
	got chan struct{}
}

func (term *terminal) readLoop() {
	b := make([]byte, 4096)
	for {
		n, err := term.f.Read(b)
		if n > 0 {
			term.mu.Lock()
			term.buf.Write(b[:n])
			term.mu.Unlock()
			select {
			case term.got <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

func (term *terminal) typ(s string) {
	term.t.Helper()
	if _, err := term.f.Write([]byte(s)); err != nil {
		term.t.Fatal(err)
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// expect waits until want has appeared and consumes output up to it; it
// returns the text before it, with escape sequences removed.
func (term *terminal) expect(want string) string {
	term.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		term.mu.Lock()
		text := term.buf.String()
		if i := strings.Index(text, want); i >= 0 {
			term.buf.Next(i + len(want))
			term.mu.Unlock()
			return ansi.ReplaceAllString(text[:i], "")
		}
		term.mu.Unlock()
		select {
		case <-term.got:
		case <-deadline:
			term.t.Fatalf("waited 10 s for %q; the console showed:\n%q", want, text)
		}
	}
}

// keys types raw keys ending in Enter and returns the output up to the
// next prompt (past the redraws of the line being edited).
func (term *terminal) keys(k string) string {
	term.t.Helper()
	term.typ(k)
	term.expect("\r\n")
	return term.expect("gw> ")
}

// run types a command and returns its output up to the next prompt.
func (term *terminal) run(cmd string) string {
	term.t.Helper()
	term.typ(cmd + "\r")
	term.expect(cmd)
	return strings.TrimPrefix(term.expect("gw> "), "\r\n")
}

type testAlarms struct{ retried int }

func (a *testAlarms) RecentAlarms(n int) []AlarmInfo {
	return []AlarmInfo{{ID: "ev1", Account: "1234", Protocol: "contactid", Code: "130", Zone: "015", State: "delivered", At: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC), Attempts: 1}}
}
func (a *testAlarms) QueuedAlarms() []AlarmInfo { return nil }
func (a *testAlarms) RetryNow() (int, error)    { a.retried++; return 2, nil }

type testDigits struct{ ch chan Digit }

func (d *testDigits) SubscribeDigits() (<-chan Digit, func()) { return d.ch, func() {} }

// minimalELF is a static ELF header for this machine, enough for the
// firmware builder's architecture check.
func minimalELF() []byte {
	var b bytes.Buffer
	mach := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	binary.Write(&b, binary.LittleEndian, []uint16{uint16(elf.ET_EXEC), uint16(mach)})
	binary.Write(&b, binary.LittleEndian, uint32(1))
	binary.Write(&b, binary.LittleEndian, [3]uint64{})
	binary.Write(&b, binary.LittleEndian, uint32(0))
	binary.Write(&b, binary.LittleEndian, [6]uint16{64, 56, 0, 64, 0, 0})
	b.Write(make([]byte, 32<<10))
	return b.Bytes()
}

// gateway is the operation layer the console drives: the real API over a
// real store, /metrics, and the firmware upload handler mounted beside it
// as serve mounts it.
func gateway(t *testing.T) (http.Handler, *store.DB, *firmware.Slots) {
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hash, _, err := api.EnsureAdminKey(db, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.NewGateway(metrics.Sources{
		Registrations: metrics.RegistrationsFunc(func() int { return 7 }),
		Trunks:        metrics.TrunksFunc(func() []metrics.TrunkState { return []metrics.TrunkState{{Name: "arc", Up: true}} }),
		Alarms:        metrics.AlarmsFunc(func() metrics.AlarmCounts { return metrics.AlarmCounts{Received: 5, Delivered: 3, Queued: 2} }),
		Store:         db,
	})
	a, err := api.New(api.Config{Store: db, AdminKeyHash: hash, Metrics: m, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	slots := &firmware.Slots{Root: filepath.Join(dir, "fw")}
	fw := firmware.NewUploadHandler(slots)
	mux := http.NewServeMux()
	mux.Handle("/", a)
	fwAuth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+adminKey {
			http.Error(w, `{"success":false,"reason":"bad key"}`, http.StatusUnauthorized)
			return
		}
		fw.ServeHTTP(w, r)
	})
	mux.Handle("/firmware", fwAuth)
	mux.Handle("/firmware/status", fwAuth)
	return mux, db, slots
}

func TestConsoleOverSerialPty(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	// The gateway's end is opened as a serial port, as on the device.
	port, err := OpenSerial(tty.Name(), 115200)
	if err != nil {
		t.Fatal(err)
	}
	handler, _, _ := gateway(t)
	ring := NewLogRing(100, nil)
	log := slog.New(ring)
	log.Info("boot complete", "slot", "a")
	alarms := &testAlarms{}
	digits := &testDigits{ch: make(chan Digit, 4)}
	resets := 0
	board, err := hal.Open("sim", hal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer board.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, port, Config{API: handler, Version: "1.2.3", Hostname: "gw", Alarms: alarms, Digits: digits, Logs: ring, Board: board,
			FactoryReset: func() error { resets++; return nil }, TLSFingerprint: func() string { return "AB:CD:EF" }})
	}()
	term := &terminal{t: t, f: ptmx, got: make(chan struct{}, 1)}
	go term.readLoop()

	// Log in: a wrong key is refused, the admin key accepted.
	term.expect("admin key: ")
	term.typ("not-the-key\r")
	term.expect("wrong key.")
	term.expect("admin key: ")
	term.typ(adminKey + "\r")
	if out := term.expect("gw> "); strings.Contains(out, adminKey) {
		t.Fatalf("the key was echoed: %q", out)
	}

	out := term.run("help")
	for _, c := range []string{"status", "show RESOURCE DOMAIN", "set RESOURCE DOMAIN ID FIELD VALUE", "dtmf listen", "log tail", "firmware status|apply FILE", "factory-reset"} {
		if !strings.Contains(out, c) {
			t.Errorf("help lacks %q:\n%s", c, out)
		}
	}
	if out := term.run("set help"); !strings.Contains(out, "usage: set RESOURCE DOMAIN ID FIELD VALUE") || !strings.Contains(out, "JSON Patch") {
		t.Errorf("set help:\n%s", out)
	}

	// Configuration goes through the REST operations.
	req, _ := http.NewRequest("PUT", "/provisioning/device/site1", strings.NewReader(`{"deviceId":"1001","authType":"deviceid"}`))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	rec := &recorder{h: http.Header{}}
	handler.ServeHTTP(rec, req)
	if rec.code != 200 {
		t.Fatalf("creating a device: %d %s", rec.code, rec.body.String())
	}
	if out := term.run("show device site1 1001"); !strings.Contains(out, `"deviceId": "1001"`) {
		t.Errorf("show device:\n%s", out)
	}
	if out := term.run("set device site1 1001 description 'hall way'"); !strings.Contains(out, "set.") {
		t.Errorf("set description:\n%s", out)
	}
	if out := term.run("show device site1 1001 description"); strings.TrimSpace(out) != `"hall way"` {
		t.Errorf("description after set: %q", out)
	}
	out = term.run("set device site1 1001 authType bogus")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], "authType") {
		t.Errorf("a refused set is not one plain line naming the field: %q", out)
	}
	if out := term.run("show device site1 1001 authType"); strings.TrimSpace(out) != `"deviceid"` {
		t.Errorf("a refused set changed the device: %q", out)
	}
	if out := term.run("show device site1 nobody"); !strings.HasPrefix(strings.TrimSpace(out), "error: not found") {
		t.Errorf("missing device: %q", out)
	}

	// Line editing: backspace, arrows, ctrl-a/e, ctrl-u, ctrl-w, tab, history.
	out = term.keys("helq\x7fp set\r")
	if !strings.Contains(out, "usage: set") {
		t.Errorf("backspace: %q", out)
	}
	out = term.keys("hep\x1b[Dl\x1b[C status\r") // left arrow, insert, right arrow
	if !strings.Contains(out, "usage: status") {
		t.Errorf("left arrow: %q", out)
	}
	out = term.keys("elp net\x01h\x05\r") // ctrl-a, type, ctrl-e
	if !strings.Contains(out, "usage: net") {
		t.Errorf("ctrl-a: %q", out)
	}
	out = term.keys("rm -rf everything\x15help log\r") // ctrl-u
	if !strings.Contains(out, "usage: log tail") || strings.Contains(out, "unknown command") {
		t.Errorf("ctrl-u: %q", out)
	}
	out = term.keys("help calls alarms\x17\x17dtmf\r") // ctrl-w twice
	if !strings.Contains(out, "usage: dtmf listen") {
		t.Errorf("ctrl-w: %q", out)
	}
	term.typ("fact\t\r") // tab completes the command
	term.expect("Type 'erase everything' to go on: ")
	term.typ("no\r")
	term.expect("cancelled.")
	term.expect("gw> ")
	if resets != 0 {
		t.Fatal("factory reset ran without confirmation")
	}
	term.typ("\x1b[A\r") // up: the confirmation answer is not in the history
	term.expect("Type 'erase everything' to go on: ")
	term.typ("erase everything\r")
	term.expect("resetting to factory state.")
	term.expect("gw> ")
	if resets != 1 {
		t.Fatalf("factory reset ran %d times, want 1", resets)
	}
	out = term.keys("\x1b[A\x1b[A\x1b[A\x1b[B\r") // up 3 (factory-reset, help dtmf, help log), down 1
	if !strings.Contains(out, "usage: dtmf listen") {
		t.Errorf("history browsing: %q", out)
	}
	term.typ("show dev\t")
	term.expect("device ")
	term.typ("\x15\r")
	term.expect("gw> ")

	// status reads /healthz and /metrics through the same handler.
	out = term.run("status")
	for _, want := range []string{"version        1.2.3", "health         ok", "registrations  7", "trunks         arc up", "alarm queue    2", "calls          not wired", "firmware       no image in the slots", "contactid", "https sha256   AB:CD:EF"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if out := term.run("alarms retry"); !strings.Contains(out, "2 queued events retrying now.") || alarms.retried != 1 {
		t.Errorf("alarms retry: %q", out)
	}
	if out := term.run("calls"); strings.TrimSpace(out) != "error: call control is not available on this gateway build" {
		t.Errorf("unwired calls: %q", out)
	}
	if out := term.run("frobnicate"); !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %q", out)
	}

	// Streams: digits as they come, stopped by a key.
	term.typ("dtmf listen\r")
	term.expect("press any key to stop.")
	digits.ch <- Digit{Key: '5', CallID: "fxs", DurationMs: 60}
	digits.ch <- Digit{Key: '#', CallID: "fxs", DurationMs: 80}
	term.expect("5  60 ms  call fxs")
	term.expect("#  80 ms  call fxs")
	term.typ("q")
	term.expect("gw> ")

	term.typ("log tail warn\r")
	term.expect("-- following; press any key to stop --")
	log.Info("quiet detail")
	log.Warn("trunk down", "trunk", "arc")
	term.expect("WARN  trunk down trunk=arc")
	term.typ(" ")
	if out := term.expect("gw> "); strings.Contains(out, "quiet detail") {
		t.Errorf("info line shown at warn level: %q", out)
	}

	// Firmware through /firmware and /firmware/status, with progress.
	if out := term.run("firmware status"); !strings.Contains(out, "no image installed") {
		t.Errorf("firmware status before: %q", out)
	}
	img := filepath.Join(t.TempDir(), "fw.img")
	var ib bytes.Buffer
	if _, err := firmware.Build(&ib, "2.0.0", runtime.GOARCH, time.Now(), []firmware.Input{{Name: firmware.BinaryName, Mode: 0o755, Data: minimalELF()}}, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(img, ib.Bytes(), 0o644)
	if out := term.run("firmware apply " + img); !strings.Contains(out, "installed 2.0.0") {
		t.Errorf("firmware apply: %q", out)
	}
	if out := term.run("firmware status"); !strings.Contains(out, "slot a         2.0.0 "+runtime.GOARCH+", intact") || !strings.Contains(out, "on trial") {
		t.Errorf("firmware status after: %q", out)
	}
	if out := term.run("status"); !strings.Contains(out, "firmware       boot slot a: 2.0.0, ON TRIAL") {
		t.Errorf("status after an update: %q", out)
	}
	if out := term.run("firmware apply /no/such/file.img"); !strings.HasPrefix(strings.TrimSpace(out), "error: cannot read /no/such/file.img") {
		t.Errorf("missing image: %q", out)
	}

	// The hardware: the technician opens the case and tries the relay.
	board.Sim.Pins["Tamper"].Drive(gpio.High)
	if out := term.run("hw"); !strings.Contains(out, "tamper         OPEN") || !strings.Contains(out, "relay          released") || !strings.Contains(out, "line           on hook") {
		t.Errorf("hw:\n%s", out)
	}
	if out := term.run("relay on"); !strings.Contains(out, "relay on.") || !bool(board.Sim.Pins["Relay"].Level()) {
		t.Errorf("relay on: %q, pin %v", out, board.Sim.Pins["Relay"].Level())
	}
	if out := term.run("relay sideways"); strings.TrimSpace(out) != "error: usage: relay on|off" {
		t.Errorf("relay sideways: %q", out)
	}

	// ctrl-d logs out; the next line asks for the key again.
	term.typ("\x04")
	term.expect("logged out.")
	term.expect("admin key: ")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestKeyDecoder(t *testing.T) {
	var d keyDecoder
	var got []string
	for _, b := range []byte("a\r\n\x1b[A\x1b[3~\x1bOH\x1b[1;5C\x7f\tå") {
		for _, k := range d.feed(b) {
			if k.r != 0 {
				got = append(got, string(k.r))
			} else {
				got = append(got, fmt.Sprint(k.code))
			}
		}
	}
	want := fmt.Sprint([]string{"a", fmt.Sprint(kEnter), fmt.Sprint(kUp), fmt.Sprint(kDelete), fmt.Sprint(kHome), fmt.Sprint(kRight), fmt.Sprint(kBackspace), fmt.Sprint(kTab), "å"})
	if fmt.Sprint(got) != want {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

func FuzzKeyDecoder(f *testing.F) {
	f.Add([]byte("\x1b[1;5C\x1b[3~abc\r\n"))
	f.Add([]byte("\xc3\xa5\x1bO"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d keyDecoder
		var e lineEditor
		for _, b := range in {
			for _, k := range d.feed(b) {
				e.apply(k)
				if e.pos < 0 || e.pos > len(e.buf) {
					t.Fatalf("cursor %d outside line of %d", e.pos, len(e.buf))
				}
			}
		}
	})
}

func TestSplitArgs(t *testing.T) {
	got := splitArgs(`set device d 1 description "hall way" 'a b'`)
	if len(got) != 7 || got[5] != "hall way" || got[6] != "a b" {
		t.Fatalf("%q", got)
	}
}

func FuzzSplitArgs(f *testing.F) {
	f.Add(`set device d 1 description "hall way" 'a b'`)
	f.Add(`"unterminated`)
	f.Fuzz(func(t *testing.T, line string) {
		for _, a := range splitArgs(line) {
			if a == "" && !strings.ContainsAny(line, `"'`) {
				t.Fatalf("empty word from %q without quotes", line)
			}
		}
	})
}

func FuzzParseMetrics(f *testing.F) {
	f.Add("# HELP a b\n# TYPE a gauge\na 1\nb{x=\"y z\"} 2\n")
	f.Fuzz(func(t *testing.T, text string) {
		for k, v := range parseMetrics(text) {
			if strings.Contains(v, " ") || strings.HasPrefix(k, "#") {
				t.Fatalf("series %q value %q", k, v)
			}
		}
	})
}

func TestIdleLogout(t *testing.T) {
	handler, _, _ := gateway(t)
	gw, tech := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, gw, Config{API: handler, Hostname: "gw", IdleLogout: 200 * time.Millisecond})
	}()
	term := &terminal{t: t, f: tech, got: make(chan struct{}, 1)}
	go term.readLoop()
	term.expect("admin key: ")
	tech.Write([]byte(adminKey + "\r"))
	term.expect("gw> ")
	term.expect("logged out after 200ms without input.")
	term.expect("admin key: ")
	cancel()
	tech.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
