package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
	// Healthy is the daemon's one health check (see Healthy); the hardware
	// watchdog is fed only while it returns nil. Nil: always healthy.
	Healthy func() error
}

// Gateway wires the call path together: the engine answers a call, the
// alarmbridge whose destinationMatch fits takes it, its receiver decodes the
// events, delivery queues them durably (the kissoff waits for that), and the
// call is bridged to the voice destination when the mapping asks for one.
// It is the only place that knows both engine and alarm (see doc.go).
type Gateway struct {
	cfg Config
	log *slog.Logger
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

	live   sync.Map // Call-ID -> *engine.Call, alarm calls in progress (for /alarmbridge control)
	recent recentAlarms
	// dspFrames counts the 20 ms frames the alarm receivers have run
	// through their detectors (SIP and FXS calls).
	dspFrames atomic.Uint64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds the gateway and opens the board; nothing runs until Start.
func New(cfg Config) (_ *Gateway, err error) {
	g := &Gateway{cfg: cfg, log: cfg.Log, db: cfg.DB}
	log := cfg.Log
	g.prov = service.StoreProvisioning{DB: cfg.DB, Log: log}
	g.router = &service.Router{Prov: g.prov}

	hw := hal.Config{} // sim: every part simulated
	if cfg.HW == "linux" {
		hw = hal.DefaultConfig() // the reference board's pins and devices
	}
	g.board, err = hal.Open(cfg.HW, hw)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			g.board.Close() // nothing else is running yet
		}
	}()

	g.metrics = metrics.NewGateway(metrics.Sources{
		Calls:         metrics.CallsFunc(func() int { return g.activeCalls() }),
		Registrations: metrics.RegistrationsFunc(func() int { return int(g.engineStats().Registrations) }),
		Alarms:        metrics.AlarmsFunc(g.alarmCounts),
		Trunks:        metrics.TrunksFunc(g.trunkStates),
		RTP:           metrics.RTPFunc(g.rtpCounts),
		DSP:           metrics.DSPFramesFunc(g.dspFrames.Load),
		Store:         cfg.DB,
		Version:       cfg.Version,
	})

	scaipEngine, scaipDelivery := g.scaipOptions()
	res := delivery.StoreResolver{DB: cfg.DB, Prov: g.prov, Protocols: []string{"scaip"}}
	g.dl = delivery.New(cfg.DB, res.Resolve,
		delivery.WithLogger(log),
		delivery.WithLatencyObserver(g.metrics.DeliveryLatency.ObserveDuration),
		scaipDelivery)

	// Every event the gateway queues also shows in the console's recent alarms.
	q := alarm.QueueFunc(func(ctx context.Context, ev alarm.Event) error {
		if err := g.dl.Enqueue(ctx, ev); err != nil {
			return err
		}
		g.recent.add(ev)
		return nil
	})
	g.sup = &service.Supervisor{DB: cfg.DB, Prov: g.prov, Queue: q, Router: g.router, Log: log}
	g.svc = &service.Service{
		Router:     g.router,
		Queue:      q,
		Supervisor: g.sup,
		NewReceiver: func(b alarm.AlarmBridge) (alarm.Receiver, error) {
			return multi.ForBridge(b, log)
		},
		Log: log,
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
	}, engine.WithLogger(log), engine.WithStore(cfg.DB), engine.WithRoutes(engine.RouteSourceFunc(g.routes)), scaipEngine)
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
	SIPLog  engine.SIPLogFlusher
	// Wrap goes around the API handler: trunk and trusted-network writes
	// reach the engine at once.
	Wrap func(http.Handler) http.Handler
}

// API returns what the REST API needs from the gateway.
func (g *Gateway) API() ForAPI {
	return ForAPI{Metrics: g.metrics, Alarms: g, SIPLog: g.eng, Wrap: g.reloadOnWrite}
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
	return metrics.AlarmCounts{Received: s.Received, Delivered: s.Delivered, Failed: s.Failed + s.Retries, Queued: int(s.Queued)}
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
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := g.sup.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.log.Warn("gateway: heartbeat supervision stopped", "err", err)
		}
	}()
	if err := g.eng.Start(ctx); err != nil {
		return fmt.Errorf("sip %s: %w", g.cfg.SIPAddr, err)
	}
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
	if g.cancel != nil {
		g.cancel()
	}
	err := g.eng.Close()
	g.scaip.in.Wait()
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

