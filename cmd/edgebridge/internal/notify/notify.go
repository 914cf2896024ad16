package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// Settings are the fields of a domain's notification settings read here.
type Settings struct {
	SIPEventsRestEndpoint   string              `json:"sipEventsRestEndpoint"`
	AlarmEventsRestEndpoint string              `json:"alarmEventsRestEndpoint"`
	RestAuthentication      []delivery.RestAuth `json:"restAuthentication"`
	HTTPTimeout             int64               `json:"httpTimeout"` // ms, all attempts
}

// DefaultTimeout is the total time of one notification when httpTimeout is 0.
const DefaultTimeout = 10 * time.Second

// Attempts is one try and three retries (httpTimeout: "including three re-try attempts").
const Attempts = 4

// Body kinds.
const (
	KindSIPEvent     = "sipEvent"
	KindServiceAlarm = "serviceAlarm"
	// KindMediaServiceAlarm is a media service's service alarm, its body
	// the media service API's alarm event (type, domain, sessionId, error,
	// errorDetails); it goes to alarmEventsRestEndpoint too.
	KindMediaServiceAlarm = "mediaserviceAlarm"
	// KindAlert is an engine alert (engine.Alert: no-carrier, call-limit,
	// device-limit, auth-failures, raised or cleared); it goes to
	// alarmEventsRestEndpoint too.
	KindAlert = "alert"
)

// Body is the JSON POSTed: the event with an id and its kind.
type Body struct {
	EventID string        `json:"eventId"`
	Kind    string        `json:"kind"` // KindSIPEvent or KindServiceAlarm
	Domain  string        `json:"domain"`
	SIP     *engine.Event `json:"sipEvent,omitempty"`
	Alarm   *alarm.Event  `json:"serviceAlarm,omitempty"`
	Media   any           `json:"mediaserviceAlarm,omitempty"`
	Alert   *engine.Alert `json:"alert,omitempty"`
	Sent    time.Time     `json:"sent"`
}

// Stats count notifications.
type Stats struct {
	Sent    uint64 // acknowledged with 2xx
	Failed  uint64 // given up after the attempts, or refused
	Dropped uint64 // the in-memory queue was full
}

// Notifier posts notifications from one goroutine (Run).
type Notifier struct {
	db  *store.DB
	log *slog.Logger
	q   chan Body

	mu      sync.Mutex
	posters map[string]cachedPoster // by domain

	sent, failed, dropped atomic.Uint64
	backoff               time.Duration
}

type cachedPoster struct {
	raw string // the settings document it was built from
	p   *delivery.Poster
}

// queueLen bounds the notifications waiting to be sent.
const queueLen = 1024

// New returns a notifier reading the settings from db.
func New(db *store.DB, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.Default()
	}
	return &Notifier{db: db, log: log, q: make(chan Body, queueLen), posters: map[string]cachedPoster{}, backoff: 200 * time.Millisecond}
}

// SIPEvent queues ev for its domain's sipEventsRestEndpoint; it never
// blocks (engine.WithEvents). A domain without the endpoint gets nothing
// queued: a call's six events were copied, queued and read back for
// nothing (the settings are cached, store.Cached).
func (n *Notifier) SIPEvent(ev engine.Event) {
	if s, _, err := n.settings(ev.Domain); err == nil && s.SIPEventsRestEndpoint == "" {
		return
	}
	e := ev // copied for the queue only when it goes there
	n.push(Body{Kind: KindSIPEvent, Domain: ev.Domain, SIP: &e})
}

// ServiceAlarm queues ev for its domain's alarmEventsRestEndpoint.
func (n *Notifier) ServiceAlarm(ev alarm.Event) {
	n.push(Body{Kind: KindServiceAlarm, Domain: ev.Domain, Alarm: &ev, EventID: ev.ID})
}

// MediaServiceAlarm queues a media service's alarm event for its domain's
// alarmEventsRestEndpoint.
func (n *Notifier) MediaServiceAlarm(domain string, ev any) {
	n.push(Body{Kind: KindMediaServiceAlarm, Domain: domain, Media: ev})
}

// Alert queues an engine alert for its domain's alarmEventsRestEndpoint.
func (n *Notifier) Alert(a engine.Alert) {
	n.push(Body{Kind: KindAlert, Domain: a.AccountID, Alert: &a})
}

