package firmware

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Slots is the A/B firmware store under one root folder:
//
//	ROOT/boot.json      the boot pointer (BootState), replaced atomically
//	ROOT/slots/a/       one installed image: its files and manifest.json
//	ROOT/slots/b/
//	ROOT/slots/.b.new/  an image being written (never booted)
//	ROOT/incoming/      uploads waiting to be applied
type Slots struct {
	Root string
	// Pub verifies images; nil accepts unsigned images (tests, development).
	Pub ed25519.PublicKey
	// Arch is the GOARCH images must be for; empty means this process's.
	Arch string
	// BootLimit is how many starts an unconfirmed image gets before the
	// next start returns to the old slot (U-Boot's bootlimit). Default 1.
	BootLimit int
	Now       func() time.Time

	mu sync.Mutex // one apply, confirm or rollback at a time in this process
}

// BootState is the boot pointer: which slot starts next and whether it is
// on trial. See doc.go for how it maps to the U-Boot environment.
type BootState struct {
	Active    string    `json:"active"`             // slot started next: "a" or "b"
	Fallback  string    `json:"fallback,omitempty"` // slot to return to if Active never confirms
	Pending   bool      `json:"pending"`            // Active has not confirmed yet (upgrade_available)
	BootCount int       `json:"boot_count"`         // starts of Active while pending (bootcount)
	BootLimit int       `json:"boot_limit"`         // (bootlimit)
	Reverted  string    `json:"reverted,omitempty"` // version that failed to confirm, kept for status
	Updated   time.Time `json:"updated"`
}

// Progress reports one step of Apply.
type Progress struct {
	Step  string // verify, write, sync, switch, done
	Done  int64  // bytes or files done in this step
	Total int64
}

// Errors of the slot store.
var (
	ErrNoImage      = errors.New("firmware: no image installed")
	ErrPending      = errors.New("firmware: the last update has not confirmed yet; confirm or roll back first")
	ErrNoFallback   = errors.New("firmware: no other slot to roll back to")
	ErrNotConfirmed = errors.New("firmware: new image did not confirm itself healthy in time")
)

// FaultEnv names the environment variable that kills the process with
// SIGKILL at one step of Apply, to prove that a power cut at any step
// leaves a bootable slot. Its values are FaultPoints.
const FaultEnv = "EDGEBRIDGE_FW_FAULT"

// FaultPoints are the steps of Apply, in order, at which FaultEnv can kill.
var FaultPoints = []string{"verified", "staging-created", "file-written", "staged", "old-removed", "slot-renamed", "pointer-written", "pointer-renamed"}

func fault(step string) {
	if os.Getenv(FaultEnv) == step {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is asynchronous; never run past the step
	}
}

func (s *Slots) arch() string {
	if s.Arch != "" {
		return s.Arch
	}
	return runtime.GOARCH
}

func (s *Slots) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Slots) slotDir(name string) string { return filepath.Join(s.Root, "slots", name) }
func (s *Slots) statePath() string          { return filepath.Join(s.Root, "boot.json") }

// State reads the boot pointer; ErrNoImage when nothing is installed.
func (s *Slots) State() (BootState, error) {
	var st BootState
	b, err := os.ReadFile(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, ErrNoImage
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("firmware: boot pointer %s: %w", s.statePath(), err)
	}
	if st.Active != "a" && st.Active != "b" {
		return st, fmt.Errorf("firmware: boot pointer names slot %q", st.Active)
	}
	return st, nil
}

