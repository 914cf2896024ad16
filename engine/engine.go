package engine

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/store"
)

// Config is what the engine needs to run. Zero values take the defaults of
// the daemon (SIP on 127.0.0.1:5060, RTP ports 10000-10999).
type Config struct {
	// SIPAddr is host:port for UDP and TCP. Port 0 picks a free port (the
	// same one for both transports), which is what tests use.
	SIPAddr string
	// TLSAddr is host:port for SIP over TLS; used only with TLS set.
	TLSAddr string
	TLS     *tls.Config
	// Domain is the tenant that requests addressed to the gateway's IP
	// address belong to; requests to a domain name belong to that domain.
	Domain string
	// AdvertiseHost is the host put in Via, Contact and SDP when the listen
	// address is a wildcard. Default: the listen host, else 127.0.0.1.
	AdvertiseHost string
	// RTPPortMin and RTPPortMax bound the media ports (--rtp-ports).
	RTPPortMin, RTPPortMax int
	// UserAgent is sent in User-Agent and Server headers.
	UserAgent string
}

// Engine is the gateway's SIP user agent, registrar and trunk client.
type Engine struct {
	cfg  Config
	log  *slog.Logger
	db   *store.DB
	dir  Directory
	rts  RouteSource
	sink SIPLog
	// captures keeps calls' RTP captures (capture.go).
	captures captures
	// events, when set, observes registrations and calls (WithEvents).
	events func(Event)
	// answered: INVITEs answered 2xx lately, to drop their late copies (retrans.go).
	answered inviteTable
	// offered: new UDP INVITEs the socket's reader passed on or refused lately (shedwire.go).
	offered inviteTable

	nonceTTL      time.Duration
	rtpTimeout    time.Duration
	sessionExpiry time.Duration

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client

	host    string // advertised host
	port    int    // UDP and TCP port
	tlsPort int

	udp net.PacketConn
	tcp net.Listener
	tlc net.Listener

	auth       *digestAuth
	authFails  *failLimiter // authlimit.go
	edgeLog    *logLimiter  // guard.go: refused and panicking requests, sipgo's warnings
	reg        *registrar
	trunks     *trunkSet
	calls      *callTable
	trace      *tracer
	stats      *statsCounter
	ports      *media.PortPool
	recs       chan store.CallRecord
	shed       shedder    // overload.go
	pbx        pbxState   // group.go: devices in a call, idle since
	limits     limiter    // limits.go: calls per domain, call rate per source
	alerts     alertState // alerts.go: active causes, digest failures
	alertStore alertStore // alerts.go: alerts still to store
	onAlert    func(Alert)

	msgHandler MessageHandler
	answers    answerPeers // message.go
	invitePats struct {    // Authorized.Invite pattern -> compiled (nil if invalid), call.go
		mu sync.Mutex
		m  map[string]*regexp.Regexp
	}

	domMu  sync.Mutex
	domSet map[string]bool
	domAt  time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

// Option changes an Engine before it starts.
type Option func(*Engine)

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithStore keeps registrations (bindings), the SIP log and call records in db.
// Without it they live in memory only.
func WithStore(db *store.DB) Option { return func(e *Engine) { e.db = db } }

// WithDirectory sets where devices, trunks and trusted networks are looked up.
func WithDirectory(d Directory) Option { return func(e *Engine) { e.dir = d } }

// WithRoutes sets the local services (alarmbridges, media services, cloud
// SIP UAs) that inbound calls are matched against before trunks and devices.
func WithRoutes(r RouteSource) Option { return func(e *Engine) { e.rts = r } }

// WithSIPLog sends every SIP message in and out to l (in batches, off the
// signalling path). Default: the store's SIP log when a store is set.
func WithSIPLog(l SIPLog) Option { return func(e *Engine) { e.sink = l } }

// WithNonceTTL sets how long a digest nonce stays fresh (default 30 s);
// an older one is answered with stale=true (RFC 7616 §3.3).
func WithNonceTTL(d time.Duration) Option { return func(e *Engine) { e.nonceTTL = d } }

// WithRTPTimeout sets how long a call may receive no RTP before it is hung
// up (default 90 s; a route's RTPTimeout overrides it).
func WithRTPTimeout(d time.Duration) Option { return func(e *Engine) { e.rtpTimeout = d } }

// WithSessionExpires sets the RFC 4028 session interval the engine asks for
// (default 1800 s, minimum 90 s).
func WithSessionExpires(d time.Duration) Option { return func(e *Engine) { e.sessionExpiry = d } }

// New checks cfg and builds an engine; Start opens its sockets.
func New(cfg Config, opts ...Option) (*Engine, error) {
	if cfg.SIPAddr == "" {
		cfg.SIPAddr = "127.0.0.1:5060"
	}
	if _, _, err := net.SplitHostPort(cfg.SIPAddr); err != nil {
		return nil, fmt.Errorf("engine: SIPAddr %q: want host:port: %w", cfg.SIPAddr, err)
	}
	if cfg.Domain == "" {
		cfg.Domain = "local"
	}
	if cfg.RTPPortMin == 0 && cfg.RTPPortMax == 0 {
		cfg.RTPPortMin, cfg.RTPPortMax = 10000, 10999
	}
	if cfg.RTPPortMin <= 0 || cfg.RTPPortMax > 65535 || cfg.RTPPortMin > cfg.RTPPortMax {
		return nil, fmt.Errorf("engine: RTP ports %d-%d: want 1 <= LO <= HI <= 65535", cfg.RTPPortMin, cfg.RTPPortMax)
	}
	if cfg.TLSAddr != "" && cfg.TLS == nil {
		return nil, errors.New("engine: TLSAddr set without a TLS certificate")
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "edgebridge"
	}
	e := &Engine{
		answered:      inviteTable{m: inviteMemo{limit: answeredSlots}},
		cfg:           cfg,
		log:           slog.Default(),
		nonceTTL:      30 * time.Second,
		rtpTimeout:    90 * time.Second,
		sessionExpiry: 1800 * time.Second,
	}
	for _, o := range opts {
		o(e)
	}
	p := &e.pbx
	p.alertCalls = cmp.Or(p.alertCalls, DefaultQueueAlertCalls)
	p.alertWait = cmp.Or(p.alertWait, DefaultQueueAlertWait)
	if err := CheckQueueAlert(p.alertCalls, p.alertWait); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if e.sessionExpiry < 90*time.Second {
		return nil, fmt.Errorf("engine: session expires %v is below the RFC 4028 minimum of 90 s", e.sessionExpiry)
	}
	if e.dir == nil {
		e.dir = emptyDirectory{}
		if e.db != nil {
			e.dir = StoreDirectory{DB: e.db}
		}
	}
	if e.sink == nil && e.db != nil {
		e.sink = storeSIPLog{e.db}
	}
	e.log = e.log.With("component", "engine")
	e.edgeLog = newLogLimiter(e.log, 5)
	e.shed.defaults()
	e.auth = newDigestAuth(e.nonceTTL)
	e.authFails = newFailLimiter()
	e.calls = newCallTable()
	e.stats = &statsCounter{}
	pool, err := media.NewPortPool(cfg.RTPPortMin, cfg.RTPPortMax)
	if err != nil {
		return nil, fmt.Errorf("engine: RTP ports: %w", err)
	}
	e.ports = pool
	e.recs = make(chan store.CallRecord, 1024)
	return e, nil
}

// Start binds the SIP sockets and serves until ctx ends or Close is called.
// It returns once the sockets are listening.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ua != nil {
		return errors.New("engine: already started")
	}
	if err := e.listen(); err != nil {
		return err
	}
	e.ctx, e.cancel = context.WithCancel(ctx)

	e.trace = newTracer(e)
	registerTracer(e)

	sipLog := slog.New(&sipgoLogHandler{next: e.log.With("layer", "sipgo").Handler(), limit: e.edgeLog, malformed: &e.stats.malformed})
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(e.cfg.UserAgent), sipgo.WithUserAgentHostname(e.host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(e.strayResponse)))
	if err != nil {
		e.closeSockets()
		return fmt.Errorf("engine: %w", err)
	}
	e.ua = ua
	e.srv, _ = sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	e.cli, err = sipgo.NewClient(ua,
		sipgo.WithClientHostname(e.host),
		sipgo.WithClientPort(e.port),
		sipgo.WithClientLogger(sipLog))
	if err != nil {
		e.closeSockets()
		return fmt.Errorf("engine: %w", err)
	}
	e.reg = newRegistrar(e)
	if err := e.reg.load(); err != nil {
		e.log.Warn("bindings not restored", "err", err)
	}
	if err := e.loadIdle(); err != nil { // pbxidle.go
		e.log.Warn("idle times not restored", "err", err)
	}
	e.trunks = newTrunkSet(e)
	e.routeHandlers()

	e.wg.Add(2)
	go func() { defer e.wg.Done(); _ = e.srv.ServeUDP(newShedConn(e, e.udp)) }() // shedwire.go
	go func() { defer e.wg.Done(); _ = e.srv.ServeTCP(e.tcp) }()
	// Requests leave from the UDP listener (see listenAddr): it must be in
	// sipgo's connection pool before Start returns and a Dial may follow.
	for i := 0; i < 200; i++ {
		if c, err := e.ua.TransportLayer().GetConnection("udp", e.udp.LocalAddr().String()); err == nil && c != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if e.tlc != nil {
		e.wg.Add(1)
		go func() { defer e.wg.Done(); _ = e.srv.ServeTLS(e.tlc) }()
	}
	e.wg.Add(6)
	go func() { defer e.wg.Done(); e.shed.probe(e.ctx.Done()) }()
	go func() { defer e.wg.Done(); e.idleLoop(e.ctx.Done()) }()
	go func() { defer e.wg.Done(); e.recordLoop(e.ctx) }()
	go func() { defer e.wg.Done(); e.trace.run(e.ctx) }()
	go func() { defer e.wg.Done(); e.reg.run(e.ctx) }()
	go func() { defer e.wg.Done(); e.trunks.run(e.ctx) }()
	go func() {
		<-e.ctx.Done()
		e.closeSockets()
	}()
	e.log.Info("SIP listening", "udp", e.udp.LocalAddr().String(), "tcp", e.tcp.Addr().String(), "domain", e.cfg.Domain)
	return nil
}

