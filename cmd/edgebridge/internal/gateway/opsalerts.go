package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// The gateway's own trouble, watched every opsCheckEvery: an ARC's durable
// alarm queue backing up, and the store nearing the end of its room. Each
// cause is raised once until it clears, as a supervision event (posted to
// alarmEventsRestEndpoint as a service alarm, queued to the ARCs the
// domain's alarmbridges send to, shown in the recent alarms) and as the
// engine alert it files (listed at /provisioning/alerts/{domain}). The
// store refusing a write is storeHealth's (storehealth.go), filed the same
// way.
const (
	// DefaultQueueAlertEvents: more events than this waiting for one ARC
	// is a backlog (serve --alert-queue-events).
	DefaultQueueAlertEvents = 100
	// DefaultQueueAlertAge: the oldest event waiting for one ARC longer
	// than this is a backlog (serve --alert-queue-age).
	DefaultQueueAlertAge = 10 * time.Minute
	// DefaultStoreBudget is the size the store file may grow to (serve
	// --store-budget); nearly full at storeNearlyFullPercent of it.
	DefaultStoreBudget = 64 << 20
	// DefaultStoreMinFree: less free space than this on the data folder's
	// filesystem is nearly full (serve --store-min-free).
	DefaultStoreMinFree = 8 << 20

	storeNearlyFullPercent = 90
	opsCheckEvery          = 30 * time.Second
)

// OpsLimits are the thresholds of the gateway's own alerts; zero fields
// take the defaults above.
type OpsLimits struct {
	QueueEvents  int
	QueueAge     time.Duration
	StoreBudget  int64
	StoreMinFree int64
	// CallQueueCalls and CallQueueWait: when a ringExclusive group's call
	// queue files call-queue-backlog (the engine watches it,
	// engine.WithQueueAlert; serve --alert-call-queue-calls,
	// --alert-call-queue-wait).
	CallQueueCalls int
	CallQueueWait  time.Duration
}

func (l OpsLimits) withDefaults() OpsLimits {
	if l.QueueEvents <= 0 {
		l.QueueEvents = DefaultQueueAlertEvents
	}
	if l.QueueAge <= 0 {
		l.QueueAge = DefaultQueueAlertAge
	}
	if l.StoreBudget <= 0 {
		l.StoreBudget = DefaultStoreBudget
	}
	if l.StoreMinFree <= 0 {
		l.StoreMinFree = DefaultStoreMinFree
	}
	return l
}

// opsWatch raises and clears the queue and store alerts.
type opsWatch struct {
	g   *Gateway
	now func() time.Time // injected by tests

	mu     sync.Mutex
	limits OpsLimits
	on     map[string]bool // type NUL domain NUL key of the causes raised
}

func newOpsWatch(g *Gateway, l OpsLimits) *opsWatch {
	return &opsWatch{g: g, now: time.Now, limits: l.withDefaults(), on: map[string]bool{}}
}