// sipTLS turns on SIP over TLS when the data folder holds a certificate and
// its key (tls/sip.crt and tls/sip.key, PEM), on the SIP port + 1 (5061 next
// to 5060). Neither file: no TLS. One alone or a bad pair: an error, so a
// gateway meant to speak TLS never starts without it.
func sipTLS(dataDir, sipAddr string) (string, *tls.Config, error) {
	certFile := filepath.Join(dataDir, "tls", "sip.crt")
	keyFile := filepath.Join(dataDir, "tls", "sip.key")
	_, errCert := os.Stat(certFile)
	_, errKey := os.Stat(keyFile)
	if errors.Is(errCert, fs.ErrNotExist) && errors.Is(errKey, fs.ErrNotExist) {
		return "", nil, nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "", nil, fmt.Errorf("sip tls: %s and %s: %w", certFile, keyFile, err)
	}
	host, port, _ := net.SplitHostPort(sipAddr)
	if p, _ := strconv.Atoi(port); p > 0 {
		port = strconv.Itoa(p + 1)
	}
	return net.JoinHostPort(host, port), &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// routes lists the alarmbridges of domain as engine routes, in provisioning
// order. It is read per INVITE, so a change made over REST applies to the
// next call without a restart.
func (g *Gateway) routes(domain string) []engine.Route {
	bridges, err := g.prov.AlarmBridges(domain)
	if err != nil {
		g.log.Warn("gateway: alarmbridges", "domain", domain, "err", err)
		return nil
	}
	out := make([]engine.Route, 0, len(bridges))
	for i := range bridges {
		b := bridges[i]
		if b.Protocol == string(alarm.ProtoSCAIP) {
			continue // SCAIP units send MESSAGE (scaip.go); their voice call is not an alarm call
		}
		re, err := alarm.CompileMatch(b.DestinationMatch)
		if err != nil {
			continue // the alarm router skips it too: one bad rule must not stop the rest
		}
		dtmf := ""
		if b.ToneSettings != nil {
			dtmf = b.ToneSettings.DtmfSendType
		}
		out = append(out, engine.Route{
			Name:     "alarmbridge/" + b.ID,
			Match:    re,
			Handler:  engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.alarmCall(ctx, c, &b) }),
			DTMF:     dtmf,
			DataMode: true,
		})
	}
	return out
}

// alarmCall runs one alarm call: answer, receive, then voice or clear-down.
func (g *Gateway) alarmCall(ctx context.Context, c *engine.Call, b *alarm.AlarmBridge) {
	log := g.log.With("call", c.ID, "alarmbridge", b.ID)
	if err := c.Answer(); err != nil {
		log.Warn("gateway: answer", "err", err)
		return
	}
	g.live.Store(c.ID, c)
	defer g.live.Delete(c.ID)
	ac := alarm.Call{ID: c.ID, Domain: c.Domain, Caller: c.Caller, Called: c.Called}
	res, err := g.svc.Run(ctx, countFrames{c.Session(), &g.dspFrames}, ac, b)
	if err != nil {
		log.Warn("gateway: alarm call", "err", err)
	}
	if res.Voice == "" || ctx.Err() != nil {
		return
	}
	g.bridgeVoice(ctx, c, res.Voice, log)
}

// bridgeVoice calls the voice destination (the ARC's speech line) and
// bridges the alarm unit to it until either side hangs up.
func (g *Gateway) bridgeVoice(ctx context.Context, c *engine.Call, dest string, log *slog.Logger) {
	out := g.dialVoice(ctx, c.Caller, c.Domain, dest, log)
	if out == nil {
		return
	}
	defer out.Hangup()
	if err := media.Bridge(ctx, c.Session(), out.Session()); err != nil {
		log.Info("gateway: voice bridge ended", "err", err)
	}
}

