package engine

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

// huntLongestIdle's idle times survive a restart: they are kept in the
// store as "pbxidle" documents (id: the device a user names, {"idleSince":
// Unix ms}), read at Start and written in one transaction every
// idleFlushEvery while some changed, and once more at Close. A call's end
// costs no write of its own; a crash loses at most idleFlushEvery of
// changes (those members then count as idle since their previous call).

// ResPBXIdle is the store resource of idle times: id = deviceId.
const ResPBXIdle = "pbxidle"

const idleFlushEvery = 10 * time.Second

type idleDoc struct {
	IdleSince int64 `json:"idleSince"` // Unix ms
}

// loadIdle reads the stored idle times.
func (e *Engine) loadIdle() error {
	if e.db == nil {
		return nil
	}
	p := &e.pbx
	return e.db.View(func(tx *store.Tx) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.init()
		for _, d := range tx.Domains() {
			err := tx.ForEach(store.Coll{Domain: d, Resource: ResPBXIdle}, "", func(id string, b []byte) (bool, error) {
				var doc idleDoc
				if json.Unmarshal(b, &doc) == nil && doc.IdleSince > 0 {
					k := busyKey(d, id)
					if t := time.UnixMilli(doc.IdleSince); t.After(p.idle[k]) {
						p.idle[k] = t
					}
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// idleLoop writes changed idle times every idleFlushEvery until done, and
// then once more.
func (e *Engine) idleLoop(done <-chan struct{}) {
	if e.db == nil {
		return
	}
	t := time.NewTicker(idleFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-done:
			e.flushIdle()
			return
		}
		e.flushIdle()
	}
}

// flushIdle writes the idle times changed since the last flush; on error
// they stay to be written next time.
func (e *Engine) flushIdle() {
	p := &e.pbx
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = map[string]time.Time{}
	p.mu.Unlock()
	if len(dirty) == 0 || e.db == nil {
		return
	}
	err := e.db.Update(func(tx *store.Tx) error {
		for k, t := range dirty {
			domain, device, _ := strings.Cut(k, "\x00")
			b, _ := json.Marshal(idleDoc{IdleSince: t.UnixMilli()})
			if err := tx.Put(store.Coll{Domain: domain, Resource: ResPBXIdle}, device, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("idle times not stored", "err", err)
		p.mu.Lock()
		for k, t := range dirty {
			if _, newer := p.dirty[k]; !newer {
				p.dirty[k] = t
			}
		}
		p.mu.Unlock()
	}
}
