package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/store"
)

type path int

const (
	primary path = iota
	backup
)

func (p path) String() string {
	if p == backup {
		return "backup"
	}
	return "primary"
}

// worker delivers one destination's queue, one event at a time (the ARC
// protocols wait for each acknowledgement anyway), and watches its paths.
type worker struct {
	d    *Delivery
	name string
	wake chan struct{}

	mu          sync.Mutex
	route       Route
	haveRoute   bool
	refresh     bool // re-resolve the route before the next attempt
	flush       bool // a path came back: ignore backoff once
	senders     map[string]Sender
	up          [2]bool
	lastErr     [2]string // each path's last failure, for the status page
	primaryDown time.Time
}

func newWorker(d *Delivery, name string) *worker {
	return &worker{d: d, name: name, wake: make(chan struct{}, 1), senders: map[string]Sender{}, up: [2]bool{true, true}}
}

func (w *worker) setRoute(r Route) {
	w.mu.Lock()
	w.route, w.haveRoute = r, true
	w.mu.Unlock()
}

func (w *worker) wakeUp() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) pathState(ds *DestStats) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ds.PrimaryUp, ds.PrimaryError = w.up[primary], w.lastErr[primary]
	ds.HasBackup = w.route.Backup != nil
	if ds.HasBackup {
		ds.BackupUp, ds.BackupError = w.up[backup], w.lastErr[backup]
	}
}

