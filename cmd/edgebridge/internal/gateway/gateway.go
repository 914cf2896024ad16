package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/multi"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/api/metrics"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/hal"
	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/alarm/service"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/mediaservice"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/notify"
)

// Config is what the gateway needs from the daemon's command line and
// wiring; New reads nothing else.
type Config struct {
	DB  *store.DB    // required: provisioning, the alarm queue, the SIP log
	Log *slog.Logger // required
	// DataDir holds tls/sip.crt and tls/sip.key (SIP over TLS) and, on the
	// simulated board, the FXS line's spool folder line/.
	DataDir    string
	SIPAddr    string // UDP and TCP listen address; TLS listens on its port + 1
	RTPPortMin int
	RTPPortMax int
	HW         string // "sim" (every part simulated) or "linux" (the reference board)
	Domain     string // tenant of SIP requests addressed to the gateway's own IP, and of FXS calls
	Version    string // in the User-Agent and /metrics
	// FXSNumber is the FXS line's number as a SIP destination (serve
	// --fxs-number): a call to it rings the unit (the ARC calling it back).
	// "" leaves the line reachable only by the unit's own calls. Digits only.
	FXSNumber string
	// RingCadence rings the unit (serve --ring-cadence; hal.ParseCadence:
	// europe, uk, us or on,off,... ms); "" is hal.DefaultCadence.
	RingCadence string
	// Healthy is the daemon's one health check (see Healthy); the hardware
	// watchdog is fed only while it returns nil. Nil: always healthy.
	Healthy func() error
	// Ops are the thresholds of the queue backlog and store alerts
	// (opsalerts.go; serve --alert-queue-events, --alert-queue-age,
	// --store-budget, --store-min-free) and of the call queue backlog
	// alert (--alert-call-queue-calls, --alert-call-queue-wait); zero
	// fields take the defaults.
	Ops OpsLimits

	// now is heartbeat supervision's clock (nil: time.Now); tests move it.
	now func() time.Time
}

