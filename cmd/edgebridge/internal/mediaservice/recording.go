package mediaservice

import (
	"fmt"
	"os"
	"sync"
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