// sipReadBuffer is the receive buffer asked for the SIP UDP socket: about
// 3000 requests of 600 bytes.
const sipReadBuffer = 2 << 20

// listen binds UDP first, then TCP on the same port (retrying with a new
// port when the address asked for port 0 and TCP found it taken).
func (e *Engine) listen() error {
	host, portStr, _ := net.SplitHostPort(e.cfg.SIPAddr)
	want, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("engine: SIP port %q: %w", portStr, err)
	}
	for try := 0; try < 20; try++ {
		u, err := net.ListenPacket("udp", e.cfg.SIPAddr)
		if err != nil {
			return fmt.Errorf("engine: listen udp %s: %w", e.cfg.SIPAddr, err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			u.Close()
			if want == 0 {
				continue
			}
			return fmt.Errorf("engine: listen tcp %s: %w", e.cfg.SIPAddr, err)
		}
		if uc, ok := u.(*net.UDPConn); ok {
			// A burst of requests must wait in the socket, not be dropped
			// (a drop costs a retransmission 500 ms later, and peers such as
			// SIPp abandon a call on a retransmitted INVITE). The kernel
			// caps this at net.core.rmem_max.
			_ = uc.SetReadBuffer(sipReadBuffer)
		}
		e.udp, e.tcp, e.port = u, t, port
		break
	}
	if e.udp == nil {
		return fmt.Errorf("engine: no port free for both UDP and TCP at %s", e.cfg.SIPAddr)
	}
	if e.cfg.TLS != nil && e.cfg.TLSAddr != "" {
		l, err := tls.Listen("tcp", e.cfg.TLSAddr, e.cfg.TLS)
		if err != nil {
			e.closeSockets()
			return fmt.Errorf("engine: listen tls %s: %w", e.cfg.TLSAddr, err)
		}
		e.tlc = l
		e.tlsPort = l.Addr().(*net.TCPAddr).Port
	}
	e.host = e.cfg.AdvertiseHost
	if e.host == "" {
		e.host = host
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			e.host = outboundIP()
		}
	}
	return nil
}

