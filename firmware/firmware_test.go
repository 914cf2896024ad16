package firmware

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// fakeELF is a minimal static executable header for machine, padded with
// size bytes of noise so images are big enough to cut in many places.
func fakeELF(machine elf.Machine, size int, seed int64) []byte {
	var b bytes.Buffer
	is64 := machine == elf.EM_AARCH64 || machine == elf.EM_X86_64
	ident := [16]byte{0x7f, 'E', 'L', 'F', 1, 1, 1}
	if is64 {
		ident[4] = 2
	}
	b.Write(ident[:])
	le := binary.LittleEndian
	binary.Write(&b, le, uint16(elf.ET_EXEC))
	binary.Write(&b, le, uint16(machine))
	binary.Write(&b, le, uint32(1))
	if is64 {
		binary.Write(&b, le, [3]uint64{}) // entry, phoff, shoff
		binary.Write(&b, le, uint32(0))   // flags
		binary.Write(&b, le, [6]uint16{64, 56, 0, 64, 0, 0})
	} else {
		binary.Write(&b, le, [3]uint32{})
		binary.Write(&b, le, uint32(0x05000000))
		binary.Write(&b, le, [6]uint16{52, 32, 0, 40, 0, 0})
	}
	noise := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(noise)
	b.Write(noise)
	return b.Bytes()
}

type fixture struct {
	t        *testing.T
	dir      string
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	otherKey ed25519.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	return &fixture{t: t, dir: t.TempDir(), key: key, pub: pub, otherKey: other}
}

// image builds a signed image for arch and returns its path.
func (f *fixture) image(version, arch string, key ed25519.PrivateKey) string {
	f.t.Helper()
	mach := map[string]elf.Machine{"arm": elf.EM_ARM, "arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}[arch]
	var buf bytes.Buffer
	_, err := Build(&buf, version, arch, time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC), []Input{
		{Name: BinaryName, Mode: 0o755, Data: fakeELF(mach, 64<<10, int64(len(version)))},
		{Name: "edgebridge.service", Mode: 0o644, Data: SystemdUnit},
		{Name: "init.d/edgebridge", Mode: 0o755, Data: ProcdInit},
	}, key)
	if err != nil {
		f.t.Fatal(err)
	}
	p := filepath.Join(f.dir, version+"-"+arch+".img")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func (f *fixture) slots() *Slots {
	return &Slots{Root: filepath.Join(f.dir, "root"), Pub: f.pub, Arch: "arm"}
}

func TestBuildVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	img, err := VerifyFile(f.image("1.0.0", "arm", f.key), f.pub, "arm")
	if err != nil {
		t.Fatal(err)
	}
	m := img.Manifest
	if m.Version != "1.0.0" || m.Arch != "arm" || !img.Signed || len(m.Files) != 3 || m.Created.Year() != 2026 || len(m.PayloadSHA256) != 64 {
		t.Fatalf("manifest %+v signed=%v", m, img.Signed)
	}
}

func TestVerifyRefusesBadImages(t *testing.T) {
	f := newFixture(t)
	good, _ := os.ReadFile(f.image("1.0.0", "arm", f.key))
	unsigned, _ := os.ReadFile(f.image("1.0.1", "arm", nil))
	wrongKey, _ := os.ReadFile(f.image("1.0.2", "arm", f.otherKey))
	arm64, _ := os.ReadFile(f.image("1.0.3", "arm64", f.key))
	flip := func(b []byte, at int) []byte { c := bytes.Clone(b); c[at] ^= 0x01; return c }
	mlen := int(binary.BigEndian.Uint32(good[8:]))
	manifestVersion := 12 + bytes.Index(good[12:12+mlen], []byte("1.0.0"))

	cases := []struct {
		name string
		img  []byte
		want error
		text string
	}{
		{"signature byte flipped", flip(good, len(good)-1), ErrBadSignature, ""},
		{"manifest altered", flip(good, manifestVersion+4), ErrBadSignature, ""},
		{"payload byte flipped", flip(good, 12+mlen+5000), nil, "sha256"},
		{"wrong key", wrongKey, ErrBadSignature, ""},
		{"unsigned", unsigned, ErrUnsigned, ""},
		{"wrong architecture", arm64, ErrWrongArch, ""},
		{"not an image", []byte("#!/bin/sh\nrm -rf /\n"), nil, "magic"},
		{"trailing garbage", append(bytes.Clone(good), make([]byte, 100)...), nil, "unexpected bytes"},
	}
	for _, c := range cases {
		_, err := Verify(bytes.NewReader(c.img), int64(len(c.img)), f.pub, "arm")
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) || (c.text != "" && !strings.Contains(err.Error(), c.text)) {
			t.Errorf("%s: err = %v, want %v %q", c.name, err, c.want, c.text)
		}
	}
	// Every truncation fails: cut in the header, the manifest, the payload
	// and the signature.
	for _, n := range []int{0, 5, 11, 12, 12 + mlen/2, 12 + mlen, len(good) / 2, len(good) - 68, len(good) - 30, len(good) - 1} {
		_, err := Verify(bytes.NewReader(good[:n]), int64(n), f.pub, "arm")
		if err == nil {
			t.Errorf("image cut to %d of %d bytes verified", n, len(good))
		}
	}
}

