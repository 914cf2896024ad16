package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/firmware"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// staticHello builds a small static program to package as the image binary.
func staticHello(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "hello.go")
	os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"hello\") }\n"), 0o644)
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test program: %v\n%s", err, b)
	}
	return out
}

func fw(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"firmware"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestFirmwareCommands(t *testing.T) {
	dir := t.TempDir()
	bin := staticHello(t, dir)
	key, other, root := filepath.Join(dir, "k"), filepath.Join(dir, "other"), filepath.Join(dir, "root")
	img := filepath.Join(dir, "fw.img")

	if c, _, e := fw("keygen", "--out", key); c != 0 {
		t.Fatalf("keygen: %d %s", c, e)
	}
	fw("keygen", "--out", other)
	if st, _ := os.Stat(key + ".key"); st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, want 0600", st.Mode().Perm())
	}
	if c, o, e := fw("build", "--arch", runtime.GOARCH, "--bin", bin, "--key", key+".key", "--version", "3.1.4", "--out", img); c != 0 || !strings.Contains(o, "version 3.1.4") {
		t.Fatalf("build: %d %s %s", c, o, e)
	}
	if c, o, _ := fw("verify", "--pub", key+".pub", "--in", img); c != 0 || !strings.Contains(o, "signature good") {
		t.Fatalf("verify: %d %s", c, o)
	}
	if c, _, e := fw("verify", "--pub", other+".pub", "--in", img); c != 1 || !strings.Contains(e, "signature does not match") {
		t.Fatalf("verify with another key: %d %s", c, e)
	}
	wrong := "arm64"
	if runtime.GOARCH == "arm64" {
		wrong = "arm"
	}
	if c, _, e := fw("verify", "--pub", key+".pub", "--in", img, "--arch", wrong); c != 1 || !strings.Contains(e, "another architecture") {
		t.Fatalf("verify for %s: %d %s", wrong, c, e)
	}
	if c, _, e := fw("build", "--arch", wrong, "--bin", bin, "--key", key+".key", "--out", img+".x"); c != 1 || !strings.Contains(e, "another architecture") {
		t.Fatalf("build of a %s binary as %s: %d %s", runtime.GOARCH, wrong, c, e)
	}
	if c, _, e := fw("apply", "--root", root, "--in", img); c != 1 || !strings.Contains(e, "trusted.pub") {
		t.Fatalf("apply without a trusted key: %d %s", c, e)
	}
	if _, err := os.Stat(filepath.Join(root, "slots")); err == nil {
		t.Fatal("a refused apply wrote slots")
	}
	os.MkdirAll(root, 0o755)
	pub, _ := os.ReadFile(key + ".pub")
	os.WriteFile(filepath.Join(root, "trusted.pub"), pub, 0o644)
	c, o, e := fw("apply", "--root", root, "--in", img)
	if c != 0 || !strings.Contains(o, "write  100% (3/3)") || !strings.Contains(o, "installed 3.1.4") {
		t.Fatalf("apply: %d %s %s", c, o, e)
	}
	c, o, _ = fw("status", "--root", root)
	var st struct {
		Boot  struct{ Active string }
		Slots []struct {
			Name, Version string
			Intact        bool
		}
	}
	if c != 0 || json.Unmarshal([]byte(o), &st) != nil || st.Boot.Active != "a" || !st.Slots[0].Intact || st.Slots[0].Version != "3.1.4" {
		t.Fatalf("status: %d %s", c, o)
	}
	if c, _, e := fw("rollback", "--root", root); c != 1 || !strings.Contains(e, "no other slot") {
		t.Fatalf("rollback with one slot: %d %s", c, e)
	}
	if c, o, _ := fw("confirm", "--root", root); c != 0 || !strings.Contains(o, "confirmed") {
		t.Fatalf("confirm: %d %s", c, o)
	}
	if c, _, _ := fw("frobnicate"); c != 2 {
		t.Fatalf("unknown subcommand: %d", c)
	}
	if c, _, e := fw("build", "--arch", "arm"); c != 2 || !strings.Contains(e, "--key is required") {
		t.Fatalf("missing flag: %d %s", c, e)
	}
}

