package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/store"
)

// The gateway's live state and field service under /gateway/... (and the
// test alarm under /alarmbridge/{domain}/testalarm): what the installer's
// web page shows beyond configuration. They run the operations the field
// console runs (its status, alarms and factory-reset commands) through the
// same Gateway methods, so the page, the console and REST clients agree.

// AlarmInfo is one alarm event as the console and the web page list it.
type AlarmInfo struct {
	ID       string    `json:"id"`
	Domain   string    `json:"domain,omitempty"`
	Account  string    `json:"account"`
	Protocol string    `json:"protocol"`
	Code     string    `json:"code"`
	Zone     string    `json:"zone"`
	State    string    `json:"state"`
	At       time.Time `json:"at"`
	Attempts int       `json:"attempts"`
	Test     bool      `json:"test,omitempty"` // a test alarm (POST testalarm), not a real one
}

// CallInfo is one call in progress.
type CallInfo struct {
	ID      string    `json:"id"`
	Domain  string    `json:"domain,omitempty"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	State   string    `json:"state"`
	Started time.Time `json:"started"`
}

// GatewayHealth is the call path's state for the status summary.
type GatewayHealth struct {
	SIPUp         bool          `json:"sipUp"`
	SIPAddr       string        `json:"sipAddr,omitempty"`
	Calls         int           `json:"calls"`
	Registrations int           `json:"registrations"`
	Trunks        []TrunkHealth `json:"trunks"`
	Paths         []PathHealth  `json:"arcPaths"`
	Queued        int           `json:"queued"`
}

// TrunkHealth is one upstream trunk's registration ("domain/trunkId").
type TrunkHealth struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
}

// PathHealth is one path (primary or backup endpoint) of one delivery
// destination toward an ARC.
type PathHealth struct {
	Destination string `json:"destination"`
	Path        string `json:"path"` // "primary" or "backup"
	Up          bool   `json:"up"`
	LastError   string `json:"lastError,omitempty"`
	Queued      int    `json:"queued"`
}

// TestAlarm is the body of /alarmbridge/{domain}/testalarm.
type TestAlarm struct {
	MapperID string // the alarm event mapper to send it through
	Account  string // the account (controller id) it carries
}

// Gateway is the running gateway as the status summary and the field
// service see it; cmd wires it. The console's Calls and Alarms are parts of
// the same implementation.
type Gateway interface {
	Health() GatewayHealth
	ListCalls() []CallInfo
	RecentAlarms(n int) []AlarmInfo
	QueuedAlarms() []AlarmInfo
	// RetryNow makes every queued event due now; it returns how many.
	RetryNow() (int, error)
	// AlarmsChanged returns a channel closed at the next change of the
	// recent alarms (a new event queued, an event delivered).
	AlarmsChanged() <-chan struct{}
	// TestAlarm queues a test event (Contact ID 601, manual test report,
	// marked as a test) through the mapper, delivered like a real alarm; it
	// returns the event id.
	TestAlarm(ctx context.Context, domain string, t TestAlarm) (string, error)
	// PostAlarmEvent queues an event posted to an alarmbridge of protocol
	// api, mapped and delivered like a received one; it returns the event
	// id. An event no provisioned device matches is refused (wrapping
	// ErrNoSuchDevice).
	PostAlarmEvent(ctx context.Context, domain, bridgeID string, ev alarm.PostedEvent) (string, error)
}

// ErrNoSuchDevice is what PostAlarmEvent wraps when no provisioned device
// matches the posted event (404).
var ErrNoSuchDevice = errors.New("no provisioned device matches")

// storeProbe answers "is the store writable" for the status summary with a
// real committed write, at most once per storeProbeEvery however many
// pages are watching (each write is an fsync on flash).
type storeProbe struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

const storeProbeEvery = 10 * time.Second

func (p *storeProbe) check(db *store.DB) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); p.at.IsZero() || now.Sub(p.at) >= storeProbeEvery {
		p.at = now
		p.err = db.Put(store.Coll{Domain: sysDomain, Resource: "health"}, "probe", []byte(strconv.FormatInt(now.UnixMilli(), 10)))
	}
	return p.err
}

func (s *Server) addFieldRoutes() {
	const ext = "gateway extension: the installer's web page and field service"
	s.add(&route{method: "GET", path: "/gateway/status", tag: "field service", auth: authAny, ext: ext,
		summary: "Status at a glance: version, uptime, health (store, SIP, trunks, ARC paths), calls, registrations, the alarm queue and the last alarms. A domain key sees its domain's calls, trunks, paths and alarms only.",
		resp:    statusSchema(), h: s.status})
	s.add(&route{method: "GET", path: "/gateway/events", tag: "field service", auth: authAny, ext: ext,
		summary: "The status summary as server-sent events (text/event-stream): an event \"status\" at once, at each change of the recent alarms, and every 2 s.",
		resp:    str(), respType: "text/event-stream", h: s.events})
	s.add(&route{method: "GET", path: "/gateway/alarms/recent", tag: "field service", auth: authAny, ext: ext,
		summary: "The last alarm events the gateway acknowledged (newest last), as the console's `alarms recent`.",
		resp:    okSchema(opt("alarms", arr(alarmInfoSchema()))), h: s.recentAlarms})
	s.add(&route{method: "GET", path: "/gateway/alarms/queued", tag: "field service", auth: authAny, ext: ext,
		summary: "The delivery queue: events waiting for their ARC, with attempts and the last error, as the console's `alarms queued`.",
		resp:    okSchema(opt("alarms", arr(alarmInfoSchema()))), h: s.queuedAlarms})
	s.add(&route{method: "POST", path: "/gateway/alarms/retry", tag: "field service", auth: authAdmin, ext: ext,
		summary: "Retry the delivery queue now (admin key): every waiting event becomes due and dead letters go back in line, as the console's `alarms retry`.",
		resp:    okSchema(opt("retried", int32s())), h: s.retryNow})
	s.add(&route{method: "POST", path: "/gateway/factoryreset", tag: "field service", auth: authAdmin, ext: ext,
		summary: "Erase all configuration, registrations and logs and restart (admin key); queued alarms are kept and still delivered. As the console's `factory-reset`.",
		body:    obj(req("confirm", str().enum(FactoryResetConfirm).desc("Must be exactly \""+FactoryResetConfirm+"\"."))), bodyType: jsonType,
		resp: okSchema(), h: s.factoryReset})
	s.add(&route{method: "POST", path: "/alarmbridge/{domain}/testalarm", tag: "alarm call control", ext: ext,
		summary: "Send a test alarm through an alarm event mapper: Contact ID 601 (manual test report), marked as a test, queued and delivered like a real alarm (primary, then backup endpoint).",
		body: obj(
			req("alarmEventMapperId", str().desc("The alarm event mapper whose targetEndpoint (and backupEndpoint) receives it.")),
			opt("account", str().pattern(`^[0-9A-Fa-f]{3,16}$`).def("0000").desc("The account (controllerId) the test event carries.")),
		).extNote(ext), bodyType: jsonType,
		resp: okSchema(opt("eventId", str())), h: s.testAlarm})
	s.add(&route{method: "POST", path: "/alarmbridge/{domain}/{alarmBridgeId}/event", tag: "alarm call control", ext: ext,
		summary: "Post an alarm event to an alarmbridge of protocol api: mapped (the device must be provisioned: controllerId and deviceId as deviceId, as for a received event), queued durably and delivered like a received alarm. 404 when no such bridge or no such device, 409 when the bridge's protocol is not api.",
		body: obj(
			req("controllerId", str().desc("The account of the device that raised the event (with deviceId, the provisioned device's deviceId).")),
			opt("deviceId", str()),
			req("statusCode", str().desc("The event code delivered to the ARC.")),
			opt("deviceType", str()), opt("deviceComponent", str()), opt("systemConfig", str()), opt("location", str()),
			opt("priority", int32s().desc("0 to 99.")),
		).extNote(ext), bodyType: jsonType,
		resp: okSchema(opt("eventId", str())), h: s.postAlarmEvent})
}

// postAlarmEvent is POST /alarmbridge/{domain}/{alarmBridgeId}/event.
func (s *Server) postAlarmEvent(c *call) error {
	body, err := c.object()
	if err != nil {
		return err
	}
	var pe alarm.PostedEvent
	if err := runtimeDecode(body, &pe); err != nil {
		return err
	}
	if err := pe.Validate(); err != nil {
		return runtimeRefusal(err)
	}
	g, err := s.gateway()
	if err != nil {
		return err
	}
	id := c.r.PathValue("alarmBridgeId")
	doc, err := s.storedDoc(c.coll("alarmbridge", false), id)
	if err != nil {
		return err
	}
	if doc == nil {
		return errf(http.StatusNotFound, "no alarmbridge %q in domain %s", id, c.domain)
	}
	if p, _ := doc["protocol"].(string); p != string(alarm.ProtoAPI) {
		return errf(http.StatusConflict, "alarmbridge %s has protocol %q: events are posted only to a bridge of protocol api", id, p)
	}
	evID, err := g.PostAlarmEvent(c.r.Context(), c.domain, id, pe)
	if errors.Is(err, ErrNoSuchDevice) {
		return errf(http.StatusNotFound, "%v", err)
	}
	if err != nil {
		return errf(http.StatusConflict, "alarm event not queued: %v", err)
	}
	s.log.Info("api: alarm event posted", "domain", c.domain, "alarmbridge", id, "event", evID)
	return c.ok(map[string]any{"eventId": evID})
}

// FactoryResetConfirm is what a factory reset must be confirmed with, on the
// console and over REST.
const FactoryResetConfirm = "erase everything"

func alarmInfoSchema() *Schema {
	return obj(opt("id", str()), opt("domain", str()), opt("account", str()), opt("protocol", str()), opt("code", str()),
		opt("zone", str()), opt("state", str()), opt("at", str().format("date-time")), opt("attempts", int32s()), opt("test", boolean()))
}

func statusSchema() *Schema {
	return okSchema(
		opt("version", str()), opt("startedAt", str().format("date-time")), opt("uptimeSeconds", int64s()),
		opt("tlsFingerprint", str().desc("SHA-256 of the HTTPS certificate, colon-separated hex; absent without --https.")),
		opt("health", obj(opt("storeWritable", boolean()), opt("storeError", str()), opt("sipUp", boolean()), opt("sipAddr", str()),
			opt("trunks", arr(obj(opt("name", str()), opt("up", boolean())))),
			opt("arcPaths", arr(obj(opt("destination", str()), opt("path", str().enum("primary", "backup")), opt("up", boolean()), opt("lastError", str()), opt("queued", int32s())))))),
		opt("calls", arr(obj(opt("id", str()), opt("domain", str()), opt("from", str()), opt("to", str()), opt("state", str()), opt("started", str().format("date-time"))))),
		opt("registrations", int32s()), opt("queued", int32s()),
		opt("recentAlarms", arr(alarmInfoSchema())),
	)
}

func (s *Server) gateway() (Gateway, error) {
	if s.cfg.Gateway == nil {
		return nil, errf(http.StatusServiceUnavailable, "the gateway's live state is not available: no call path is running")
	}
	return s.cfg.Gateway, nil
}

// visible says whether a name scoped "domain/..." (or an item of domain d)
// is for the caller: the admin sees everything, a domain key its own.
func (c *call) visible(domain string) bool {
	return c.principal == nil || c.principal.domain == "" || c.principal.domain == domain
}

func (c *call) visibleName(name string) bool {
	d, _, _ := strings.Cut(name, "/")
	return c.visible(d)
}

func (c *call) alarms(list []AlarmInfo) []AlarmInfo {
	out := make([]AlarmInfo, 0, len(list))
	for _, a := range list {
		if c.visible(a.Domain) {
			out = append(out, a)
		}
	}
	return out
}

// statusDoc is the status summary as the caller may see it.
func (s *Server) statusDoc(c *call) map[string]any {
	out := map[string]any{"success": true, "version": s.cfg.Version}
	if !s.cfg.Started.IsZero() {
		out["startedAt"] = s.cfg.Started.UTC()
		out["uptimeSeconds"] = int64(time.Since(s.cfg.Started).Seconds())
	}
	if s.cfg.TLSFingerprint != nil {
		if fp := s.cfg.TLSFingerprint(); fp != "" {
			out["tlsFingerprint"] = fp
		}
	}
	health := map[string]any{"storeWritable": true}
	if err := s.probe.check(s.db); err != nil {
		health["storeWritable"], health["storeError"] = false, err.Error()
	}
	out["health"] = health
	g := s.cfg.Gateway
	if g == nil {
		return out
	}
	h := g.Health()
	health["sipUp"], health["sipAddr"] = h.SIPUp, h.SIPAddr
	trunks := []TrunkHealth{}
	for _, t := range h.Trunks {
		if c.visibleName(t.Name) {
			trunks = append(trunks, t)
		}
	}
	paths := []PathHealth{}
	queued := 0
	for _, p := range h.Paths {
		if c.visibleName(p.Destination) {
			paths = append(paths, p)
			if p.Path == "primary" {
				queued += p.Queued
			}
		}
	}
	if c.principal == nil || c.principal.domain == "" {
		queued = h.Queued
	}
	health["trunks"], health["arcPaths"] = trunks, paths
	calls := []CallInfo{}
	for _, k := range g.ListCalls() {
		if c.visible(k.Domain) {
			calls = append(calls, k)
		}
	}
	out["calls"], out["registrations"], out["queued"] = calls, h.Registrations, queued
	out["recentAlarms"] = c.alarms(g.RecentAlarms(10))
	return out
}

func (s *Server) status(c *call) error {
	writeJSON(c.w, http.StatusOK, s.statusDoc(c))
	return nil
}

// statusEvery is how often the event stream repeats the status when nothing
// changed (uptime, trunk and path state are read, not pushed).
const statusEvery = 2 * time.Second

func (s *Server) events(c *call) error {
	g, err := s.gateway()
	if err != nil {
		return err
	}
	fl, ok := c.w.(http.Flusher)
	if !ok {
		return errf(http.StatusInternalServerError, "streaming is not supported by this connection")
	}
	changed := g.AlarmsChanged()
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	c.w.WriteHeader(http.StatusOK)
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		b, _ := json.Marshal(s.statusDoc(c))
		if _, err := fmt.Fprintf(c.w, "event: status\ndata: %s\n\n", b); err != nil {
			return nil // the page went away
		}
		fl.Flush()
		select {
		case <-c.r.Context().Done():
			return nil
		case <-s.streams.Done():
			return nil
		case <-t.C:
		case <-changed:
			changed = g.AlarmsChanged()
		}
	}
}

func (s *Server) recentAlarms(c *call) error {
	g, err := s.gateway()
	if err != nil {
		return err
	}
	return c.ok(map[string]any{"alarms": c.alarms(g.RecentAlarms(50))})
}

func (s *Server) queuedAlarms(c *call) error {
	g, err := s.gateway()
	if err != nil {
		return err
	}
	return c.ok(map[string]any{"alarms": c.alarms(g.QueuedAlarms())})
}

func (s *Server) retryNow(c *call) error {
	g, err := s.gateway()
	if err != nil {
		return err
	}
	n, err := g.RetryNow()
	if err != nil {
		return err
	}
	s.log.Info("api: delivery queue retried now", "events", n)
	return c.ok(map[string]any{"retried": n})
}

func (s *Server) factoryReset(c *call) error {
	if _, err := c.object(); err != nil { // the schema checks the confirmation
		return err
	}
	if s.cfg.FactoryReset == nil {
		return errf(http.StatusServiceUnavailable, "factory reset is not available on this gateway")
	}
	if err := s.cfg.FactoryReset(); err != nil {
		return err
	}
	return c.ok(map[string]any{"message": "configuration erased; the gateway restarts and prints a new admin key"})
}

func (s *Server) testAlarm(c *call) error {
	body, err := c.object()
	if err != nil {
		return err
	}
	g, err := s.gateway()
	if err != nil {
		return err
	}
	t := TestAlarm{MapperID: body["alarmEventMapperId"].(string)}
	t.Account, _ = body["account"].(string)
	if t.Account == "" {
		t.Account = "0000"
	}
	doc, err := s.storedDoc(c.coll("alarmeventmapper", false), t.MapperID)
	if err != nil {
		return err
	}
	if doc == nil {
		return ferr("alarmEventMapperId", "no alarm event mapper %q in domain %s", t.MapperID, c.domain)
	}
	id, err := g.TestAlarm(c.r.Context(), c.domain, t)
	if err != nil {
		return errf(http.StatusConflict, "test alarm not queued: %v", err)
	}
	s.log.Info("api: test alarm queued", "domain", c.domain, "mapper", t.MapperID, "event", id)
	return c.ok(map[string]any{"eventId": id})
}
