package delivery

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/store"
)

// Resolver returns the destinations of an event. It is called on Enqueue
// and again when a failed event is retried, so a corrected configuration
// applies to events already queued.
type Resolver func(ev alarm.Event) ([]Route, error)

// Delivery is the alarm event delivery service. It satisfies alarm.Queue.
type Delivery struct {
	db      *store.DB
	resolve Resolver
	o       options
	c       counters

	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	workers map[string]*worker
	wg      sync.WaitGroup
	closed  bool
}

var _ alarm.Queue = (*Delivery)(nil)

type options struct {
	log         *slog.Logger
	minBackoff  time.Duration
	maxBackoff  time.Duration
	maxAttempts int
	probeEvery  time.Duration
	recheck     time.Duration
	factories   map[string]SenderFactory
	onSupervise func(alarm.Event)
	// onServiceAlarm observes path changes and given-up events.
	onServiceAlarm func(alarm.Event)
	replyID        func(alarm.Event) string
	batch          int
	now            func() time.Time
	tls            *tls.Config
	observe        func(time.Duration)
	onAck          func(id string, latency time.Duration)
}

// Option configures New.
type Option func(*options)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithBackoff sets the retry backoff: the first retry waits about min, each
// next one twice as long, never more than max (jittered to 50-100 %).
// Default 500 ms and 60 s.
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.minBackoff, o.maxBackoff = min, max }
}

// WithMaxAttempts moves an event to the dead letters after n failed
// attempts. Default 0: retried until delivered, so an ARC outage of any
// length loses nothing.
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithMonitorInterval sets how often enableDestinationMonitoring probes both
// paths (default 10 s, inside the 20 s of the strictest EN 50136 category).
func WithMonitorInterval(d time.Duration) Option { return func(o *options) { o.probeEvery = d } }

// WithPrimaryRecheck sets how long deliveries keep to the backup after the
// primary failed before trying the primary first again (default 30 s;
// a successful probe switches back at once).
func WithPrimaryRecheck(d time.Duration) Option { return func(o *options) { o.recheck = d } }

// WithSender registers a sender for an endpoint protocol (e.g. "scaip").
func WithSender(protocol string, f SenderFactory) Option {
	return func(o *options) { o.factories[protocol] = f }
}

// WithSupervisionHandler receives each supervision event raised by
// destination monitoring. Without it the event is queued to the destination
// whose path changed (and reaches the ARC over the path still up).
func WithSupervisionHandler(f func(alarm.Event)) Option {
	return func(o *options) { o.onSupervise = f }
}

// WithAckObserver calls f with the id of each event its destination
// acknowledged (the status page marks it delivered).
func WithAckObserver(f func(id string, latency time.Duration)) Option {
	return func(o *options) { o.onAck = f }
}

// WithServiceAlarms observes the service alarms delivery raises (an ARC
// path down or up under destination monitoring, an event given up after
// its last attempt) without changing what happens to them; f must not
// block.
func WithServiceAlarms(f func(alarm.Event)) Option {
	return func(o *options) { o.onServiceAlarm = f }
}

// WithLatencyObserver is called with the enqueue-to-acknowledgement
// latency of each delivered event (e.g. api/metrics' DeliveryLatency
// histogram's ObserveDuration); Stats keeps its own histogram as well.
func WithLatencyObserver(f func(time.Duration)) Option { return func(o *options) { o.observe = f } }

// WithTLSConfig sets the TLS settings of HTTPS callbacks, e.g. a private
// CA's pool in RootCAs (default: the system's roots).
func WithTLSConfig(c *tls.Config) Option { return func(o *options) { o.tls = c } }

// WithReplyID sets the replyId of callbacks (default: the event id), the
// token an ARC quotes in later alarm call control requests.
func WithReplyID(f func(alarm.Event) string) Option { return func(o *options) { o.replyID = f } }

// New makes the delivery service over db. Enqueue works at once (events are
// stored); sending starts with Start.
func New(db *store.DB, resolve Resolver, opts ...Option) *Delivery {
	o := options{
		log: slog.Default(), minBackoff: 500 * time.Millisecond, maxBackoff: time.Minute,
		probeEvery: 10 * time.Second, recheck: 30 * time.Second, batch: 64, now: time.Now,
		factories: map[string]SenderFactory{},
	}
	for _, f := range opts {
		f(&o)
	}
	if o.minBackoff <= 0 {
		o.minBackoff = 500 * time.Millisecond
	}
	if o.maxBackoff < o.minBackoff {
		o.maxBackoff = o.minBackoff
	}
	return &Delivery{db: db, resolve: resolve, o: o, workers: map[string]*worker{}}
}

// queued is what the store keeps per item: the event and the route it had
// when it was queued.
type queued struct {
	Event alarm.Event `json:"event"`
	Route Route       `json:"route"`
}

// groupOf is the ordering group of an event: its device. Events of one
// device leave in the order they arrived; different devices do not wait
// for each other.
func groupOf(ev alarm.Event) string {
	switch {
	case ev.DeviceKey != "":
		return "dev:" + ev.DeviceKey
	case ev.ControllerID != "" || ev.DeviceID != "":
		return "dev:" + alarm.DeviceKey(ev.CustomerSiteID, ev.ControllerID, ev.DeviceID)
	case ev.ContactID != nil:
		return "acct:" + ev.ContactID.Account
	case ev.CallerID != "":
		return "cli:" + ev.CallerID
	}
	return ""
}

