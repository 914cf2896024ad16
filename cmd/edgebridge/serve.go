package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/api/console"
	"github.com/edgebridge/edgebridge/api/web"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/hal"
	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/gateway"
)

// serveConfig is the parsed and validated command line of `edgebridge serve`
// (defaults: the README's command table).
type serveConfig struct {
	dataDir   string
	httpAddr  string
	httpsAddr string // "" = no HTTPS
	sipAddr   string
	advertise string // "" = the address the ATA reached the gateway at
	rtpLo     int
	rtpHi     int
	console   string // "stdio", "off", or a device path
	hw        string // "sim" or "linux"
	// fxsNumber, ringCadence: the FXS line as a SIP destination (gateway
	// Config.FXSNumber, RingCadence).
	fxsNumber, ringCadence string
	adminKey               string
	domain                 string
	// ops: the thresholds of the queue backlog and store alerts.
	ops       gateway.OpsLimits
	pprofAddr string // "" = no profiling endpoint (pprof.go)
}

// component is one long-running part of the daemon. Components start in
// order and close in reverse order; Start must return once the component is
// serving (listening), running its loops in goroutines it owns until Close.
type component interface {
	Name() string
	Start(ctx context.Context) error
	Close() error
}

// daemon is what the components share: the integrator adds engine, alarm and
// hal components in buildComponents with what is here.
type daemon struct {
	cfg    serveConfig
	log    *slog.Logger
	stderr io.Writer
	db     *store.DB
	apiCfg api.Config // what runServe knows; buildComponents adds the gateway's part for the HTTP component
	// fail stops the daemon with exit status 1 (a component found it unhealthy).
	fail func(error)
	// httpBound and sipBound are the addresses HTTP and SIP got (--http or
	// --sip with port 0), for the health check; unset: the flags' addresses.
	httpBound atomic.Pointer[string]
	sipBound  func() string
}

// healthy is the daemon's health (gateway.Healthy) on the addresses it
// listens on: the watchdog, firmware confirmation and /healthz all ask it.
func (d *daemon) healthy() error {
	httpAddr, sipAddr := d.cfg.httpAddr, d.cfg.sipAddr
	if a := d.httpBound.Load(); a != nil {
		httpAddr = *a
	}
	if d.sipBound != nil {
		sipAddr = d.sipBound()
	}
	return gateway.Healthy(d.db, httpAddr, sipAddr)
}

func init() {
	register("serve", "run the gateway daemon", runServe)
}