func TestFirmwareUploadIsForTheAdmin(t *testing.T) {
	const key = "firmware-mount-admin-key-1"
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := &daemon{cfg: serveConfig{dataDir: dir}}
	t.Setenv(firmware.RootEnv, "")
	a, err := api.New(api.Config{Store: db, AdminKeyHash: api.HashKey(key), Firmware: firmwareUpload(d)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a)
	defer srv.Close()
	do := func(method, path, auth string, body string) (int, string) {
		code, b, err := testkit.APIRequest(srv.URL, auth, method, path, body)
		if err != nil {
			t.Fatal(err)
		}
		return code, b
	}
	// A domain's key is a valid key, but not for firmware.
	const domainKey = "a-key-of-domain-local-01"
	if c, b := do("POST", "/provisioning/apiKey/local", key, `{"key":"`+domainKey+`"}`); c != 200 {
		t.Fatalf("apiKey: %d %s", c, b)
	}
	if c, _ := do("GET", "/firmware/status", domainKey, ""); c != http.StatusForbidden {
		t.Fatalf("status with a domain key: %d, want 403", c)
	}
	if c, _ := do("GET", "/firmware/status", "", ""); c != http.StatusUnauthorized {
		t.Fatalf("status without a key: %d", c)
	}
	if c, _ := do("GET", "/firmware/status", "not-the-admin-key-000", ""); c != http.StatusUnauthorized {
		t.Fatalf("status with a wrong key: %d", c)
	}
	if c, b := do("GET", "/firmware/status", key, ""); c != 200 || !strings.Contains(b, `"state":"idle"`) {
		t.Fatalf("status: %d %s", c, b)
	}
	c, b := do("POST", "/firmware", key, "EBFWIMG1 whatever")
	if c != http.StatusServiceUnavailable || !strings.Contains(b, filepath.Join(d.cfg.dataDir, "firmware", "trusted.pub")) {
		t.Fatalf("upload without a trusted key: %d %s", c, b)
	}
	if _, err := os.Stat(filepath.Join(d.cfg.dataDir, "firmware", "slots")); err == nil {
		t.Fatal("a refused upload created slots")
	}
}

// trialRoot installs an image in slot a and leaves it on trial.
func trialRoot(t *testing.T) (string, *firmware.Slots) {
	t.Helper()
	dir := t.TempDir()
	var img bytes.Buffer
	if _, err := firmware.Build(&img, "9.9.9", runtime.GOARCH, time.Now(), []firmware.Input{{Name: firmware.BinaryName, Mode: 0o755, Data: mustRead(t, staticHello(t, dir))}}, nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "i.img")
	os.WriteFile(p, img.Bytes(), 0o644)
	s := &firmware.Slots{Root: filepath.Join(dir, "fw")}
	if _, err := s.Apply(p, nil); err != nil {
		t.Fatal(err)
	}
	return s.Root, s
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFirmwareComponentConfirmsOnlyAHealthyDaemon(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	defer httpLn.Close()
	sipLn, _ := net.Listen("tcp", "127.0.0.1:0")
	sipAddr := sipLn.Addr().String()
	sipLn.Close() // SIP never comes up

	root, s := trialRoot(t)
	log := slog.New(slog.DiscardHandler)
	d := &daemon{cfg: serveConfig{httpAddr: httpLn.Addr().String(), sipAddr: sipAddr}, db: db, log: log}
	failed := make(chan error, 1)
	f := &firmwareComponent{d: d, root: root, confirmWithin: 300 * time.Millisecond, fail: func(err error) { failed <- err }}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, firmware.ErrNotConfirmed) {
			t.Fatalf("fail(%v), want ErrNotConfirmed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an unhealthy trial image was not failed")
	}
	f.Close()
	if st, _ := s.State(); !st.Pending {
		t.Fatal("an unhealthy image was confirmed")
	}

	// With SIP listening the same image confirms.
	sipLn2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sipLn2.Close()
	d.cfg.sipAddr = sipLn2.Addr().String()
	f = &firmwareComponent{d: d, root: root, confirmWithin: 5 * time.Second, fail: func(err error) { failed <- err }}
	f.Start(context.Background())
	testkit.Eventually(10*time.Second, func() bool { st, _ := s.State(); return !st.Pending })
	f.Close()
	if st, _ := s.State(); st.Pending {
		t.Fatal("a healthy trial image was not confirmed")
	}
}

// Each firmware subcommand has its own flags: another's is refused, and -h
// lists only its own.
func TestFirmwareFlagsPerCommand(t *testing.T) {
	dir := t.TempDir()
	if c, _, e := fw("keygen", "--out", filepath.Join(dir, "k"), "--root", dir); c != 2 || !strings.Contains(e, "flag provided but not defined: -root") {
		t.Fatalf("keygen --root: %d %s", c, e)
	}
	if _, err := os.Stat(filepath.Join(dir, "k.key")); err == nil {
		t.Fatal("keygen wrote a key despite the bad flag")
	}
	c, _, e := fw("status", "-h")
	if c != 2 || !strings.Contains(e, "-root") || strings.Contains(e, "-key") || strings.Contains(e, "-out") {
		t.Fatalf("status -h: %d, want only --root and --arch:\n%s", c, e)
	}
	if c, _, e := fw("sign", "--key", "k", "--in", "i"); c != 2 || !strings.Contains(e, "firmware sign: --out is required") {
		t.Fatalf("sign without --out: %d %s", c, e)
	}
}
