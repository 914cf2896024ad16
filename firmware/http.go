package firmware

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MaxUpload bounds an uploaded image; the static ARM binary is ~15 MB.
const MaxUpload = 64 << 20

// UploadHandler serves firmware over REST, for the integrator to mount on
// the api mux (behind its admin-key auth):
//
//	POST /firmware         body: the image; streams to ROOT/incoming, then
//	                       verifies and applies it; answers when done
//	GET  /firmware/status  progress of the current or last upload, and slots
type UploadHandler struct {
	Slots *Slots
	// TrustedKey, when set, gives the key each upload is verified with
	// (instead of Slots.Pub); an error refuses the upload with its text.
	TrustedKey func() (ed25519.PublicKey, error)

	mu   sync.Mutex
	busy bool
	prog UploadProgress
	// busySlots is the slots' status taken by the first GET of the upload
	// in progress, nil while idle (see slotStatus).
	busySlots *Status
}

// NewUploadHandler returns the handler for s. Uploads left in
// ROOT/incoming by a process that died mid-upload are removed.
func NewUploadHandler(s *Slots) *UploadHandler {
	old, _ := filepath.Glob(filepath.Join(s.Root, "incoming", "upload-*.img"))
	for _, f := range old {
		os.Remove(f)
	}
	return &UploadHandler{Slots: s}
}

// UploadProgress is the body of GET /firmware/status (with Slots added).
type UploadProgress struct {
	State    string    `json:"state"` // idle, receiving, verify, write, sync, switch, done, failed
	Done     int64     `json:"done"`
	Total    int64     `json:"total"`
	Percent  int       `json:"percent"`
	Version  string    `json:"version,omitempty"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started,omitempty"`
	Finished time.Time `json:"finished,omitempty"`
}

// Progress is the current upload's progress.
func (h *UploadHandler) Progress() UploadProgress {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.prog
	if p.State == "" {
		p.State = "idle"
	}
	return p
}

func (h *UploadHandler) set(f func(p *UploadProgress)) {
	h.mu.Lock()
	f(&h.prog)
	if h.prog.Total > 0 {
		h.prog.Percent = int(h.prog.Done * 100 / h.prog.Total)
	}
	h.mu.Unlock()
}

func (h *UploadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/firmware/status" && r.Method == http.MethodGet:
		st, err := h.slotStatus()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"success": false, "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "upload": h.Progress(), "boot": st.Boot, "slots": st.Slots})
	case r.URL.Path == "/firmware" && r.Method == http.MethodPost:
		h.upload(w, r)
	case r.URL.Path == "/firmware" || r.URL.Path == "/firmware/status":
		w.Header().Set("Allow", map[bool]string{true: "POST", false: "GET"}[r.URL.Path == "/firmware"])
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"success": false, "reason": "method not allowed"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "reason": "no such firmware resource"})
	}
}

// slotStatus is Slots.Status, checked once per upload while one runs: a
// client polling the progress (the console, four times a second) would
// otherwise hash both slots, firmware binaries and all, on every poll while
// the apply itself is reading and writing them.
func (h *UploadHandler) slotStatus() (Status, error) {
	h.mu.Lock()
	busy, snap := h.busy, h.busySlots
	h.mu.Unlock()
	if snap != nil {
		return *snap, nil
	}
	st, err := h.Slots.Status()
	if err == nil && busy {
		h.mu.Lock()
		if h.busy {
			h.busySlots = &st
		}
		h.mu.Unlock()
	}
	return st, err
}

// counter counts bytes read into the progress as they arrive.
type counter struct {
	r io.Reader
	h *UploadHandler
}

func (c counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.set(func(u *UploadProgress) { u.Done += int64(n) })
	return n, err
}

func (h *UploadHandler) upload(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.busy {
		h.mu.Unlock()
		writeJSON(w, http.StatusConflict, map[string]any{"success": false, "reason": "an upload is already in progress"})
		return
	}
	h.busy, h.busySlots = true, nil
	h.prog = UploadProgress{State: "receiving", Total: r.ContentLength, Started: time.Now().UTC()}
	h.mu.Unlock()
	defer func() { h.mu.Lock(); h.busy, h.busySlots = false, nil; h.mu.Unlock() }()

	fail := func(code int, err error) {
		h.set(func(p *UploadProgress) { p.State, p.Error, p.Finished = "failed", err.Error(), time.Now().UTC() })
		writeJSON(w, code, map[string]any{"success": false, "reason": err.Error()})
	}
	dir := filepath.Join(h.Slots.Root, "incoming")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail(http.StatusInternalServerError, err)
		return
	}
	f, err := os.CreateTemp(dir, "upload-*.img")
	if err != nil {
		fail(http.StatusInternalServerError, err)
		return
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, counter{http.MaxBytesReader(w, r.Body, MaxUpload), h})
	f.Close()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, fmt.Errorf("image larger than %d bytes", MaxUpload))
			return
		}
		fail(http.StatusBadRequest, fmt.Errorf("upload interrupted after %d bytes: %v", n, err))
		return
	}
	pub := h.Slots.Pub
	if h.TrustedKey != nil {
		if pub, err = h.TrustedKey(); err != nil {
			fail(http.StatusServiceUnavailable, err)
			return
		}
	}
	m, err := h.Slots.ApplyWithKey(f.Name(), pub, func(p Progress) {
		h.set(func(u *UploadProgress) { u.State, u.Done, u.Total = p.Step, p.Done, p.Total })
	})
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrPending) {
			code = http.StatusConflict
		}
		fail(code, err)
		return
	}
	h.set(func(p *UploadProgress) { p.State, p.Version, p.Finished = "done", m.Version, time.Now().UTC() })
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "version": m.Version, "arch": m.Arch, "message": "installed; restart to boot it on trial"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