// ErrNoRoute is returned by Enqueue when the event has no destination: the
// alarm unit gets no kissoff, so it falls back to its own retries.
var ErrNoRoute = errors.New("delivery: event has no destination")

// Enqueue stores ev for each of its destinations and returns once that is
// committed to disk. It fails (and the receiver withholds the kissoff) when
// the event has no destination or the store cannot be written. An event
// whose id is already queued or was delivered is accepted without a copy.
func (d *Delivery) Enqueue(ctx context.Context, ev alarm.Event) error {
	if ev.ID == "" {
		return fmt.Errorf("delivery: event without eventId")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	routes, err := d.resolve(ev)
	if err != nil {
		return fmt.Errorf("delivery: route event %s: %w", ev.ID, err)
	}
	if len(routes) == 0 {
		return fmt.Errorf("%w (event %s)", ErrNoRoute, ev.ID)
	}
	return d.put(ev, routes)
}

func (d *Delivery) put(ev alarm.Event, routes []Route) error {
	now := d.o.now()
	items := make([]store.QueueItem, len(routes))
	for i, r := range routes {
		if err := r.Validate(); err != nil {
			return err
		}
		p, err := json.Marshal(queued{Event: ev, Route: r})
		if err != nil {
			return fmt.Errorf("delivery: encode event %s: %w", ev.ID, err)
		}
		items[i] = store.QueueItem{Dest: r.Name, ID: ev.ID, Group: groupOf(ev), Payload: p, Enqueued: now}
	}
	added, err := d.db.QueuePut(items...)
	if err != nil {
		return fmt.Errorf("delivery: queue event %s: %w", ev.ID, err)
	}
	for i, r := range routes {
		if added[i] {
			d.c.received.Add(1)
		} else {
			d.c.duplicates.Add(1)
		}
		d.kick(r)
	}
	return nil
}

// Watch registers a destination without an event, so that its paths are
// supervised (enableDestinationMonitoring) from the start instead of from
// its first alarm. cmd calls it for each event mapper at start-up and after
// a configuration change.
func (d *Delivery) Watch(r Route) error {
	if err := r.Validate(); err != nil {
		return err
	}
	d.kick(r)
	return nil
}

// kick hands the newest route to the destination's worker (starting it
// when delivery runs) and wakes it.
func (d *Delivery) kick(r Route) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.workers[r.Name]
	if w == nil {
		w = newWorker(d, r.Name)
		d.workers[r.Name] = w
		if d.ctx != nil && !d.closed {
			d.startWorker(w)
		}
	}
	w.setRoute(r)
	w.wakeUp()
}

// Start starts a worker for every destination with queued events (those
// left by the last run, too) and for each new destination as events come.
func (d *Delivery) Start(ctx context.Context) error {
	d.mu.Lock()
	if d.ctx != nil || d.closed {
		d.mu.Unlock()
		return fmt.Errorf("delivery: already started or closed")
	}
	d.ctx, d.cancel = context.WithCancel(ctx)
	d.mu.Unlock()
	dests, err := d.db.QueueDests()
	if err != nil {
		return fmt.Errorf("delivery: list queues: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, name := range dests {
		if d.workers[name] == nil {
			d.workers[name] = newWorker(d, name)
		}
	}
	for _, w := range d.workers {
		d.startWorker(w)
	}
	return nil
}

// startWorker runs w's goroutines; d.mu is held.
func (d *Delivery) startWorker(w *worker) {
	d.wg.Add(2)
	go func() { defer d.wg.Done(); w.run(d.ctx) }()
	go func() { defer d.wg.Done(); w.monitor(d.ctx) }()
}

// Name names the service among the daemon's components.
func (d *Delivery) Name() string { return "delivery" }

// Close stops every worker and closes their connections. Queued events stay
// in the store for the next Start.
func (d *Delivery) Close() error {
	d.mu.Lock()
	d.closed = true
	if d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.workers {
		w.closeSenders()
	}
	return nil
}

// Stats returns counters, the latency histogram and each destination's state.
func (d *Delivery) Stats() Stats {
	s := Stats{
		Received: d.c.received.Load(), Duplicates: d.c.duplicates.Load(), Delivered: d.c.delivered.Load(),
		Failed: d.c.failed.Load(), Retries: d.c.retries.Load(), Failovers: d.c.failovers.Load(),
		Supervision: d.c.supervision.Load(), LatencySum: time.Duration(d.c.lat.sumNs.Load()), LatencyN: d.c.lat.n.Load(),
	}
	s.LatencyCounts = make([]uint64, len(LatencyBuckets)+1)
	for i := range s.LatencyCounts {
		s.LatencyCounts[i] = d.c.lat.counts[i].Load()
	}
	names, _ := d.db.QueueDests()
	d.mu.Lock()
	ws := map[string]*worker{}
	for k, w := range d.workers {
		ws[k] = w
	}
	d.mu.Unlock()
	for n := range ws {
		if !slices.Contains(names, n) {
			names = append(names, n) // watched, nothing queued yet
		}
	}
	slices.Sort(names)
	for _, n := range names {
		qc, err := d.db.QueueCountsOf(n)
		if err != nil {
			continue
		}
		s.Queued += qc.Pending
		s.Dead += qc.Dead
		ds := DestStats{Name: n, Queued: qc.Pending, Dead: qc.Dead, Delivered: qc.Delivered, PrimaryUp: true}
		if w := ws[n]; w != nil {
			w.pathState(&ds)
		}
		s.Destinations = append(s.Destinations, ds)
	}
	return s
}