// outboundIP is the address the host would use toward the outside; the
// gateway puts it in Contact and SDP when it listens on a wildcard address.
func outboundIP() string {
	c, err := net.Dial("udp", "192.0.2.1:9") // TEST-NET-1: nothing is sent
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

func (e *Engine) closeSockets() {
	if e.udp != nil {
		e.udp.Close()
	}
	if e.tcp != nil {
		e.tcp.Close()
	}
	if e.tlc != nil {
		e.tlc.Close()
	}
}

// Close hangs up every call, unregisters trunks, flushes the SIP log and
// stops every goroutine the engine started.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed || e.ua == nil {
		e.closed = true
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()

	e.calls.hangupAll(CauseShutdown)
	e.trunks.shutdown()
	e.cancel()
	e.closeSockets()
	e.wg.Wait()
	e.calls.wait()
	e.ports.Close()       // the RTP sockets kept bound for the next calls
	e.captures.closeAll() // what they buffer goes to their files
	unregisterTracer(e)
	e.trace.flush()
	return e.ua.Close()
}

// Addr is the SIP address (UDP and TCP share the port).
func (e *Engine) Addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// TLSAddr is the SIP over TLS address, "" without TLS.
func (e *Engine) TLSAddr() string {
	if e.tlc == nil {
		return ""
	}
	return net.JoinHostPort(e.host, strconv.Itoa(e.tlsPort))
}