func parseServe(args []string, stderr io.Writer) (serveConfig, int) {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data", "./data", "data `DIR` (store file DIR/edgebridge.db)")
	fs.StringVar(&c.httpAddr, "http", "127.0.0.1:8080", "REST API and web page listen `ADDR`")
	fs.StringVar(&c.httpsAddr, "https", "", "also serve the REST API and web page over HTTPS on `ADDR` (certificate DATA/tls/https.crt and .key, else a self-signed one made on first start)")
	fs.StringVar(&c.sipAddr, "sip", "127.0.0.1:5060", "SIP listen `ADDR` (UDP and TCP)")
	fs.StringVar(&c.advertise, "advertise", "", "SIP address `HOST[:PORT]` written into ATA configuration downloads (default: the --sip host when it is one address, else the local address the download came in on; the --sip port)")
	rtp := fs.String("rtp-ports", "10000-10999", "RTP port range `LO-HI`")
	fs.StringVar(&c.console, "console", "auto", "field console: `DEV`, stdio, off, or auto (stdio when stdin is a terminal)")
	fs.StringVar(&c.hw, "hw", "sim", "hardware: sim or linux")
	fs.StringVar(&c.fxsNumber, "fxs-number", "", "the FXS line's `NUMBER` (digits): a SIP call to it (the ARC calling the unit back) rings the line and is bridged once the unit answers, and the unit on the line calls from it (its device's deviceCLI); default: the line takes no calls and its unit has no calling number")
	fs.StringVar(&c.ringCadence, "ring-cadence", hal.DefaultCadence, "national ring `CADENCE` of the FXS line: europe (1 s on, 4 s off), uk (0.4/0.2/0.4/2 s), us (2 s on, 4 s off), or on,off[,on,off...] in ms")
	fs.StringVar(&c.adminKey, "admin-key", "", "admin API `KEY` (default $EDGEBRIDGE_ADMIN_KEY; else created on first start and printed once)")
	fs.StringVar(&c.domain, "domain", "local", "tenant `DOMAIN` for SIP requests addressed to the gateway's own IP")
	fs.IntVar(&c.ops.QueueEvents, "alert-queue-events", gateway.DefaultQueueAlertEvents, "alert queue-backlog when more than `N` alarm events wait for one ARC")
	fs.DurationVar(&c.ops.QueueAge, "alert-queue-age", gateway.DefaultQueueAlertAge, "alert queue-backlog when the oldest alarm event for one ARC has waited longer than `D`")
	fs.IntVar(&c.ops.CallQueueCalls, "alert-call-queue-calls", engine.DefaultQueueAlertCalls, "alert call-queue-backlog when more than `N` calls wait in a ringExclusive group's queue (1-9: a queue holds 10)")
	fs.DurationVar(&c.ops.CallQueueWait, "alert-call-queue-wait", engine.DefaultQueueAlertWait, "alert call-queue-backlog when the first caller in a ringExclusive group's queue has waited longer than `D` (1s to under 5m: a caller waits at most 5m)")
	fs.Int64Var(&c.ops.StoreBudget, "store-budget", gateway.DefaultStoreBudget, "alert store-nearly-full when the store file reaches 90% of `BYTES`")
	fs.Int64Var(&c.ops.StoreMinFree, "store-min-free", gateway.DefaultStoreMinFree, "alert store-nearly-full when the data folder's filesystem has less than `BYTES` free")
	fs.StringVar(&c.pprofAddr, "pprof", "", "serve Go's profiles (net/http/pprof) on the loopback `ADDR`, for measuring the daemon under load; default: off")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edgebridge serve [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, 0
		}
		return c, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edgebridge serve: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return c, 2
	}
	if c.adminKey == "" {
		c.adminKey = os.Getenv("EDGEBRIDGE_ADMIN_KEY")
	}
	bad := func(format string, a ...any) (serveConfig, int) {
		fmt.Fprintf(stderr, "edgebridge serve: "+format+"\n", a...)
		return c, 2
	}
	if c.dataDir == "" {
		return bad("--data: must not be empty")
	}
	if c.ops.QueueEvents < 1 || c.ops.QueueAge < time.Second || c.ops.StoreBudget < 1 || c.ops.StoreMinFree < 1 {
		return bad("--alert-queue-events, --store-budget and --store-min-free must be at least 1, --alert-queue-age at least 1s")
	}
	if err := engine.CheckQueueAlert(c.ops.CallQueueCalls, c.ops.CallQueueWait); err != nil {
		return bad("--alert-call-queue-calls, --alert-call-queue-wait: %v", err)
	}
	for name, addr := range map[string]string{"--http": c.httpAddr, "--sip": c.sipAddr, "--https": c.httpsAddr} {
		if name == "--https" && addr == "" {
			continue
		}
		if err := checkAddr(addr); err != nil {
			return bad("%s %q: %v", name, addr, err)
		}
	}
	if c.pprofAddr != "" {
		if err := checkPprofAddr(c.pprofAddr); err != nil {
			return bad("--pprof %q: %v", c.pprofAddr, err)
		}
	}
	adv, err := checkAdvertise(c.advertise)
	if err != nil {
		return bad("--advertise %q: %v", c.advertise, err)
	}
	c.advertise = adv
	lo, hi, err := parsePortRange(*rtp)
	if err != nil {
		return bad("--rtp-ports %q: %v", *rtp, err)
	}
	c.rtpLo, c.rtpHi = lo, hi
	switch c.console {
	case "auto":
		// A terminal, not any character device: /dev/null (systemd, CI,
		// `make run &`) is one too.
		c.console = "off"
		if console.IsTerminal(os.Stdin) {
			c.console = "stdio"
		}
	case "stdio", "off":
	default:
		if !strings.HasPrefix(c.console, "/") {
			return bad("--console %q: must be a device path (/dev/ttyS0), stdio, off or auto", c.console)
		}
	}
	if _, err := hal.ParseCadence(c.ringCadence); err != nil {
		return bad("--ring-cadence: %v", err)
	}
	if strings.Trim(c.fxsNumber, "0123456789") != "" {
		return bad("--fxs-number %q: digits only", c.fxsNumber)
	}
	if c.hw != "sim" && c.hw != "linux" {
		return bad("--hw %q: must be sim or linux", c.hw)
	}
	if c.adminKey != "" && len(c.adminKey) < 16 {
		return bad("--admin-key: must be at least 16 characters")
	}
	if c.domain == "" || strings.ContainsAny(c.domain, " /#@:") {
		return bad("--domain %q: must be a SIP domain name", c.domain)
	}
	return c, -1
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("host must be an IP address")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be 0..65535")
	}
	return nil
}