func (w *opsWatch) run(ctx context.Context) {
	t := time.NewTicker(opsCheckEvery)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check looks at the queue and the store once.
func (w *opsWatch) check(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	seen := map[string]bool{}
	w.checkQueue(ctx, now, seen)
	w.checkStore(ctx, now, seen)
	// A cause whose subject is gone (a queue emptied and removed) is over.
	for k := range w.on {
		if !seen[k] {
			typ, rest, _ := strings.Cut(k, "\x00")
			domain, key, _ := strings.Cut(rest, "\x00")
			w.set(ctx, now, seen, typ, domain, key, false, "nothing waits for "+key)
		}
	}
}

// checkQueue: one cause per ARC queue (its destination name, "domain/...").
func (w *opsWatch) checkQueue(ctx context.Context, now time.Time, seen map[string]bool) {
	db, l := w.g.db, w.limits
	dests, err := db.QueueDests()
	if err != nil {
		return
	}
	for _, dest := range dests {
		domain, _, ok := strings.Cut(dest, "/")
		if !ok {
			continue
		}
		qc, err := db.QueueCountsOf(dest)
		if err != nil {
			continue
		}
		first, err := db.QueueItems(dest, 1)
		if err != nil {
			continue
		}
		var why string
		switch {
		case qc.Pending > uint64(l.QueueEvents):
			why = fmt.Sprintf("%d alarm events wait for %s (more than %d)", qc.Pending, dest, l.QueueEvents)
		case len(first) > 0 && now.Sub(first[0].Enqueued) > l.QueueAge:
			why = fmt.Sprintf("the oldest alarm event for %s has waited %s (longer than %s)", dest,
				now.Sub(first[0].Enqueued).Round(time.Second), l.QueueAge)
		}
		clear := fmt.Sprintf("%d alarm events wait for %s", qc.Pending, dest)
		msg := clear
		if why != "" {
			msg = why
		}
		w.set(ctx, now, seen, engine.AlertQueueBacklog, domain, dest, why != "", msg)
	}
}

// checkStore: the store file against its budget, the free space of the
// data folder's filesystem against the minimum; one cause ("store") for
// every domain of the gateway.
func (w *opsWatch) checkStore(ctx context.Context, now time.Time, seen map[string]bool) {
	db, l := w.g.db, w.limits
	size := db.Size()
	free, freeErr := freeBytes(db.Path())
	var why string
	switch {
	case size*100 >= l.StoreBudget*storeNearlyFullPercent:
		why = fmt.Sprintf("the store holds %d bytes of its budget of %d", size, l.StoreBudget)
	case freeErr == nil && free < l.StoreMinFree:
		why = fmt.Sprintf("the data folder's filesystem has %d bytes free (less than %d)", free, l.StoreMinFree)
	}
	msg := fmt.Sprintf("the store holds %d bytes of its budget of %d; %d bytes free", size, l.StoreBudget, free)
	if why != "" {
		msg = why
	}
	for _, domain := range w.g.domains() {
		w.set(ctx, now, seen, engine.AlertStoreNearlyFull, domain, "store", why != "", msg)
	}
}

// set raises or clears one cause when its state changed.
func (w *opsWatch) set(ctx context.Context, now time.Time, seen map[string]bool, typ, domain, key string, on bool, msg string) {
	k := typ + "\x00" + domain + "\x00" + key
	if on {
		seen[k] = true
	}
	if w.on[k] == on {
		return
	}
	state := "online"
	if on {
		w.on[k] = true
		state = "offline"
	} else {
		delete(w.on, k)
	}
	w.g.log.Warn("gateway alert", "type", typ, "domain", domain, "cause", key, "raised", on, "message", msg)
	for _, ev := range w.g.supervisionEvents([]string{domain}, typ, key, state, msg, now) {
		w.g.raiseSupervision(ctx, ev)
	}
}

// domains are the store's tenant domains (not its own, "#..."), the
// gateway's included.
func (g *Gateway) domains() []string {
	var all []string
	_ = g.db.View(func(tx *store.Tx) error { all = tx.Domains(); return nil })
	out := []string{g.cfg.Domain}
	for _, d := range all {
		if d != g.cfg.Domain && !strings.HasPrefix(d, "#") {
			out = append(out, d)
		}
	}
	return out
}

// supervisionEvents are the supervision event of kind (state offline or
// online) for each event mapper an alarmbridge of the domains uses (the
// ARCs that take the gateway's alarms), and one without a mapper for a
// domain that has none. key names the cause (DeviceID).
func (g *Gateway) supervisionEvents(domains []string, kind, key, state, raw string, at time.Time) []alarm.Event {
	var out []alarm.Event
	for _, dom := range domains {
		mappers := g.arcMappers(dom)
		if len(mappers) == 0 {
			mappers = []string{""}
		}
		for _, m := range mappers {
			out = append(out, supervisionEvent(dom, m, kind, key, state, raw, at))
		}
	}
	return out
}

// arcMappers are the event mappers the domain's alarmbridges use, each
// once, in provisioning order: the ARCs that take its alarms.
func (g *Gateway) arcMappers(domain string) []string {
	bridges, err := g.prov.AlarmBridges(domain)
	if err != nil {
		return nil
	}
	var out []string
	for _, b := range bridges {
		if m := b.AlarmEventMapperID; m != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// supervisionEvent is the gateway's supervision event of kind for one
// mapper of a domain ("" for none); key names the cause (DeviceID).
func supervisionEvent(domain, mapper, kind, key, state, raw string, at time.Time) alarm.Event {
	return alarm.Event{
		ID:       alarm.EventID("", kind, alarm.ProtoSupervision, fmt.Sprintf("%s %s %s %s %d", domain, mapper, key, state, at.UnixNano())),
		Protocol: alarm.ProtoSupervision, Domain: domain, MapperID: mapper, DeviceID: key, Received: at, Raw: raw, Priority: 1,
		Supervision: &alarm.SupervisionFields{Kind: kind, State: state},
	}
}

// raiseSupervision posts ev to alarmEventsRestEndpoint, files its alert and
// queues it to its ARC (if it has one; else it shows in the recent alarms
// only).
func (g *Gateway) raiseSupervision(ctx context.Context, ev alarm.Event) {
	g.notify.ServiceAlarm(ev)
	supervisionAlert(g.eng, ev)
	g.queueSupervision(ctx, ev)
}

// queueSupervision queues a supervision event to its mapper's ARC, or,
// without a mapper, shows it in the recent alarms only.
func (g *Gateway) queueSupervision(ctx context.Context, ev alarm.Event) {
	if ev.MapperID == "" {
		g.recent.add(ev)
		return
	}
	if err := g.dl.Enqueue(ctx, ev); err != nil {
		g.log.Warn("gateway alert not queued to the ARC", "domain", ev.Domain, "mapper", ev.MapperID, "kind", ev.Supervision.Kind, "err", err)
		return
	}
	g.recent.add(ev)
}
