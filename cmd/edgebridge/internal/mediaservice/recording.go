package mediaservice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/edgebridge/edgebridge/engine/media"
)

// recording is a call recording being written: both directions of a
// connection mixed, A-law WAV, streamed to the prompt storage.
type recording struct {
	name   string // recordingFileName
	connID string
	path   string
	w      *wavWriter
	room   int64 // samples the quota leaves
	err    error
}

// recSlot is where a connection's audio loop finds its recording; the REST
// commands start and stop it from other goroutines.
type recSlot struct {
	mu  sync.Mutex
	rec *recording
}

// write records one frame of the two directions (mix is scratch space).
// Allocation-free.
func (r *recSlot) write(mix, a, b []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.rec
	if rec == nil || rec.err != nil {
		return
	}
	if rec.w.size()+int64(len(a)) > rec.room {
		rec.err = fmt.Errorf("%w while recording", ErrQuota)
		return
	}
	mixFrames(mix, a, b)
	if err := rec.w.write(mix); err != nil {
		rec.err = err
	}
}

// start begins rec; false when one is running.
func (r *recSlot) start(rec *recording) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec != nil {
		return false
	}
	r.rec = rec
	return true
}

// running reports whether a recording runs.
func (r *recSlot) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec != nil
}

// stop ends the recording and returns it (nil when none ran).
func (r *recSlot) stop() *recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.rec
	r.rec = nil
	return rec
}

// newRecording opens recordingFileName in the domain's prompt storage.
func (p *Prompts) newRecording(domain, name, connID string) (*recording, error) {
	path, err := p.path(domain, name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.dirOf(domain), 0o700); err != nil {
		return nil, err
	}
	p.mu.Lock()
	room := p.quota - p.usage()
	p.mu.Unlock()
	if room <= 0 {
		return nil, fmt.Errorf("%w: %d byte quota in use", ErrQuota, p.quota)
	}
	w, err := newWAVWriter(path + ".part")
	if err != nil {
		return nil, err
	}
	return &recording{name: name, connID: connID, path: path, w: w, room: room}, nil
}

// finishRecording closes rec and puts it in place; its size in bytes.
func (p *Prompts) finishRecording(rec *recording) (int64, error) {
	if rec.err != nil {
		rec.w.abort()
		return 0, rec.err
	}
	if rec.w.size() == 0 {
		rec.w.abort()
		return 0, fmt.Errorf("no media received")
	}
	size, err := rec.w.finish()
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var old int64
	if fi, err := os.Stat(rec.path); err == nil {
		old = fi.Size()
	}
	if err := os.Rename(rec.path+".part", rec.path); err != nil {
		os.Remove(rec.path + ".part")
		return 0, err
	}
	if p.used >= 0 {
		p.used += size - old
	}
	return size, nil
}

// duplexTap feeds a recSlot from the two directions of a connection, each
// read on its own goroutine by its own leg's clock: every frame of a is
// mixed with the latest frame of b. Allocation-free.
type duplexTap struct {
	mu     sync.Mutex
	slot   *recSlot
	lastB  [frameSamples]int16
	mix    [frameSamples]int16
	mon    *media.Session // a monitoring call hearing both, when set
	monMix [frameSamples]int16
}

// fromA records a frame of a with b's latest (and plays the two to a
// monitoring call).
func (d *duplexTap) fromA(f []int16) {
	d.mu.Lock()
	d.slot.write(d.mix[:], f, d.lastB[:])
	if d.mon != nil {
		mixFrames(d.monMix[:], f, d.lastB[:])
		_ = d.mon.WriteFrame(d.monMix[:])
	}
	d.mu.Unlock()
}

// setMonitor sets (nil: ends) the monitoring call the connection plays to.
func (d *duplexTap) setMonitor(s *media.Session) {
	d.mu.Lock()
	d.mon = s
	d.mu.Unlock()
}

// fromB keeps a frame of b for the next of a.
func (d *duplexTap) fromB(f []int16) {
	d.mu.Lock()
	copy(d.lastB[:], f)
	d.mu.Unlock()
}

// recorder records a session's connection (a media service session or an
// alarm session) and announces each recording with recordingReady.
type recorder struct {
	svc    *Service
	domain string
	sessID string
	hook   *hook
	slot   *recSlot
	log    *slog.Logger
}

// start starts recording the current connection into name.
func (r recorder) start(name, connID string) error {
	rec, err := r.svc.prompts.newRecording(r.domain, name, connID)
	if err != nil {
		return err
	}
	if !r.slot.start(rec) {
		rec.w.abort()
		return errRecording
	}
	return nil
}

var errRecording = errors.New("the connection is being recorded already")

// finish ends a running recording and sends recordingReady; false when
// none was running.
func (r recorder) finish(ctx context.Context) bool {
	rec := r.slot.stop()
	if rec == nil {
		return false
	}
	size, err := r.svc.prompts.finishRecording(rec)
	if err != nil {
		r.failed(ctx, rec.name, rec.connID, err)
		return true
	}
	go r.ready(ctx, map[string]any{
		"sessionId": r.sessID, "connectionId": rec.connID, "recordingFileName": rec.name, "fileSize": size,
		"ivrServer": r.svc.cfg.IVRServer, "domain": r.domain, "event": "recordingSuccessful",
	})
	return true
}

func (r recorder) failed(ctx context.Context, name, connID string, err error) {
	go r.ready(ctx, map[string]any{
		"sessionId": r.sessID, "connectionId": connID, "recordingFileName": name, "fileSize": 0,
		"ivrServer": r.svc.cfg.IVRServer, "domain": r.domain, "event": "recordingFailed", "reason": err.Error(),
	})
}

func (r recorder) ready(ctx context.Context, body map[string]any) {
	if _, err := r.hook.post(ctx, "recordingReady", body); err != nil {
		r.log.Warn("mediaservice: callback", "callback", "recordingReady", "err", err)
	}
}