// Gateway wires the call path together: the engine answers a call, the
// alarmbridge whose destinationMatch fits takes it, its receiver decodes the
// events, delivery queues them durably (the kissoff waits for that), and the
// call is bridged to the voice destination when the mapping asks for one.
// It is the only place that knows both engine and alarm (see doc.go).
type Gateway struct {
	cfg Config
	log *slog.Logger
	// storeHealth reports the disk refusing writes (storehealth.go).
	storeHealth *storeHealth
	// ops raises the queue backlog and store nearly full alerts (opsalerts.go).
	ops *opsWatch
	db  *store.DB

	prov    service.StoreProvisioning
	router  *service.Router
	dl      *delivery.Delivery
	sup     *service.Supervisor
	svc     *service.Service
	eng     *engine.Engine
	board   *hal.Board
	metrics *metrics.Gateway
	scaip   *scaipWiring // scaip.go
	nowip   *nowipWiring // nowip.go
	// switchboard is the stages a new call is offered to, in order.
	switchboard []stage
	notify      *notify.Notifier
	media       *mediaservice.Service // the media services' stage and REST commands

	// live: session name (the call's id; scaip:/nowip: + user for a
	// message unit's voice call) -> *liveAlarm, the alarm calls in
	// progress, SIP and FXS line alike (/alarmbridge control, console).
	live    sync.Map
	recent  recentAlarms
	started atomic.Bool // SIP is listening
	// dspFrames counts the 20 ms frames the alarm receivers have run
	// through their detectors (SIP and FXS calls).
	dspFrames atomic.Uint64

	// The FXS line as a destination (linecall.go): the number's match, the
	// ring cadence, and who owns the line (a call to or from the unit).
	lineMatch     *regexp.Regexp
	cadence       hal.Cadence
	lineMu        sync.Mutex
	lineBusy      bool
	lineRingLimit afterFunc // nil: time.AfterFunc (linecall.go)
	// simUnit is the pretend unit answering ringing on a simulated line
	// (lineanswer.go), nil on hardware.
	simUnit *simUnit
	// clearLimit bounds an operator's clear-down (requestClear); 0 is
	// clearDownLimit, a test sets less.
	clearLimit time.Duration
	// lineCallback is the call to the FXS line in progress, nil none.
	lineCallback atomic.Pointer[lineCallback]

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the gateway and opens the board; nothing runs until Start.
func New(cfg Config) (_ *Gateway, err error) {
	g := &Gateway{cfg: cfg, log: cfg.Log, db: cfg.DB}
	log := cfg.Log
	if g.cadence, err = hal.ParseCadence(cfg.RingCadence); err != nil {
		return nil, err
	}
	if cfg.FXSNumber != "" {
		if strings.Trim(cfg.FXSNumber, "0123456789") != "" || len(cfg.FXSNumber) > maxDialledDigits {
			return nil, fmt.Errorf("FXS line number %q: want up to %d digits", cfg.FXSNumber, maxDialledDigits)
		}
		if g.lineMatch, err = lineNumberMatch(cfg.FXSNumber); err != nil {
			return nil, err
		}
	}
	g.prov = service.StoreProvisioning{DB: cfg.DB, Log: log}
	g.router = &service.Router{Prov: g.prov}
	// The notification settings' endpoints: SIP events from the engine,
	// service alarms from delivery, heartbeat supervision and the media
	// services.
	g.notify = notify.New(cfg.DB, log)
	g.media, err = mediaservice.New(mediaservice.Config{
		DB: cfg.DB, Log: log, DataDir: cfg.DataDir, IVRServer: ivrServer(cfg.SIPAddr),
		Dial:         func(ctx context.Context, o engine.DialOptions) (*engine.Call, error) { return g.eng.Dial(ctx, o) },
		MediaSession: func(c media.SessionConfig) (*media.Session, error) { return g.eng.NewMediaSession(c) },
		Alarm:        func(a mediaservice.Alarm) { g.notify.MediaServiceAlarm(a.Domain, a) },
	})
	if err != nil {
		return nil, err
	}
	g.switchboard = g.newSwitchboard()

	hw := hal.Config{} // sim: every part simulated
	if cfg.HW == "linux" {
		hw = hal.DefaultConfig() // the reference board's pins and devices
	}
	g.board, err = hal.Open(cfg.HW, hw)
	if err != nil {
		return nil, err
	}
	if cfg.FXSNumber != "" && g.board.Line == nil {
		g.board.Close()
		return nil, fmt.Errorf("FXS line number %s: this board has no FXS line", cfg.FXSNumber)
	}
	defer func() {
		if err != nil {
			g.board.Close() // nothing else is running yet
		}
	}()
	g.simUnit = newSimUnit(g.board, cfg.FXSNumber, log)

	g.metrics = metrics.NewGateway(metrics.Sources{
		Calls:         metrics.CallsFunc(func() int { return g.callsInProgress() }),
		Registrations: metrics.RegistrationsFunc(func() int { return int(g.engineStats().Registrations) }),
		Alarms:        metrics.AlarmsFunc(g.alarmCounts),
		Trunks:        metrics.TrunksFunc(g.trunkStates),
		RTP:           metrics.RTPFunc(g.rtpCounts),
		DSP:           metrics.DSPFramesFunc(g.dspFrames.Load),
		SIPEdge:       metrics.SIPEdgeFunc(g.sipEdge),
		Store:         cfg.DB,
		Version:       cfg.Version,
	})

	scaipEngine, scaipDelivery := g.scaipOptions()
	res := delivery.StoreResolver{DB: cfg.DB, Prov: g.prov, Protocols: []string{"scaip"}}
	g.dl = delivery.New(cfg.DB, res.Resolve,
		delivery.WithLogger(log),
		delivery.WithLatencyObserver(g.metrics.DeliveryLatency.ObserveDuration),
		delivery.WithAckObserver(g.recent.delivered),
		delivery.WithServiceAlarms(func(ev alarm.Event) { g.notify.ServiceAlarm(ev); supervisionAlert(g.eng, ev) }),
		delivery.WithReplyID(g.alarmReplyID),
		delivery.WithTLSConfig(g.media.CallbackTLS()),
		scaipDelivery)

	// Every event the gateway queues also shows in the console's recent
	// alarms; the ones it raised itself (heartbeats) are service alarms.
	q := alarm.QueueFunc(func(ctx context.Context, ev alarm.Event) error {
		if err := g.dl.Enqueue(ctx, ev); err != nil {
			return err
		}
		g.recent.add(ev)
		if ev.Protocol == alarm.ProtoSupervision {
			g.notify.ServiceAlarm(ev)
			supervisionAlert(g.eng, ev)
		}
		return nil
	})
	g.storeHealth = newStoreHealth(g, q)
	g.ops = newOpsWatch(g, cfg.Ops)
	g.sup = &service.Supervisor{DB: cfg.DB, Prov: g.prov, Queue: q, Router: g.router, Now: cfg.now, Log: log}
	g.svc = &service.Service{
		Router:     g.router,
		Queue:      q,
		Supervisor: g.sup,
		NewReceiver: func(b alarm.AlarmBridge) (alarm.Receiver, error) {
			return multi.ForBridge(b, log)
		},
		Log: log,
		// Refused for want of a provisioned device: listed in the console.
		OnUnknown: func(ev alarm.Event) { g.recent.addAs(ev, "refused: unknown account, no kissoff") },
	}

	tlsAddr, tlsCfg, err := sipTLS(cfg.DataDir, cfg.SIPAddr)
	if err != nil {
		return nil, err
	}
	g.eng, err = engine.New(engine.Config{
		SIPAddr:    cfg.SIPAddr,
		TLSAddr:    tlsAddr,
		TLS:        tlsCfg,
		Domain:     cfg.Domain,
		RTPPortMin: cfg.RTPPortMin,
		RTPPortMax: cfg.RTPPortMax,
		UserAgent:  "edgebridge/" + cfg.Version,
	}, engine.WithLogger(log), engine.WithStore(cfg.DB), engine.WithRoutes(engine.RouteSourceFunc(g.routes)), scaipEngine,
		engine.WithEvents(g.notify.SIPEvent), engine.WithAlerts(g.postAlert), engine.WithQueueAlert(cfg.Ops.CallQueueCalls, cfg.Ops.CallQueueWait),
		engine.WithCaptureDir(filepath.Join(cfg.DataDir, "captures")))
	if err != nil {
		return nil, err
	}
	return g, nil
}

// ForAPI is what the REST API takes from the gateway (api.Config.Metrics
// .Alarms and .SIPLog) and the middleware to put around it.
type ForAPI struct {
	Metrics http.Handler
	Alarms  api.AlarmControl
	// Calls and Prompts are the media service API: call control and the
	// prompt storage.
	Calls   api.CallControl
	Prompts api.PromptStore
	SIPLog  engine.SIPLogFlusher
	// Gateway is the live state and field service (status summary, alarm
	// lists, retry now, test alarm; field.go).
	Gateway api.Gateway
	// Wrap goes around the API handler: trunk and trusted-network writes
	// reach the engine at once.
	Wrap func(http.Handler) http.Handler
}

// API returns what the REST API needs from the gateway.
func (g *Gateway) API() ForAPI {
	return ForAPI{Metrics: g.metrics, Alarms: g, SIPLog: g.eng, Gateway: g, Wrap: g.reloadOnWrite,
		Calls: g.media, Prompts: mediaservice.PromptAPI{P: g.media.Prompts()}}
}

// ivrServer is the ivrServer of media service callbacks: the SIP host.
func ivrServer(sipAddr string) string {
	host, _, err := net.SplitHostPort(sipAddr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

// Board is the hardware the gateway opened (the console shows and drives it).
func (g *Gateway) Board() *hal.Board { return g.board }

func (g *Gateway) engineStats() engine.Stats {
	if g.eng == nil {
		return engine.Stats{}
	}
	return g.eng.Stats()
}

func (g *Gateway) activeCalls() int { return g.engineStats().ActiveCalls }

func (g *Gateway) alarmCounts() metrics.AlarmCounts {
	s := g.dl.Stats()
	return metrics.AlarmCounts{Received: s.Received, Delivered: s.Delivered, Failed: s.Failed + s.Retries, Queued: int(s.Queued),
		UnknownAccount: g.svc.UnknownAccounts()}
}

func (g *Gateway) Name() string { return "gateway" }

// Start brings up delivery first (so the queue is ready before any call can
// be answered), then heartbeat supervision, then SIP.
func (g *Gateway) Start(ctx context.Context) error {
	ctx, g.cancel = context.WithCancel(ctx)
	if err := g.dl.Start(ctx); err != nil {
		return err
	}
	g.watchMappers()
	g.wg.Add(4)
	go func() { defer g.wg.Done(); g.notify.Run(ctx) }()
	go func() { defer g.wg.Done(); g.storeHealth.run(ctx) }()
	go func() { defer g.wg.Done(); g.ops.run(ctx) }()
	go func() {
		defer g.wg.Done()
		if err := g.sup.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.log.Warn("gateway: heartbeat supervision stopped", "err", err)
		}
	}()
	if err := g.eng.Start(ctx); err != nil {
		return fmt.Errorf("sip %s: %w", g.cfg.SIPAddr, err)
	}
	g.started.Store(true)
	g.log.Info("serve: sip listening", "addr", g.eng.Addr(), "tls", g.eng.TLSAddr(), "domain", g.cfg.Domain)
	return nil
}

// watchMappers starts path supervision (enableDestinationMonitoring) of
// every event mapper an alarmbridge uses, so that a dead ARC path is noticed
// from start-up, not only once the first alarm tries it.
func (g *Gateway) watchMappers() {
	var domains []string
	_ = g.db.View(func(tx *store.Tx) error { domains = tx.Domains(); return nil })
	for _, dom := range domains {
		bridges, err := g.prov.AlarmBridges(dom)
		if err != nil {
			continue
		}
		for _, b := range bridges {
			m, err := g.prov.EventMapper(dom, b.AlarmEventMapperID)
			if err != nil || m == nil || !m.EnableDestinationMonitoring {
				continue
			}
			r, err := delivery.MapperRoute(dom, m)
			if err == nil {
				err = g.dl.Watch(r)
			}
			if err != nil {
				g.log.Warn("gateway: destination monitoring", "domain", dom, "mapper", m.ID, "err", err)
			}
		}
	}
}

func (g *Gateway) Close() error {
	g.started.Store(false)
	if g.cancel != nil {
		g.cancel()
	}
	err := g.eng.Close()
	g.scaip.in.Wait()
	g.nowipWait()
	g.wg.Wait()
	if e := g.dl.Close(); err == nil {
		err = e
	}
	if g.board != nil {
		if e := g.board.Close(); err == nil {
			err = e
		}
	}
	return err
}