// saveState replaces the boot pointer atomically: write a temporary file,
// fsync it, rename it over the old one, fsync the folder. A crash leaves
// either the old or the new pointer, never a torn one.
func (s *Slots) saveState(st BootState) error {
	st.Updated = s.now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.statePath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fault("pointer-written")
	if err := os.Rename(tmp, s.statePath()); err != nil {
		return err
	}
	fault("pointer-renamed")
	return syncDir(s.Root)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Apply verifies the image at path and installs it into the inactive slot,
// then points the next start at it, on trial. The running slot is never
// written, and no byte is written before the image has verified.
func (s *Slots) Apply(path string, progress func(Progress)) (Manifest, error) {
	return s.ApplyWithKey(path, s.Pub, progress)
}

// ApplyWithKey is Apply verifying with pub instead of s.Pub (a key read
// per update, e.g. from ROOT/trusted.pub); nil pub accepts unsigned images.
func (s *Slots) ApplyWithKey(path string, pub ed25519.PublicKey, progress func(Progress)) (Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if progress == nil {
		progress = func(Progress) {}
	}
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Manifest{}, err
	}
	progress(Progress{Step: "verify", Total: st.Size()})
	img, err := Verify(f, st.Size(), pub, s.arch())
	if err != nil {
		return Manifest{}, err
	}
	progress(Progress{Step: "verify", Done: st.Size(), Total: st.Size()})
	fault("verified")
	unlock, err := s.lockRoot()
	if err != nil {
		return img.Manifest, err
	}
	defer unlock()

	cur, err := s.State()
	switch {
	case errors.Is(err, ErrNoImage):
		cur = BootState{}
	case err != nil:
		return img.Manifest, err
	case cur.Pending:
		return img.Manifest, ErrPending
	}
	target := "a"
	if cur.Active == "a" {
		target = "b"
	}
	slots := filepath.Join(s.Root, "slots")
	if err := os.MkdirAll(slots, 0o755); err != nil {
		return img.Manifest, err
	}
	staging := filepath.Join(slots, "."+target+".new")
	if err := os.RemoveAll(staging); err != nil {
		return img.Manifest, err
	}
	if err := os.Mkdir(staging, 0o755); err != nil {
		return img.Manifest, err
	}
	fault("staging-created")
	total := int64(len(img.Manifest.Files))
	var done int64
	progress(Progress{Step: "write", Total: total})
	err = img.extract(f, staging, func(string) {
		done++
		progress(Progress{Step: "write", Done: done, Total: total})
		fault("file-written")
	})
	if err != nil {
		os.RemoveAll(staging)
		return img.Manifest, err
	}
	mj, _ := json.MarshalIndent(img.Manifest, "", "  ")
	if err := writeFileSync(filepath.Join(staging, "manifest.json"), 0o644, bytes.NewReader(mj), sha256Hex(mj)); err != nil {
		return img.Manifest, err
	}
	progress(Progress{Step: "sync"})
	if err := syncDir(staging); err != nil {
		return img.Manifest, err
	}
	fault("staged")
	// The inactive slot is now replaced. It was not bootable-by-pointer
	// (the pointer names the running slot), so losing it is harmless.
	if err := os.RemoveAll(s.slotDir(target)); err != nil {
		return img.Manifest, err
	}
	fault("old-removed")
	if err := os.Rename(staging, s.slotDir(target)); err != nil {
		return img.Manifest, err
	}
	if err := syncDir(slots); err != nil {
		return img.Manifest, err
	}
	fault("slot-renamed")
	// Read back what landed on flash before trusting it with the next boot.
	if _, err := s.CheckSlot(target); err != nil {
		return img.Manifest, err
	}
	progress(Progress{Step: "switch"})
	limit := s.BootLimit
	if limit <= 0 {
		limit = 1
	}
	next := BootState{Active: target, Fallback: cur.Active, Pending: true, BootLimit: limit}
	if err := s.saveState(next); err != nil {
		return img.Manifest, err
	}
	progress(Progress{Step: "done", Done: 1, Total: 1})
	return img.Manifest, nil
}