// dialVoice places the voice call that follows an alarm; nil when it
// cannot be made (logged).
func (g *Gateway) dialVoice(ctx context.Context, caller, domain, dest string, log *slog.Logger) *engine.Call {
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second) // SCAIP: voice within 60 s
	defer cancel()
	out, err := g.eng.Dial(dctx, engine.DialOptions{To: dest, From: caller, Domain: domain})
	if err != nil {
		log.Warn("gateway: voice call", "to", dest, "err", err)
		return nil
	}
	log.Info("gateway: voice bridged", "to", dest)
	return out
}

// In-call commands toward a social alarm unit (SS 91100 / PROTOCOLS.md):
// DTMF 0 clears down, 1/3 volume down/up, 4 duplex, 7/8 simplex.
var deviceCommandDigits = map[string]string{
	"clear":     "0",
	"listen":    "7",
	"speak":     "8",
	"talk":      "4",
	"keepAlive": "",
}

// liveCall finds an alarm call in progress; domain "" takes any domain
// (the console is the admin's), else the call must belong to it.
func (g *Gateway) liveCall(domain, id string) (*engine.Call, error) {
	v, ok := g.live.Load(id)
	if !ok || (domain != "" && v.(*engine.Call).Domain != domain) {
		return nil, fmt.Errorf("callId %q: %w", id, api.ErrNoSuchCall)
	}
	return v.(*engine.Call), nil
}

// keyMs is how long each in-call key is held (SS 91100: 100-500 ms).
const keyMs = 200

// clearGuard separates the clear-down key from the BYE: longer than a
// unit's jitter buffer holds a packet.
const clearGuard = 250 * time.Millisecond

// sendKeys sends keys to the unit and waits until they have gone out: a
// session sends queued keys with the frames written to it (by the receiver
// or the voice bridge), so hanging up at once would drop them.
func sendKeys(ctx context.Context, c *engine.Call, keys string) error {
	s := c.Session()
	for i := 0; i < len(keys); i++ {
		if err := s.SendDigit(keys[i], keyMs); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(keys)+2)*2*keyMs*time.Millisecond)
	defer cancel()
	for s.DigitsPending() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("keys %q not sent: %w", keys, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// HangupAlarmCall implements api.AlarmControl.
func (g *Gateway) HangupAlarmCall(ctx context.Context, domain string, req api.AlarmHangup) error {
	c, err := g.liveCall(domain, req.CallID)
	if err != nil {
		return err
	}
	if req.Clear {
		if err := sendKeys(ctx, c, deviceCommandDigits["clear"]); err != nil {
			g.log.Warn("gateway: clear-down key", "call", c.ID, "err", err)
		}
		// The key's last packet is out; let the unit's jitter buffer play
		// it before the BYE ends the call under it.
		time.Sleep(clearGuard)
	}
	return c.Hangup()
}

// DeviceCommand implements api.AlarmControl.
func (g *Gateway) DeviceCommand(ctx context.Context, domain string, req api.DeviceCommand) error {
	c, err := g.liveCall(domain, req.CallID)
	if err != nil {
		return err
	}
	keys := deviceCommandDigits[req.Command]
	switch req.Command {
	case "sendTones":
		keys = req.Tones
	case "volume":
		keys = strings.Repeat("3", max(req.Volume, 0)) + strings.Repeat("1", max(-req.Volume, 0))
	}
	return sendKeys(ctx, c, keys)
}

// reloadOnWrite hands trunk and trusted-network changes made over REST to
// the engine at once, instead of at its next 10 s re-read: an installer who
// adds a trunk sees it register straight away.
func (g *Gateway) reloadOnWrite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions ||
			!(strings.HasPrefix(r.URL.Path, "/provisioning/trunk/") || strings.HasPrefix(r.URL.Path, "/provisioning/trustednetwork/")) {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status < 300 {
			g.eng.ReloadTrunks()
		}
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