// checkAdvertise reads --advertise HOST[:PORT] (an IPv6 host in brackets
// when a port follows) and returns it as host or host:port.
func checkAdvertise(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
	}
	if net.ParseIP(host) == nil && !dnsName().MatchString(host) {
		return s, fmt.Errorf("host must be an IP address or a DNS name")
	}
	if port == "" {
		return host, nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return s, fmt.Errorf("port must be 1..65535")
	}
	return net.JoinHostPort(host, port), nil
}

var dnsName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]?$`)
})

// parsePortRange reads LO-HI. RTP uses even ports and RTCP the odd one above
// (RFC 3550 §11), so the range must hold at least one pair.
func parsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return 0, 0, errors.New("must be LO-HI, e.g. 10000-10999")
	case lo < 1024 || hi > 65535:
		return 0, 0, errors.New("ports must be within 1024..65535")
	case hi-lo < 1:
		return 0, 0, errors.New("the range must hold at least two ports (RTP and RTCP)")
	}
	return lo, hi, nil
}

func runServe(args []string, stdout, stderr io.Writer) int {
	cfg, code := parseServe(args, stderr)
	if code >= 0 {
		return code
	}
	log := newDaemonLogger(stderr, cfg.console) // keeps a ring for the console's `log tail`
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	setMemoryLimits(cfg.pprofAddr != "") // memlimit.go

	db, err := store.Open(filepath.Join(cfg.dataDir, "edgebridge.db"))
	if err != nil {
		log.Error("serve: store", "err", err)
		return 1
	}
	storeClosed := false // set by the shutdown below, which bounds the wait
	defer func() {
		if !storeClosed {
			db.Close()
		}
	}()
	var compactLog func()
	if ring, ok := log.Handler().(*console.LogRing); ok {
		compactLog = ring.Compact
	}
	go returnMemory(ctx, compactLog)
	if cfg.pprofAddr != "" {
		if err := servePprof(ctx, cfg.pprofAddr); err != nil {
			log.Error("serve: --pprof", "err", err)
			return 1
		}
	}
	hash, created, err := api.EnsureAdminKey(db, cfg.adminKey)
	if err != nil {
		log.Error("serve: admin key", "err", err)
		return 1
	}
	if created != "" {
		// Printed once, to stderr, never logged again; only its hash is kept.
		fmt.Fprintf(stderr, "\n"+
			"==================================================================\n"+
			" edgebridge: new admin API key (shown ONCE; only its hash is kept)\n"+
			"   %s\n"+
			" Use it as: Authorization: Bearer <key>\n"+
			"==================================================================\n\n", created)
	}
	d := &daemon{cfg: cfg, log: log, stderr: stderr, db: db}
	d.apiCfg = api.Config{Store: db, AdminKeyHash: hash, Logger: log, Version: version, SIPAdvertise: cfg.advertise, Started: time.Now()}
	d.apiCfg.SIPAddr = func() string {
		// The --sip host (0.0.0.0 stays unspecified: the API then names the
		// interface a download came in on) with the port SIP got (--sip :0).
		host, port, _ := net.SplitHostPort(cfg.sipAddr)
		if d.sipBound != nil {
			if _, p, err := net.SplitHostPort(d.sipBound()); err == nil {
				port = p
			}
		}
		return net.JoinHostPort(host, port)
	}
	d.apiCfg.Firmware = firmwareUpload(d)
	d.apiCfg.FactoryReset = d.factoryReset

	var failed error
	d.fail = func(err error) { failed = err; stop() }
	comps, err := buildComponents(d)
	if err != nil {
		log.Error("serve: setup", "err", err)
		return 1
	}
	started := make([]component, 0, len(comps))
	closeAll := func() {
		for i := len(started) - 1; i >= 0; i-- {
			if err := started[i].Close(); err != nil {
				log.Warn("serve: close", "component", started[i].Name(), "err", err)
			}
		}
	}
	for _, c := range comps {
		if err := c.Start(ctx); err != nil {
			log.Error("serve: start", "component", c.Name(), "err", err)
			closeAll()
			return 1
		}
		started = append(started, c)
	}
	log.Info("serve: running", "data", cfg.dataDir, "sip", cfg.sipAddr, "rtp", fmt.Sprintf("%d-%d", cfg.rtpLo, cfg.rtpHi),
		"console", cfg.console, "hw", cfg.hw, "domain", cfg.domain)
	<-ctx.Done()
	log.Info("serve: shutting down")
	// serve stops within 2 s of SIGTERM (the README promises it): the
	// components get 1.5 s, the store what is left of shutdownBudget.
	deadline := time.Now().Add(shutdownBudget)
	done := make(chan struct{})
	go func() { closeAll(); close(done) }()
	select {
	case <-done:
	case <-time.After(1500 * time.Millisecond):
		log.Warn("serve: components slow to close; exiting")
	}
	// The store's Close waits behind every write transaction queued on
	// bbolt's lock (call records of the calls just hung up, the SIP log,
	// delivery, REST), each an fsync: on slow flash, seconds. Every write
	// that was acknowledged is already committed, so past the deadline the
	// process exits without it (the file lock goes with the process; at
	// most the last SIP log batch is lost, as on a power cut).
	storeClosed = true
	closed := make(chan struct{})
	go func() { db.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Until(deadline)):
		log.Warn("serve: store still busy at the shutdown deadline; exiting (every acknowledged write is committed)")
	}
	if failed != nil {
		log.Error("serve: stopped unhealthy", "err", failed)
		return 1
	}
	return 0
}

// shutdownBudget is how long serve takes from SIGTERM to exit at most,
// with margin under the 2 s the README promises for process teardown.
const shutdownBudget = 1850 * time.Millisecond

// factoryReset erases the configuration and restarts the daemon (exit 1, so
// the service manager starts it again and a new admin key is printed).
func (d *daemon) factoryReset() error {
	if err := d.db.FactoryReset(); err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	// The calls' RTP captures hold their audio: they go too.
	if err := os.RemoveAll(filepath.Join(d.cfg.dataDir, "captures")); err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	d.log.Warn("serve: factory reset done; restarting")
	d.fail(errors.New("factory reset (console or REST)"))
	return nil
}

// buildComponents lists the daemon's components in start order: the
// gateway (delivery, supervision, SIP) first, so the queue is ready before a
// call can come; the HTTP API after what it serves; firmware confirmation
// last, once everything it checks is up.
func buildComponents(d *daemon) ([]component, error) {
	g, err := gateway.New(gateway.Config{
		DB: d.db, Log: d.log, DataDir: d.cfg.dataDir, SIPAddr: d.cfg.sipAddr,
		RTPPortMin: d.cfg.rtpLo, RTPPortMax: d.cfg.rtpHi, HW: d.cfg.hw, Domain: d.cfg.domain,
		Version: version, Healthy: d.healthy, FXSNumber: d.cfg.fxsNumber, RingCadence: d.cfg.ringCadence,
		Ops: d.cfg.ops,
	})
	if err != nil {
		return nil, err
	}
	d.sipBound = g.SIPAddr
	forAPI := g.API()
	apiCfg := d.apiCfg
	apiCfg.Metrics, apiCfg.Alarms, apiCfg.SIPLog, apiCfg.Health = forAPI.Metrics, forAPI.Alarms, forAPI.SIPLog, d.healthy
	apiCfg.Gateway = forAPI.Gateway
	apiCfg.Calls, apiCfg.Prompts = forAPI.Calls, forAPI.Prompts
	web := &httpComponent{d: d, cfg: apiCfg, wrap: forAPI.Wrap}
	return []component{
		g,
		g.FXS(),
		web,
		&consoleComponent{d: d, HTTP: web, Board: g.Board(), Calls: g, Alarms: g, FactoryReset: d.factoryReset, LineSim: g.LineSim()},
		&firmwareComponent{d: d, fail: d.fail},
	}, nil
}

// httpComponent serves the REST API on --http, and on --https when set.
type httpComponent struct {
	d    *daemon
	cfg  api.Config
	wrap func(http.Handler) http.Handler // around the API
	srvs []*http.Server
	api  *api.Server
	// handler is everything served (the API inside wrap); the console runs
	// its operations through it too, once Start has returned.
	handler http.Handler
	// certs is the --https certificate; nil without --https.
	certs *api.CertSource
}

// certRefreshEvery is how often serve --https looks for new addresses of
// the gateway to make its self-signed certificate again for.
const certRefreshEvery = time.Minute

// Handler is what the HTTP component serves, nil before Start.
func (h *httpComponent) Handler() http.Handler { return h.handler }

// TLSFingerprint is the SHA-256 fingerprint of the --https certificate now,
// "" without --https.
func (h *httpComponent) TLSFingerprint() string {
	if h.certs == nil {
		return ""
	}
	return h.certs.Fingerprint()
}

func (h *httpComponent) Name() string { return "http" }

func (h *httpComponent) Start(ctx context.Context) error {
	if h.d.cfg.httpsAddr != "" {
		certs, err := api.NewCertSource(filepath.Join(h.d.cfg.dataDir, "tls"), certHosts(h.d.cfg.httpsAddr))
		if err != nil {
			return err
		}
		h.certs = certs
		h.cfg.TLSFingerprint = h.TLSFingerprint // the console's status shows it too
	}
	a, err := api.New(h.cfg)
	if err != nil {
		return err
	}
	h.api = a
	var inner http.Handler = a
	if h.wrap != nil {
		inner = h.wrap(a)
	}
	h.handler = web.Handler(inner) // the installer's page at /, the API everywhere else
	ln, err := net.Listen("tcp", h.d.cfg.httpAddr)
	if err != nil {
		a.Close()
		return err
	}
	bound := ln.Addr().String()
	h.d.httpBound.Store(&bound)
	h.serve(ln, nil)
	h.d.log.Info("serve: http listening", "addr", ln.Addr().String())
	if h.certs == nil {
		return nil
	}
	tln, err := net.Listen("tcp", h.d.cfg.httpsAddr)
	if err != nil {
		h.Close()
		return fmt.Errorf("https %s: %w", h.d.cfg.httpsAddr, err)
	}
	h.serve(tln, &tls.Config{GetCertificate: h.certs.GetCertificate, MinVersion: tls.VersionTLS12})
	cert := h.certs.Current()
	h.d.log.Info("serve: https listening", "addr", tln.Addr().String(), "sha256", cert.Fingerprint,
		"certificate", cert.File, "self_signed", cert.SelfSigned, "made_now", cert.Made)
	go h.refreshCert(ctx)
	return nil
}

// refreshCert makes the self-signed certificate again when the gateway's
// addresses change (a new DHCP lease), so that the page keeps opening on
// the new address; the new fingerprint is logged and shown as before.
func (h *httpComponent) refreshCert(ctx context.Context) {
	t := time.NewTicker(certRefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, changed, err := h.certs.Refresh(certHosts(h.d.cfg.httpsAddr))
		switch {
		case err != nil:
			h.d.log.Warn("serve: https certificate not made again for the new addresses", "err", err)
		case changed:
			h.d.log.Warn("serve: https certificate made again: the gateway's addresses changed", "sha256", c.Fingerprint, "certificate", c.File)
		}
	}
}

// serve runs one server on ln (over TLS when tc is set) until Close.
func (h *httpComponent) serve(ln net.Listener, tc *tls.Config) {
	srv := &http.Server{
		Handler:           h.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a 10 MB bulk CSV over a slow link
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(h.d.log.Handler(), slog.LevelWarn),
		TLSConfig:         tc,
	}
	srv.RegisterOnShutdown(h.api.EndStreams) // an open page's event stream never goes idle
	h.srvs = append(h.srvs, srv)
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	go func() { // stopped by Close (Shutdown)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.d.log.Error("serve: http", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

func (h *httpComponent) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var err error
	for _, srv := range h.srvs {
		if e := srv.Shutdown(ctx); e != nil {
			if e = srv.Close(); err == nil {
				err = e
			}
		}
	}
	h.api.Close()
	return err
}

// certHosts are the names and addresses the self-signed HTTPS certificate
// is made for: the host name, localhost, the loopback and every address
// of the machine's interfaces (the installer's laptop reaches the gateway
// on one of them), and the --https address when it names one.
func certHosts(httpsAddr string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if host, _, err := net.SplitHostPort(httpsAddr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	return hosts
}