// slotManifest reads a slot's manifest without checking its files (enough
// to name the version of a slot being left).
func (s *Slots) slotManifest(name string) (Manifest, error) {
	var m Manifest
	if name != "a" && name != "b" {
		return m, fmt.Errorf("firmware: no slot %q (want a or b)", name)
	}
	b, err := os.ReadFile(filepath.Join(s.slotDir(name), "manifest.json"))
	if err != nil {
		return m, fmt.Errorf("firmware: slot %s: no manifest: %w", name, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("firmware: slot %s: manifest: %w", name, err)
	}
	return m, nil
}

// CheckSlot reads a slot back and checks every file against its manifest.
func (s *Slots) CheckSlot(name string) (Manifest, error) {
	m, err := s.slotManifest(name)
	if err != nil {
		return m, err
	}
	dir := s.slotDir(name)
	for _, f := range m.Files {
		if err := checkName(f.Name); err != nil {
			return m, err
		}
		fh, err := os.Open(filepath.Join(dir, f.Name))
		if err != nil {
			return m, fmt.Errorf("firmware: slot %s: %w", name, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return m, err
		}
		if hex.EncodeToString(h.Sum(nil)) != f.SHA256 {
			return m, fmt.Errorf("firmware: slot %s: %s is damaged (sha256 mismatch)", name, f.Name)
		}
	}
	return m, nil
}

// Decision is what Boot chose.
type Decision struct {
	Slot     string   `json:"slot"`
	Dir      string   `json:"dir"`
	Binary   string   `json:"binary"`
	Manifest Manifest `json:"manifest"`
	Trial    bool     `json:"trial"`              // the image is on trial and must Confirm
	Reverted string   `json:"reverted,omitempty"` // non-empty: this start returned from a failed version
}

// lockRoot takes an exclusive flock on ROOT/lock, so that an apply from the
// command line and one through POST /firmware never interleave (the mutex
// covers only this process). The kernel drops the lock if the process dies.
func (s *Slots) lockRoot() (func(), error) {
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.Root, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, errors.New("firmware: another update is running on this root")
	}
	return func() { f.Close() }, nil
}

// Boot is the boot loader's step, run once per start before the daemon
// does anything else: it counts a start of an image on trial and, once the
// image has used its starts without confirming, returns to the old slot.
func (s *Slots) Boot() (Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.State()
	if err != nil {
		return Decision{}, err
	}
	var m Manifest // of st.Active once checked
	checked := false
	if st.Pending {
		if st.BootCount >= st.BootLimit && st.Fallback != "" {
			failed, _ := s.slotManifest(st.Active)
			if fm, err := s.CheckSlot(st.Fallback); err == nil {
				st = BootState{Active: st.Fallback, Fallback: st.Active, BootLimit: st.BootLimit, Reverted: versionOr(failed.Version, st.Active)}
				m, checked = fm, true
			}
		} else {
			st.BootCount++
		}
		if err := s.saveState(st); err != nil {
			return Decision{}, err
		}
	}
	if !checked {
		m, err = s.CheckSlot(st.Active)
	}
	if err != nil && st.Fallback != "" && !st.Pending {
		// A damaged confirmed slot: the other one is better than nothing.
		if fm, ferr := s.CheckSlot(st.Fallback); ferr == nil {
			st = BootState{Active: st.Fallback, Fallback: st.Active, BootLimit: st.BootLimit, Reverted: versionOr(m.Version, st.Active)}
			if err := s.saveState(st); err != nil {
				return Decision{}, err
			}
			m, err = fm, nil
		}
	}
	if err != nil {
		return Decision{}, err
	}
	return Decision{Slot: st.Active, Dir: s.slotDir(st.Active), Binary: filepath.Join(s.slotDir(st.Active), BinaryName), Manifest: m, Trial: st.Pending, Reverted: st.Reverted}, nil
}

func versionOr(v, slot string) string {
	if v != "" {
		return v
	}
	return "slot " + slot
}

// Confirm marks the running image good: it stays the boot slot from now on.
func (s *Slots) Confirm() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.State()
	if err != nil {
		return err
	}
	if !st.Pending {
		return nil
	}
	st.Pending, st.BootCount, st.Reverted = false, 0, ""
	return s.saveState(st)
}

// Rollback points the next start at the other slot, after checking it.
func (s *Slots) Rollback() (Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.State()
	if err != nil {
		return Manifest{}, err
	}
	if st.Fallback == "" {
		return Manifest{}, ErrNoFallback
	}
	m, err := s.CheckSlot(st.Fallback)
	if err != nil {
		return m, fmt.Errorf("firmware: cannot roll back: %w", err)
	}
	old, _ := s.slotManifest(st.Active)
	return m, s.saveState(BootState{Active: st.Fallback, Fallback: st.Active, BootLimit: st.BootLimit, Reverted: versionOr(old.Version, st.Active)})
}

// SlotStatus describes one slot.
type SlotStatus struct {
	Name    string    `json:"name"`
	Present bool      `json:"present"`
	Intact  bool      `json:"intact"`
	Version string    `json:"version,omitempty"`
	Arch    string    `json:"arch,omitempty"`
	Created time.Time `json:"created,omitzero"`
	Problem string    `json:"problem,omitempty"`
}

// Status is the state of both slots and the boot pointer.
type Status struct {
	Boot  *BootState   `json:"boot,omitempty"`
	Slots []SlotStatus `json:"slots"`
}

// Status reports the boot pointer and checks both slots.
func (s *Slots) Status() (Status, error) {
	var out Status
	st, err := s.State()
	switch {
	case err == nil:
		out.Boot = &st
	case !errors.Is(err, ErrNoImage):
		return out, err
	}
	for _, n := range []string{"a", "b"} {
		ss := SlotStatus{Name: n}
		if _, err := os.Stat(s.slotDir(n)); err == nil {
			ss.Present = true
			m, err := s.CheckSlot(n)
			ss.Version, ss.Arch, ss.Created = m.Version, m.Arch, m.Created
			if err != nil {
				ss.Problem = err.Error()
			} else {
				ss.Intact = true
			}
		}
		out.Slots = append(out.Slots, ss)
	}
	return out, nil
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
