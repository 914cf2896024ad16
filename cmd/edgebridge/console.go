package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgebridge/edgebridge/api/console"
	"github.com/edgebridge/edgebridge/hal"
)

func init() {
	register("console", "run the field console on a serial port, against a running gateway", runConsole)
}

// runConsole serves the field console on a serial port (or stdio) with the
// operations going to a running daemon's REST API: the same operations the
// daemon's own --console runs in-process.
func runConsole(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.String("port", "", "serial `DEV` (e.g. /dev/ttyS0, /dev/ttyUSB0), or stdio")
	baud := fs.Int("baud", 115200, "serial speed")
	apiURL := fs.String("api", "http://127.0.0.1:8080", "REST API of the gateway daemon")
	key := fs.String("key", "", "admin API key (default $EDGEBRIDGE_ADMIN_KEY; else asked at login)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *port == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: edgebridge console --port DEV|stdio [--baud N] [--api URL] [--key KEY]")
		return 2
	}
	base, err := url.Parse(*apiURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		fmt.Fprintf(stderr, "console: --api %q: must be an http:// or https:// URL\n", *apiURL)
		return 2
	}
	if *key == "" {
		*key = os.Getenv("EDGEBRIDGE_ADMIN_KEY")
	}
	rw, err := openConsolePort(*port, *baud)
	if err != nil {
		fmt.Fprintf(stderr, "console: %v\n", err)
		return 1
	}
	cfg := console.Config{API: &remoteAPI{base: base, client: &http.Client{Timeout: 5 * time.Minute}}, Version: version}
	if *key != "" {
		k := *key
		cfg.Authorize = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+k) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := console.Run(ctx, rw, cfg); err != nil {
		fmt.Fprintf(stderr, "console: %v\n", err)
		return 1
	}
	return 0
}

func openConsolePort(dev string, baud int) (io.ReadWriteCloser, error) {
	if dev == "stdio" {
		return console.OpenStdio(os.Stdin, os.Stdout)
	}
	return console.OpenSerial(dev, baud)
}

// remoteAPI is an http.Handler that runs each operation on a daemon's REST
// API over HTTP, so the standalone console and the in-process one share
// every command.
type remoteAPI struct {
	base   *url.URL
	client *http.Client
}

func (a *remoteAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u := *a.base
	u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		http.Error(w, `{"success":false,"reason":"bad request"}`, http.StatusBadRequest)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := a.client.Do(out)
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, `{"success":false,"reason":%q}`, "gateway daemon unreachable at "+a.base.Host)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// consoleComponent runs the field console inside `serve` (--console DEV or
// stdio) on the daemon's own API handler; the integrator lists it in
// buildComponents after the HTTP component it is given.
type consoleComponent struct {
	d      *daemon
	HTTP   *httpComponent // started before the console: its handler and certificate
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// What REST does not cover, set by the integrator from the components
	// (the board, the gateway's call table and delivery queue, the line's
	// digits and tones: hal.LineTones{Line: board.Line}); each nil makes its
	// command say "not available".
	Board  *hal.Board
	Calls  console.Calls
	Alarms console.Alarms
	Digits console.Digits
	Tones  console.Tones
	// LineSim plays a unit on the simulated FXS line (nil on hardware).
	LineSim console.LineSim
	// Reboot and FactoryReset are what the console's commands do; nil says
	// "not available".
	Reboot, FactoryReset func() error
}

func (c *consoleComponent) Name() string { return "console" }

func (c *consoleComponent) Start(ctx context.Context) error {
	dev := c.d.cfg.console
	if dev == "off" || dev == "" {
		return nil
	}
	if c.HTTP == nil || c.HTTP.Handler() == nil {
		return errors.New("console: the HTTP API is not started (list the console after it)")
	}
	// --console /dev/ttyS0@9600 picks the speed; 115200 8N1 otherwise.
	path, baud := dev, 115200
	if p, b, ok := strings.Cut(dev, "@"); ok {
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 {
			return fmt.Errorf("console %s: speed after @ must be a number of baud", dev)
		}
		path, baud = p, n
	}
	rw, err := openConsolePort(path, baud)
	if err != nil {
		return fmt.Errorf("console %s: %w", dev, err)
	}
	if b := c.Board; b != nil && b.Line != nil {
		// The FXS line's own digits and tones, unless the integrator wired
		// sources that also cover SIP calls.
		if c.Digits == nil {
			c.Digits = lineDigits{b.Line}
		}
		if c.Tones == nil {
			c.Tones = hal.LineTones{Line: b.Line}
		}
	}
	if c.Reboot == nil {
		c.Reboot = c.reboot
	}
	cfg := console.Config{API: c.HTTP.Handler(), Version: version, Started: c.d.apiCfg.Started, Reboot: c.Reboot, FactoryReset: c.FactoryReset,
		Board: c.Board, Calls: c.Calls, Alarms: c.Alarms, Digits: c.Digits, Tones: c.Tones, LineSim: c.LineSim, TLSFingerprint: c.HTTP.TLSFingerprint}
	if ring, ok := c.d.log.Handler().(*console.LogRing); ok {
		cfg.Logs = ring
	}
	if h, err := os.Hostname(); err == nil {
		cfg.Hostname = h
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := console.Run(runCtx, rw, cfg); err != nil {
			c.d.log.Warn("console ended", "port", dev, "err", err)
		}
	}()
	c.d.log.Info("serve: console", "port", dev)
	return nil
}

func (c *consoleComponent) Close() error {
	if c.cancel != nil {
		c.cancel()
		c.wg.Wait()
	}
	return nil
}

// newDaemonLogger is serve's logger: every record goes to a ring of the
// last 2000 for the console's `log tail`, and on to w as text. When the
// console runs on this terminal (stdio), only errors go to w, so log lines
// do not trample the line being edited; `log tail` shows the rest.
func newDaemonLogger(w io.Writer, consoleMode string) *slog.Logger {
	level := slog.LevelInfo
	if consoleMode == "stdio" {
		level = slog.LevelError
	}
	return slog.New(console.NewLogRing(2000, slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
}

// lineDigits is console.Digits over the FXS line's in-band detector.
type lineDigits struct{ line hal.Line }

func (l lineDigits) SubscribeDigits() (<-chan console.Digit, func()) {
	in, cancel := l.line.ListenDigits()
	out := make(chan console.Digit, 16)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned by the returned cancel, which waits for it
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case ev := <-in:
				select {
				case out <- console.Digit{Key: ev.Key, CallID: "fxs", DurationMs: int(ev.DurationMs())}:
				default:
				}
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			cancel()
			close(stop)
			<-done
		})
	}
}

// reboot is the console's default `reboot`: on real hardware the init
// system's reboot (services stop cleanly; every acknowledged write is
// already on disk); on a PC the daemon stops with status 1 so its service
// manager starts it again.
func (c *consoleComponent) reboot() error {
	if c.d.cfg.hw == "linux" {
		if err := exec.Command("reboot").Run(); err != nil {
			return fmt.Errorf("reboot: %v", err)
		}
		return nil
	}
	c.d.log.Warn("console: reboot requested; stopping so the service manager restarts the daemon")
	if c.d.fail == nil {
		return errors.New("reboot: the daemon cannot be stopped from here")
	}
	c.d.fail(errors.New("reboot requested from the console"))
	return nil
}