// Domain is the default tenant.
func (e *Engine) Domain() string { return e.cfg.Domain }

// domainOf names the tenant of a request: a request addressed to an IP
// address (or to this host, or to a name no domain is provisioned for)
// belongs to the default domain; one addressed to a provisioned domain
// name belongs to that domain.
func (e *Engine) domainOf(req *sip.Request) string {
	h := strings.ToLower(req.Recipient.Host)
	if h == "" || h == "localhost" || h == e.host || net.ParseIP(strings.Trim(h, "[]")) != nil {
		return e.cfg.Domain
	}
	if e.knownDomain(h) {
		return h
	}
	return e.cfg.Domain
}

// knownDomain says whether name is a provisioned domain; the list is read
// from the directory at most every 5 s.
func (e *Engine) knownDomain(name string) bool {
	e.domMu.Lock()
	defer e.domMu.Unlock()
	if time.Since(e.domAt) > 5*time.Second {
		e.domSet = map[string]bool{}
		if ds, err := e.dir.Domains(); err == nil {
			for _, d := range ds {
				e.domSet[strings.ToLower(d)] = true
			}
		}
		e.domAt = time.Now()
	}
	return e.domSet[name]
}

// routeHandlers installs every handler behind guard (guard.go).
func (e *Engine) routeHandlers() {
	e.srv.OnOptions(e.guard(e.onOptions))
	e.srv.OnRegister(e.guard(e.reg.onRegister))
	e.srv.OnInvite(e.guard(e.onInvite))
	e.srv.OnAck(e.guard(e.onAck))
	e.srv.OnBye(e.guard(e.onBye))
	e.srv.OnCancel(e.guard(e.onCancel))
	e.srv.OnInfo(e.guard(e.onInfo))
	e.srv.OnUpdate(e.guard(e.onUpdate))
	e.srv.OnMessage(e.guard(e.onMessage))
	e.srv.OnNoRoute(e.guard(e.onNoRoute))
}

// allowed is the Allow header value (RFC 3261 §20.5).
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, MESSAGE"

func (e *Engine) newResponse(req *sip.Request, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	res.AppendHeader(sip.NewHeader("Server", e.cfg.UserAgent))
	return res
}

func (e *Engine) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) {
	res := e.newResponse(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		e.log.Debug("respond failed", "code", code, "method", req.Method.String(), "err", err)
	}
}

// onOptions answers OPTIONS with what the gateway supports (RFC 3261 §11.2).
func (e *Engine) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := e.newResponse(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Supported", "timer"))
	if err := tx.Respond(res); err != nil {
		e.log.Debug("OPTIONS response failed", "err", err)
	}
}

// onNoRoute answers methods the gateway does not implement (RFC 3261 §8.2.1).
func (e *Engine) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	e.respond(tx, req, 405, "Method Not Allowed", sip.NewHeader("Allow", allowed))
}

// listenAddr is the UDP listener address requests leave from, so replies
// and registrations use the advertised port (symmetric signalling).
func (e *Engine) listenAddr() sip.Addr {
	a := e.udp.LocalAddr().(*net.UDPAddr)
	return sip.Addr{IP: a.IP, Port: a.Port, Hostname: a.IP.String()}
}
