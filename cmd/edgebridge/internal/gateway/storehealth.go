package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/store"
)

// storeHealth turns the store's disk refusing writes (store.OnWritable)
// into one log line and a supervision alarm, not a line per failed write:
// the notification endpoint hears it at once (its queue is in memory); the
// ARCs of the alarmbridges get it through the alarm queue once the store
// takes writes again, saying from when to when. While the store is
// unwritable a probe write every probeEvery finds out when it recovers.
type storeHealth struct {
	g *Gateway
	q alarm.Queue

	mu      sync.Mutex
	since   time.Time // when the store became unwritable; zero: writable
	cause   string
	pending []alarm.Event // outages still to queue
	warned  bool          // a failed queueing was logged (run's goroutine only)
	kick    chan struct{}
}

const storeProbeEvery = 5 * time.Second

func newStoreHealth(g *Gateway, q alarm.Queue) *storeHealth {
	h := &storeHealth{g: g, q: q, kick: make(chan struct{}, 1)}
	g.db.OnWritable(h.changed)
	return h
}

func (h *storeHealth) changed(err error, since time.Time) {
	g := h.g
	// The alerts are filed once the lock is released: filing one writes
	// the store, whose state may change again (and call changed).
	var alerts []alarm.Event
	defer func() {
		for _, ev := range alerts {
			supervisionAlert(g.eng, ev)
		}
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.since, h.cause = since, err.Error()
		g.log.Error("store unwritable: the disk refuses writes; REST writes answer 507, /healthz 503, alarms cannot be queued", "err", err)
		for _, ev := range h.events("unwritable", "store unwritable since "+since.UTC().Format(time.RFC3339)+": "+h.cause, since) {
			g.notify.ServiceAlarm(ev)
			alerts = append(alerts, ev)
		}
		return
	}
	now := time.Now()
	raw := fmt.Sprintf("store was unwritable from %s to %s: %s", since.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), h.cause)
	g.log.Warn("store writable again", "unwritable since", since, "cause", h.cause)
	evs := h.events("writable", raw, now)
	for _, ev := range evs {
		g.notify.ServiceAlarm(ev)
		alerts = append(alerts, ev)
	}
	h.pending = append(h.pending, evs...)
	h.since, h.cause = time.Time{}, ""
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// events is the supervision event of a store state change for each event
// mapper an alarmbridge uses (the ARCs that take that gateway's alarms),
// and one for the default domain when there is none.
func (h *storeHealth) events(state, raw string, at time.Time) []alarm.Event {
	g := h.g
	var out []alarm.Event
	var domains []string
	_ = g.db.View(func(tx *store.Tx) error { domains = tx.Domains(); return nil })
	for _, dom := range domains {
		for _, m := range g.arcMappers(dom) {
			out = append(out, supervisionEvent(dom, m, "store", "", state, raw, at))
		}
	}
	if len(out) == 0 {
		out = append(out, supervisionEvent(g.cfg.Domain, "", "store", "", state, raw, at))
	}
	return out
}

// run probes an unwritable store and queues the outages once it is not.
func (h *storeHealth) run(ctx context.Context) {
	t := time.NewTicker(storeProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
		h.mu.Lock()
		unwritable := !h.since.IsZero()
		h.mu.Unlock()
		if unwritable {
			_ = h.g.db.Probe() // a success calls changed, which kicks
			continue
		}
		h.flush(ctx)
	}
}

func (h *storeHealth) flush(ctx context.Context) {
	h.mu.Lock()
	evs := h.pending
	h.pending = nil
	h.mu.Unlock()
	for i, ev := range evs {
		if ev.MapperID == "" {
			// No ARC takes this gateway's alarms: the console's recent
			// alarms and the notification endpoint are where it shows.
			h.g.recent.add(ev)
			continue
		}
		if err := h.q.Enqueue(ctx, ev); err != nil {
			if !h.warned {
				h.g.log.Warn("store outage alarm not queued yet; retrying", "domain", ev.Domain, "mapper", ev.MapperID, "err", err)
				h.warned = true
			}
			h.mu.Lock()
			h.pending = append(evs[i:], h.pending...)
			h.mu.Unlock()
			return
		}
	}
	h.warned = false
}