func (n *Notifier) push(b Body) {
	select {
	case n.q <- b:
	default:
		n.dropped.Add(1)
	}
}

// Stats returns the counters.
func (n *Notifier) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Failed: n.failed.Load(), Dropped: n.dropped.Load()}
}

// Run sends queued notifications until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			n.mu.Lock()
			for _, c := range n.posters {
				c.p.Close()
			}
			n.mu.Unlock()
			return
		case b := <-n.q:
			n.send(ctx, b)
		}
	}
}

func (n *Notifier) send(ctx context.Context, b Body) {
	if b.Domain == "" {
		return
	}
	s, raw, err := n.settings(b.Domain)
	if err != nil {
		n.log.Warn("notify: settings unreadable", "domain", b.Domain, "err", err)
		return
	}
	url := s.SIPEventsRestEndpoint
	if b.Kind == KindServiceAlarm || b.Kind == KindMediaServiceAlarm || b.Kind == KindAlert {
		url = s.AlarmEventsRestEndpoint
	}
	if url == "" {
		return // not asked for
	}
	if b.EventID == "" {
		// Made for a notification that goes out: a call's events are
		// queued whether or not its domain asked for them, six a call.
		var id [16]byte
		rand.Read(id[:])
		b.EventID = hex.EncodeToString(id[:])
	}
	total := DefaultTimeout
	if s.HTTPTimeout > 0 {
		total = time.Duration(s.HTTPTimeout) * time.Millisecond
	}
	p, err := n.poster(b.Domain, raw, s, total/Attempts)
	if err != nil {
		// The API refuses such settings; this is a document of another version.
		n.log.Warn("notify: notification settings cannot sign", "domain", b.Domain, "err", err)
		n.failed.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	var last error
	for attempt := 0; attempt < Attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(n.backoff << (attempt - 1)):
			}
			if ctx.Err() != nil {
				break
			}
		}
		b.Sent = time.Now()
		status, err := p.Post(ctx, url, b.EventID, func() ([]byte, error) { return json.Marshal(b) })
		switch {
		case err != nil:
			last = err
			if alarm.IsPermanent(err) {
				attempt = Attempts
			}
			continue
		case status >= 200 && status < 300:
			n.sent.Add(1)
			return
		case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
			last = errors.New(http.StatusText(status))
			continue
		default:
			last = errors.New(http.StatusText(status))
			attempt = Attempts // refused: the same body cannot succeed
		}
	}
	n.failed.Add(1)
	n.log.Warn("notify: notification not delivered", "domain", b.Domain, "kind", b.Kind, "url", url, "err", last)
}

// settings reads the domain's notification settings.
func (n *Notifier) settings(domain string) (Settings, string, error) {
	// Each call event asks: the decoded document is kept until the store
	// is written.
	v, err := n.db.Cached(store.CacheKey{Read: "notify.settings", Domain: domain}, func(tx *store.Tx) (any, error) {
		var s Settings
		raw, err := tx.Get(store.Coll{Domain: domain, Resource: "notificationsettings"}, "settings")
		if errors.Is(err, store.ErrNotFound) {
			return storedSettings{}, nil
		}
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return storedSettings{s, string(raw)}, nil
	})
	if err != nil {
		return Settings{}, "", err
	}
	ss := v.(storedSettings)
	return ss.s, ss.raw, nil
}

// storedSettings is a domain's settings as decoded, and as stored.
type storedSettings struct {
	s   Settings
	raw string
}

// poster is the domain's poster, built again when its settings changed.
func (n *Notifier) poster(domain, raw string, s Settings, perAttempt time.Duration) (*delivery.Poster, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.posters[domain]; ok && c.raw == raw {
		return c.p, nil
	}
	// The URL is given per request; the endpoint carries auth and timeout.
	p, err := delivery.NewPoster(delivery.Endpoint{Protocol: delivery.ProtoHTTP, URL: "http://notify.invalid", Auth: s.RestAuthentication, Timeout: perAttempt})
	if err != nil {
		return nil, err
	}
	if c, ok := n.posters[domain]; ok {
		c.p.Close()
	}
	n.posters[domain] = cachedPoster{raw: raw, p: p}
	return p, nil
}