func TestBuildRefusesWrongBinary(t *testing.T) {
	var buf bytes.Buffer
	_, err := Build(&buf, "x", "arm", time.Now(), []Input{{Name: BinaryName, Data: fakeELF(elf.EM_AARCH64, 10, 1)}}, nil)
	if !errors.Is(err, ErrWrongArch) {
		t.Fatalf("arm64 binary in an arm image: %v", err)
	}
	_, err = Build(&buf, "x", "arm", time.Now(), []Input{{Name: BinaryName, Data: []byte("hello")}}, nil)
	if err == nil || !strings.Contains(err.Error(), "ELF") {
		t.Fatalf("non-ELF binary: %v", err)
	}
	_, err = Build(&buf, "x", "arm", time.Now(), []Input{{Name: "../etc/passwd", Data: nil}}, nil)
	if err == nil || !strings.Contains(err.Error(), "../etc/passwd") {
		t.Fatalf("escaping path: %v", err)
	}
}

func TestSignReplacesSignature(t *testing.T) {
	f := newFixture(t)
	unsigned, _ := os.ReadFile(f.image("2.0.0", "arm", nil))
	var out bytes.Buffer
	if err := Sign(&out, bytes.NewReader(unsigned), int64(len(unsigned)), f.key); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(bytes.NewReader(out.Bytes()), int64(out.Len()), f.pub, "arm"); err != nil {
		t.Fatalf("signed image: %v", err)
	}
	var re bytes.Buffer
	Sign(&re, bytes.NewReader(out.Bytes()), int64(out.Len()), f.otherKey)
	if re.Len() != out.Len() {
		t.Fatalf("re-signing changed the length %d -> %d", out.Len(), re.Len())
	}
	if _, err := Verify(bytes.NewReader(re.Bytes()), int64(re.Len()), f.pub, "arm"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("re-signed with another key: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePublicKey(pub)
	if err != nil || !p.Equal(k.Public()) {
		t.Fatalf("public key does not match private: %v", err)
	}
	if p2, err := ParsePublicKey(priv); err != nil || !p2.Equal(p) {
		t.Fatal("public half of a private key file")
	}
	if _, err := ParsePrivateKey(pub); err == nil {
		t.Fatal("public key accepted as private")
	}
}

func listTree(t *testing.T, root string) []string {
	var out []string
	filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { out = append(out, p); return nil })
	return out
}

func TestApplyWritesNothingForABadImage(t *testing.T) {
	f := newFixture(t)
	s := f.slots()
	os.MkdirAll(s.Root, 0o755)
	for _, p := range []string{f.image("9", "arm", f.otherKey), f.image("9", "arm64", f.key)} {
		if _, err := s.Apply(p, nil); err == nil {
			t.Fatalf("%s applied", p)
		}
		if got := listTree(t, s.Root); len(got) != 1 {
			t.Fatalf("a refused image wrote %v", got)
		}
	}
}

// install puts v1 in slot a, confirmed, as a device in the field has it.
func install(t *testing.T, f *fixture, s *Slots) {
	t.Helper()
	if _, err := s.Apply(f.image("1.0.0", "arm", f.key), nil); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Boot(); err != nil || d.Slot != "a" || !d.Trial {
		t.Fatalf("first boot %+v %v", d, err)
	}
	if err := s.Confirm(); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateConfirmAndRollback(t *testing.T) {
	f := newFixture(t)
	s := f.slots()
	install(t, f, s)
	var steps []string
	m, err := s.Apply(f.image("2.0.0", "arm", f.key), func(p Progress) {
		if len(steps) == 0 || steps[len(steps)-1] != p.Step {
			steps = append(steps, p.Step)
		}
	})
	if err != nil || m.Version != "2.0.0" {
		t.Fatal(err)
	}
	if got := strings.Join(steps, ","); got != "verify,write,sync,switch,done" {
		t.Fatalf("progress steps %s", got)
	}
	if _, err := s.Apply(f.image("3.0.0", "arm", f.key), nil); !errors.Is(err, ErrPending) {
		t.Fatalf("apply over an unconfirmed image: %v", err)
	}
	d, _ := s.Boot()
	if d.Slot != "b" || !d.Trial || d.Manifest.Version != "2.0.0" {
		t.Fatalf("boot after update: %+v", d)
	}
	s.Confirm()
	d, _ = s.Boot()
	if d.Slot != "b" || d.Trial {
		t.Fatalf("boot after confirm: %+v", d)
	}
	if m, err := s.Rollback(); err != nil || m.Version != "1.0.0" {
		t.Fatalf("rollback: %v %v", m.Version, err)
	}
	d, _ = s.Boot()
	if d.Slot != "a" || d.Manifest.Version != "1.0.0" || d.Reverted != "2.0.0" {
		t.Fatalf("boot after rollback: %+v", d)
	}
	st, _ := s.Status()
	if !st.Slots[0].Intact || !st.Slots[1].Intact || st.Boot.Active != "a" {
		t.Fatalf("status %+v", st)
	}
}

func TestImageThatNeverConfirmsIsRolledBack(t *testing.T) {
	f := newFixture(t)
	s := f.slots()
	install(t, f, s)
	if _, err := s.Apply(f.image("2.0.0", "arm", f.key), nil); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Boot()
	if d.Slot != "b" || !d.Trial {
		t.Fatalf("first start of the new image: %+v", d)
	}
	// The new daemon comes up but SIP never listens.
	checks := 0
	err := ConfirmWhenHealthy(context.Background(), s, 100*time.Millisecond, 10*time.Millisecond, func() error {
		checks++
		return errors.New("sip not listening")
	})
	if !errors.Is(err, ErrNotConfirmed) || checks < 2 {
		t.Fatalf("ConfirmWhenHealthy = %v after %d checks", err, checks)
	}
	d, err = s.Boot() // the service manager restarts it
	if err != nil || d.Slot != "a" || d.Trial || d.Reverted != "2.0.0" || d.Manifest.Version != "1.0.0" {
		t.Fatalf("start after a failed trial: %+v %v", d, err)
	}
	// And an image that does come up healthy confirms.
	if _, err := s.Apply(f.image("2.0.1", "arm", f.key), nil); err != nil {
		t.Fatal(err)
	}
	s.Boot()
	if err := ConfirmWhenHealthy(context.Background(), s, time.Second, 10*time.Millisecond, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.State(); st.Pending || st.Active != "b" {
		t.Fatalf("after confirm: %+v", st)
	}
}

func TestBootSkipsDamagedSlot(t *testing.T) {
	f := newFixture(t)
	s := f.slots()
	install(t, f, s)
	s.Apply(f.image("2.0.0", "arm", f.key), nil)
	s.Boot()
	s.Confirm()
	// Flash corruption of the running image's binary.
	os.WriteFile(filepath.Join(s.Root, "slots", "b", BinaryName), []byte("garbage"), 0o755)
	d, err := s.Boot()
	if err != nil || d.Slot != "a" {
		t.Fatalf("boot with slot b damaged: %+v %v", d, err)
	}
}

// The test binary's children (testkit's crash-a-child harness): "apply"
// runs one Apply, which FaultEnv kills at its fault point
// (TestApplyKilledAtEveryStep); "launch" runs Launch, which execs the
// chosen slot's binary.
func TestMain(m *testing.M) {
	testkit.ChildMain(map[string]func([]string) int{
		"apply": func(args []string) int { // root, image, public key PEM
			pub, _ := ParsePublicKey([]byte(args[2]))
			s := &Slots{Root: args[0], Pub: pub, Arch: "arm"}
			if _, err := s.Apply(args[1], nil); err != nil {
				println(err.Error())
				return 3
			}
			return 0
		},
		"launch": func(args []string) int { // root, the installed binary
			err := Launch(&Slots{Root: args[0]}, args[1], []string{"serve", "--hw", "sim"}, []string{}, os.Stderr)
			println("exec failed:", err.Error())
			return 3
		},
	})
	os.Exit(m.Run())
}

func TestApplyKilledAtEveryStep(t *testing.T) {
	for _, step := range FaultPoints {
		t.Run(step, func(t *testing.T) {
			f := newFixture(t)
			s := f.slots()
			install(t, f, s)
			img := f.image("2.0.0", "arm", f.key)
			cmd := testkit.ChildCommand("apply", s.Root, img, string(pemPublicKey(f.pub)))
			cmd.Env = append(cmd.Env, FaultEnv+"="+step)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at %s: %v\n%s", step, err, out)
			}
			// The running slot is intact.
			if m, err := s.CheckSlot("a"); err != nil || m.Version != "1.0.0" {
				t.Fatalf("running slot after kill at %s: %v %v", step, m.Version, err)
			}
			// A bootable slot is selected.
			d, err := s.Boot()
			if err != nil {
				t.Fatalf("no bootable slot after kill at %s: %v", step, err)
			}
			switched := step == "pointer-renamed"
			if switched && (d.Slot != "b" || !d.Trial || d.Manifest.Version != "2.0.0") {
				t.Fatalf("kill after the switch: boot %+v", d)
			}
			if !switched {
				if d.Slot != "a" || d.Trial {
					t.Fatalf("kill before the switch: boot %+v", d)
				}
				// The update can simply be run again.
				if _, err := s.Apply(img, nil); err != nil {
					t.Fatalf("apply after a kill at %s: %v", step, err)
				}
				if d, _ := s.Boot(); d.Slot != "b" || d.Manifest.Version != "2.0.0" {
					t.Fatalf("boot after re-apply: %+v", d)
				}
			}
		})
	}
}

func pemPublicKey(p ed25519.PublicKey) []byte {
	return []byte("-----BEGIN EDGEBRIDGE FIRMWARE PUBLIC KEY-----\n" + b64(p) + "\n-----END EDGEBRIDGE FIRMWARE PUBLIC KEY-----\n")
}

func TestUploadOverHTTP(t *testing.T) {
	f := newFixture(t)
	s := f.slots()
	install(t, f, s)
	h := NewUploadHandler(s)
	srv := httptest.NewServer(h)
	defer srv.Close()

	body, _ := os.ReadFile(f.image("2.0.0", "arm", f.otherKey))
	resp, err := http.Post(srv.URL+"/firmware", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 400 || r["success"] != false || !strings.Contains(r["reason"].(string), "signature") {
		t.Fatalf("wrong-key upload: %d %v", resp.StatusCode, r)
	}
	if p := h.Progress(); p.State != "failed" {
		t.Fatalf("progress after a refused upload: %+v", p)
	}

	body, _ = os.ReadFile(f.image("2.0.0", "arm", f.key))
	resp, err = http.Post(srv.URL+"/firmware", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 200 || r["version"] != "2.0.0" {
		t.Fatalf("upload: %d %v", resp.StatusCode, r)
	}
	resp, _ = http.Get(srv.URL + "/firmware/status")
	var st struct {
		Upload UploadProgress
		Boot   BootState
		Slots  []SlotStatus
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Upload.State != "done" || st.Upload.Percent != 100 || st.Boot.Active != "b" || !st.Boot.Pending || st.Slots[1].Version != "2.0.0" {
		t.Fatalf("status %+v", st)
	}
	resp, _ = http.Get(srv.URL + "/firmware")
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /firmware: %d", resp.StatusCode)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Root, "incoming")); len(ents) != 0 {
		t.Fatalf("upload left %d files in incoming", len(ents))
	}
	// A process killed mid-upload leaves its file; the next start removes it.
	stale := filepath.Join(s.Root, "incoming", "upload-123.img")
	os.WriteFile(stale, []byte("half an image"), 0o644)
	NewUploadHandler(s)
	if _, err := os.Stat(stale); err == nil {
		t.Fatal("stale upload not removed")
	}
}

func TestNotifyTalksToSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	if ok, err := Notify("READY=1"); !ok || err != nil {
		t.Fatalf("Notify: %v %v", ok, err)
	}
	buf := make([]byte, 64)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := c.Read(buf)
	if string(buf[:n]) != "READY=1" {
		t.Fatalf("systemd got %q", buf[:n])
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if ok, _ := Notify("READY=1"); ok {
		t.Fatal("Notify without a socket claims success")
	}
}

func FuzzVerify(f *testing.F) {
	var buf bytes.Buffer
	Build(&buf, "1", "arm", time.Unix(0, 0), []Input{{Name: BinaryName, Mode: 0o755, Data: fakeELF(elf.EM_ARM, 100, 1)}}, nil)
	f.Add(buf.Bytes())
	f.Add([]byte("EBFWIMG1\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := Verify(bytes.NewReader(b), int64(len(b)), nil, "")
		if err == nil && img.payloadOff+img.Manifest.PayloadSize > int64(len(b)) {
			t.Fatal("verified an image whose payload runs past its end")
		}
	})
}

// helloBinary compiles a static program that reports where it runs from,
// its arguments and the firmware root it was given.
func helloBinary(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "hello.go")
	os.WriteFile(src, []byte(`package main

import (
	"fmt"
	"os"
)

func main() {
	exe, _ := os.Executable()
	fmt.Printf("ran %s args %v root %s\n", exe, os.Args[1:], os.Getenv("EDGEBRIDGE_FIRMWARE_ROOT"))
}
`), 0o644)
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test program: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(out)
	return b
}

func TestLaunchExecsChosenSlotAndReturnsAfterFailedTrial(t *testing.T) {
	hello := helloBinary(t)
	dir := t.TempDir()
	s := &Slots{Root: filepath.Join(dir, "root")}
	image := func(version string) string {
		var buf bytes.Buffer
		if _, err := Build(&buf, version, runtime.GOARCH, time.Now(), []Input{{Name: BinaryName, Mode: 0o755, Data: hello}}, nil); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, version+".img")
		os.WriteFile(p, buf.Bytes(), 0o644)
		return p
	}
	launch := func() (string, string) {
		cmd := testkit.ChildCommand("launch", s.Root, "/bin/echo")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("launch: %v\n%s", err, errb.String())
		}
		return out.String(), errb.String()
	}
	// Nothing installed: the installed binary itself runs.
	if out, _ := launch(); strings.TrimSpace(out) != "serve --hw sim" {
		t.Fatalf("launch with no image ran: %q", out)
	}
	if _, err := s.Apply(image("1.0.0"), nil); err != nil {
		t.Fatal(err)
	}
	slotA := filepath.Join(s.Root, "slots", "a", BinaryName)
	slotB := filepath.Join(s.Root, "slots", "b", BinaryName)
	want := func(bin string) string { return "ran " + bin + " args [serve --hw sim] root " + s.Root + "\n" }
	if out, _ := launch(); out != want(slotA) {
		t.Fatalf("first start: %q, want %q", out, want(slotA))
	}
	s.Confirm() // the daemon came up healthy
	if _, err := s.Apply(image("2.0.0"), nil); err != nil {
		t.Fatal(err)
	}
	if out, _ := launch(); out != want(slotB) {
		t.Fatalf("trial start of 2.0.0: %q, want %q", out, want(slotB))
	}
	// 2.0.0 never confirmed: the next start is back on slot a.
	out, log := launch()
	if out != want(slotA) || !strings.Contains(log, "2.0.0 did not confirm itself; back on slot a (1.0.0)") {
		t.Fatalf("start after a failed trial: %q %q", out, log)
	}
}

func TestApplyRefusedWhileAnotherRuns(t *testing.T) {
	f := newFixture(t)
	s := f.slots()
	install(t, f, s)
	other := &Slots{Root: s.Root, Pub: f.pub, Arch: "arm"}
	unlock, err := other.lockRoot() // another process's apply, as far as flock sees
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(f.image("2.0.0", "arm", f.key), nil); err == nil || !strings.Contains(err.Error(), "another update") {
		t.Fatalf("apply during another: %v", err)
	}
	unlock()
	if _, err := s.Apply(f.image("2.0.0", "arm", f.key), nil); err != nil {
		t.Fatalf("apply after the other finished: %v", err)
	}
}