// run is the delivery loop; it returns when ctx ends.
func (w *worker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		now := w.d.o.now()
		w.mu.Lock()
		at := now
		if w.flush {
			at, w.flush = now.Add(100*365*24*time.Hour), false
		}
		w.mu.Unlock()
		// A wake-up from before this read carries nothing it will not see.
		select {
		case <-w.wake:
		default:
		}
		due, wake, err := w.d.db.QueueDue(w.name, at, w.d.o.batch)
		if err != nil {
			w.d.o.log.Error("delivery: read queue", "destination", w.name, "err", err)
			wake = now.Add(time.Second)
		}
		wait := time.Hour
		if len(due) > 0 {
			retryAt := w.deliverBatch(ctx, due)
			if retryAt.IsZero() {
				continue
			}
			// The destination is down: the next round comes with the
			// failed event's retry, or sooner on a wake (new route, retry now).
			wait = max(retryAt.Sub(w.d.o.now()), time.Millisecond)
		} else if !wake.IsZero() {
			wait = max(wake.Sub(now), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// deliverBatch sends due events in order, acknowledging, retrying or
// dead-lettering each. It returns when the destination should next be
// tried: zero to go on at once, or the retry time of an event for which
// every path failed.
func (w *worker) deliverBatch(ctx context.Context, due []store.QueueItem) (retryAt time.Time) {
	// Acks are committed per batch, or after 100 ms when the ARC is slow:
	// one fsync for many events. An ack lost to a crash only makes the
	// event go out again, which the receiver recognises by its id.
	var acked []uint64
	var firstAck time.Time
	flush := func() {
		if err := w.d.db.QueueAck(w.name, acked...); err != nil {
			w.d.o.log.Error("delivery: ack", "destination", w.name, "err", err)
		}
		acked = acked[:0]
	}
	defer flush()
	blocked := map[string]bool{}
	for _, it := range due {
		if len(acked) > 0 && time.Since(firstAck) > 100*time.Millisecond {
			flush()
		}
		if ctx.Err() != nil {
			return time.Time{}
		}
		if blocked[it.Group] {
			continue
		}
		var q queued
		if err := json.Unmarshal(it.Payload, &q); err != nil {
			w.deadLetter(it, fmt.Errorf("unreadable queue item: %w", err))
			continue
		}
		route := w.currentRoute(q)
		err := w.deliver(withQueuePosition(ctx, it.Seq), route, q.Event)
		now := w.d.o.now()
		if err == nil {
			if len(acked) == 0 {
				firstAck = time.Now()
			}
			acked = append(acked, it.Seq)
			w.d.c.delivered.Add(1)
			w.d.c.lat.observe(now.Sub(it.Enqueued))
			if w.d.o.observe != nil {
				w.d.o.observe(now.Sub(it.Enqueued))
			}
			if w.d.o.onAck != nil {
				w.d.o.onAck(it.ID, now.Sub(it.Enqueued))
			}
			continue
		}
		if ctx.Err() != nil {
			return time.Time{} // shutting down: not the event's fault, not an attempt
		}
		if alarm.IsPermanent(err) || (w.d.o.maxAttempts > 0 && it.Attempts+1 >= w.d.o.maxAttempts) {
			w.deadLetter(it, err)
			w.serviceAlarm(alarm.Event{
				ID:       alarm.EventID("", w.name, alarm.ProtoSupervision, "given up "+q.Event.ID),
				Protocol: alarm.ProtoSupervision, Domain: q.Event.Domain, Received: now,
				Raw:      fmt.Sprintf("destination %s gave up event %s after %d attempts: %v", w.name, q.Event.ID, it.Attempts+1, err),
				DeviceID: q.Event.DeviceID, Priority: 1,
				Supervision: &alarm.SupervisionFields{Kind: "delivery", State: "givenUp"},
			})
			continue // the device's next event may go
		}
		blocked[it.Group] = true
		next := now.Add(w.d.backoff(it.Attempts))
		if _, err2 := w.d.db.QueueRetry(w.name, it.Seq, next, err.Error()); err2 != nil {
			w.d.o.log.Error("delivery: record retry", "destination", w.name, "err", err2)
		}
		w.d.c.retries.Add(1)
		w.d.o.log.Warn("delivery: attempt failed, will retry", "destination", w.name, "event", it.ID, "attempt", it.Attempts+1, "retry_in", next.Sub(now).Round(time.Millisecond), "err", err)
		w.mu.Lock()
		w.refresh = true
		w.mu.Unlock()
		// Every path failed for this event, so the destination is down for
		// the others too: leave them for the next round instead of having
		// each wait out its own timeout now.
		return next
	}
	return time.Time{}
}

func (w *worker) deadLetter(it store.QueueItem, err error) {
	if err2 := w.d.db.QueueDeadLetter(w.name, it.Seq, err.Error()); err2 != nil {
		w.d.o.log.Error("delivery: dead letter", "destination", w.name, "err", err2)
		return
	}
	w.d.c.failed.Add(1)
	w.d.o.log.Error("delivery: event given up, kept as dead letter", "destination", w.name, "event", it.ID, "attempts", it.Attempts+1, "err", err)
}

// currentRoute is the newest route known for the destination: the one from
// the latest Enqueue, re-resolved after a failure so corrected settings
// apply to queued events, else the one stored with the event.
func (w *worker) currentRoute(q queued) Route {
	w.mu.Lock()
	refresh := w.refresh
	w.refresh = false
	w.mu.Unlock()
	if refresh {
		if rs, err := w.d.resolve(q.Event); err == nil {
			for _, r := range rs {
				if r.Name == w.name && r.Validate() == nil {
					w.setRoute(r)
				}
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.haveRoute {
		w.route, w.haveRoute = q.Route, true
	}
	return w.route
}

// backoff is the wait before retry n+1: min·2ⁿ capped at max, with jitter
// (50-100 %) so that many gateways do not retry in step after an outage.
func (d *Delivery) backoff(attempts int) time.Duration {
	b := d.o.minBackoff
	for i := 0; i < attempts && b < d.o.maxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.o.maxBackoff)
	return b/2 + rand.N(b/2+1)
}

// order says which path to try first: the primary, unless it failed
// recently and there is a backup (failover); after the recheck time, or as
// soon as a probe finds it back, the primary comes first again.
func (w *worker) order(r Route) []path {
	if r.Backup == nil {
		return []path{primary}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.up[primary] && w.d.o.now().Sub(w.primaryDown) < w.d.o.recheck {
		return []path{backup, primary}
	}
	return []path{primary, backup}
}

func endpointOf(r Route, p path) Endpoint {
	if p == backup {
		return *r.Backup
	}
	return r.Primary
}

func (w *worker) deliver(ctx context.Context, r Route, ev alarm.Event) error {
	var errs []error
	permanentAll := true
	for _, p := range w.order(r) {
		s, err := w.sender(endpointOf(r, p))
		if err == nil {
			err = s.Send(ctx, ev)
		}
		if err == nil {
			w.mark(r, p, nil)
			if p == backup {
				w.d.c.failovers.Add(1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !alarm.IsPermanent(err) {
			// A refusal of one event says nothing about the path; a
			// timeout or a refused connection does.
			permanentAll = false
			w.mark(r, p, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	err := errors.Join(errs...)
	if permanentAll {
		return alarm.Permanent(err)
	}
	return err
}

func (w *worker) sender(ep Endpoint) (Sender, error) {
	k, _ := json.Marshal(ep)
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.senders[string(k)]; s != nil {
		return s, nil
	}
	f := w.d.o.factories[ep.Protocol]
	if f == nil {
		f = defaultFactory
	}
	s, err := f(ep)
	if err != nil {
		return nil, err
	}
	if hs, ok := s.(*httpSender); ok {
		if w.d.o.replyID != nil {
			hs.reply = w.d.o.replyID
		}
		if w.d.o.tls != nil {
			hs.client.Transport.(*http.Transport).TLSClientConfig = w.d.o.tls.Clone()
		}
	}
	w.senders[string(k)] = s
	return s, nil
}

func (w *worker) closeSenders() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, s := range w.senders {
		s.Close()
		delete(w.senders, k)
	}
}

// mark records the state of path p (err nil: up) and, when it changed and
// the route is monitored, raises a supervision event.
func (w *worker) mark(r Route, p path, err error) {
	up := err == nil
	w.mu.Lock()
	changed := w.up[p] != up
	w.up[p] = up
	if err != nil {
		w.lastErr[p] = err.Error()
	}
	if !up && p == primary {
		w.primaryDown = w.d.o.now() // keep to the backup for another recheck period
	}
	if up && changed {
		w.flush = true // retry what waits for a backoff now
	}
	w.mu.Unlock()
	if up && changed {
		w.wakeUp()
	}
	if !changed {
		return
	}
	state := "online"
	if !up {
		state = "offline"
	}
	w.d.o.log.Warn("delivery: path state changed", "destination", w.name, "path", p.String(), "state", state, "err", err)
	if r.Monitor {
		w.raise(r, p, state, err)
	}
}

// serviceAlarm tells the WithServiceAlarms observer.
func (w *worker) serviceAlarm(ev alarm.Event) {
	if w.d.o.onServiceAlarm != nil {
		w.d.o.onServiceAlarm(ev)
	}
}

// raise makes the supervision event of a path change.
func (w *worker) raise(r Route, p path, state string, cause error) {
	now := w.d.o.now()
	raw := fmt.Sprintf("destination %s %s path %s", w.name, p, state)
	if cause != nil {
		raw += ": " + cause.Error()
	}
	ev := alarm.Event{
		ID:              alarm.EventID("", w.name, alarm.ProtoSupervision, fmt.Sprintf("%s %s %d", p, state, now.UnixNano())),
		Protocol:        alarm.ProtoSupervision,
		Domain:          r.Domain,
		Received:        now,
		Raw:             raw,
		DeviceID:        w.name,
		DeviceComponent: p.String(),
		Priority:        1,
		Supervision:     &alarm.SupervisionFields{Kind: "destination", State: state},
	}
	w.d.c.supervision.Add(1)
	w.serviceAlarm(ev)
	if w.d.o.onSupervise != nil {
		w.d.o.onSupervise(ev)
		return
	}
	if err := w.d.put(ev, []Route{r}); err != nil {
		w.d.o.log.Error("delivery: queue supervision event", "destination", w.name, "err", err)
	}
}

// monitor probes both paths of a monitored route every probe interval
// (enableDestinationMonitoring), so a dead path is noticed without waiting
// for an alarm to fail on it.
func (w *worker) monitor(ctx context.Context) {
	t := time.NewTicker(w.d.o.probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		r, ok := w.route, w.haveRoute
		w.mu.Unlock()
		if !ok || !r.Monitor {
			continue
		}
		paths := []path{primary}
		if r.Backup != nil {
			paths = append(paths, backup)
		}
		for _, p := range paths {
			s, err := w.sender(endpointOf(r, p))
			if err == nil {
				err = s.Probe(ctx)
			}
			if ctx.Err() != nil {
				return
			}
			w.mark(r, p, err)
		}
	}
}
