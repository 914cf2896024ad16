package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/alarm/unitsim"
	"github.com/edgebridge/edgebridge/engine"
)

func init() {
	register("simulate", "act as an alarm unit: call a SIP URI and send an alarm", runSimulate)
}

// simulateOpts are the parsed flags of `edgebridge simulate`.
type simulateOpts struct {
	to, protocol, mode, event, dtmf, user, password, from, bind string
	reg                                                         bool
	calls                                                       int
	timeout                                                     time.Duration
}

func runSimulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o simulateOpts
	fs.StringVar(&o.to, "to", "", "SIP URI to call, e.g. sip:5551@127.0.0.1:5060 (required)")
	fs.StringVar(&o.protocol, "protocol", "contactid", "alarm protocol: contactid, bs8521, tt92 or ttnew")
	fs.StringVar(&o.mode, "mode", "dtmf", "signalling: dtmf, or sdmf (single tones, tt92 and ttnew only)")
	fs.StringVar(&o.event, "event", "", "the alarm message (its form depends on --protocol, see below); default: the protocol's standard alarm message")
	fs.StringVar(&o.dtmf, "dtmf", "2833", "how digits travel: 2833 (RFC 4733 events) or inaudio (in-band tones)")
	fs.BoolVar(&o.reg, "register", false, "register with the target's host first (as --user)")
	fs.StringVar(&o.user, "user", "", "SIP user for --register, digest challenges and From (default: the account)")
	fs.StringVar(&o.password, "password", "", "password for digest challenges")
	fs.StringVar(&o.from, "from", "", "From user part (default: --user, else the account)")
	fs.StringVar(&o.bind, "bind", "", "local SIP address host:port (default: an ephemeral port toward the target)")
	fs.IntVar(&o.calls, "calls", 2, "calls to try before giving up, as a panel redials")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "give up after this long in all")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edgebridge simulate --to SIP-URI [--protocol contactid|bs8521|tt92|ttnew] [--mode dtmf|sdmf] [--event EVENT]")
		fmt.Fprintln(stderr, "                          [--dtmf inaudio|2833] [--register --user U --password P]")
		fmt.Fprintln(stderr, "Plays an alarm unit over SIP and RTP; exits 0 only on the protocol's acknowledgement in time")
		fmt.Fprintln(stderr, "(Contact ID kissoff started within 1.25 s of the last digit, BS 8521 acknowledge B started within")
		fmt.Fprintln(stderr, "570 ms, TT92 B0 and TTnew DB heard whole within 1 s); a later one is ignored and the unit repeats.")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, unitsim.EventHelp)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simulate: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	unit, target, err := o.check()
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := simulate(ctx, o, unit, target, stdout); err != nil {
		fmt.Fprintf(stdout, "simulate: FAILED: %v\n", err)
		return 1
	}
	return 0
}

// check validates the flags; errors name the flag.
func (o *simulateOpts) check() (unitsim.Unit, sip.Uri, error) {
	var u sip.Uri
	if o.to == "" {
		return unitsim.Unit{}, u, errors.New("--to is required (a SIP URI such as sip:5551@127.0.0.1:5060)")
	}
	if !strings.HasPrefix(o.to, "sip:") {
		o.to = "sip:" + o.to
	}
	if err := sip.ParseUri(o.to, &u); err != nil || u.Host == "" {
		return unitsim.Unit{}, u, fmt.Errorf("--to %q is not a SIP URI", o.to)
	}
	if o.dtmf != "2833" && o.dtmf != "inaudio" {
		return unitsim.Unit{}, u, fmt.Errorf("--dtmf %q: want 2833 or inaudio", o.dtmf)
	}
	switch {
	case o.mode != "dtmf" && o.mode != "sdmf":
		return unitsim.Unit{}, u, fmt.Errorf("--mode %q: want dtmf or sdmf", o.mode)
	case o.mode == "sdmf" && o.protocol != "tt92" && o.protocol != "ttnew":
		return unitsim.Unit{}, u, fmt.Errorf("--mode sdmf: only tt92 and ttnew send in single tones, not %s", o.protocol)
	}
	if o.event == "" {
		o.event = unitsim.Defaults[o.protocol]
	}
	unit, err := unitsim.New(o.protocol, o.mode, o.event)
	if err != nil {
		return unitsim.Unit{}, u, err
	}
	if o.reg && o.user == "" {
		return unitsim.Unit{}, u, errors.New("--register needs --user")
	}
	if o.calls < 1 {
		return unitsim.Unit{}, u, fmt.Errorf("--calls %d: want at least 1", o.calls)
	}
	if o.from == "" {
		o.from = o.user
		if o.from == "" {
			o.from = unit.From
		}
	}
	return unit, u, nil
}

// localFor picks the local address to use toward the target: loopback for
// a loopback target, otherwise the address the host routes from.
func localFor(target sip.Uri) string {
	if ip, err := netip.ParseAddr(target.Host); err == nil && ip.IsLoopback() {
		return "127.0.0.1:0"
	}
	if target.Host == "localhost" {
		return "127.0.0.1:0"
	}
	port := target.Port
	if port == 0 {
		port = 5060
	}
	if c, err := net.Dial("udp", net.JoinHostPort(target.Host, fmt.Sprint(port))); err == nil {
		defer c.Close()
		return net.JoinHostPort(c.LocalAddr().(*net.UDPAddr).IP.String(), "0")
	}
	return "0.0.0.0:0"
}

func simulate(ctx context.Context, o simulateOpts, unit unitsim.Unit, target sip.Uri, out io.Writer) error {
	start := time.Now()
	sayAt := func(at time.Duration, format string, a ...any) {
		fmt.Fprintf(out, "%7.3fs  %s\n", at.Seconds(), fmt.Sprintf(format, a...))
	}
	say := func(format string, a ...any) { sayAt(time.Since(start), format, a...) }
	bind := o.bind
	if bind == "" {
		bind = localFor(target)
	}
	// RTP from a window of its own, away from a gateway's 10000-10999 on the same host.
	lo := 40000 + 2*rand.IntN(4000)
	e, err := engine.New(engine.Config{SIPAddr: bind, Domain: "simulate", RTPPortMin: lo, RTPPortMax: lo + 99, UserAgent: "edgebridge-simulate"},
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return err
	}
	if err := e.Start(ctx); err != nil {
		return err
	}
	defer e.Close()
	say("alarm unit at %s, %s, dtmf %s", e.Addr(), unit.Describe, o.dtmf)

	if o.reg {
		registrar := "sip:" + target.Host
		if target.Port != 0 {
			registrar = fmt.Sprintf("sip:%s:%d", target.Host, target.Port)
		}
		if tr, ok := target.UriParams.Get("transport"); ok {
			registrar += ";transport=" + tr
		}
		t0 := time.Now()
		granted, err := e.Register(ctx, registrar, o.user, o.password, 300*time.Second)
		if err != nil {
			return fmt.Errorf("register %s at %s: %w", o.user, registrar, err)
		}
		say("registered %s at %s for %v (%d ms)", o.user, registrar, granted, time.Since(t0).Milliseconds())
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, _ = e.Register(ctx, registrar, o.user, o.password, 0)
		}()
	}

	var last error
	for n := 1; n <= o.calls; n++ {
		if n > 1 {
			say("redialling in 2 s (call %d of %d)", n, o.calls)
			select {
			case <-ctx.Done():
				return fmt.Errorf("%v (last: %v)", ctx.Err(), last)
			case <-time.After(2 * time.Second):
			}
		}
		if last = oneCall(ctx, e, o, unit, start, sayAt); last == nil {
			say("acknowledged: exit 0")
			return nil
		}
		say("call %d: %v", n, last)
	}
	return last
}

func oneCall(ctx context.Context, e *engine.Engine, o simulateOpts, unit unitsim.Unit, start time.Time, sayAt unitsim.SayFunc) error {
	say := func(format string, a ...any) { sayAt(time.Since(start), format, a...) }
	say("calling %s", o.to)
	t0 := time.Now()
	call, err := e.Dial(ctx, engine.DialOptions{
		To: o.to, From: o.from, Username: o.user, Password: o.password,
		Media: engine.MediaOptions{DTMF: o.dtmf, DataMode: true},
		OnProgress: func(code int, reason, _ string) {
			say("%d %s (%d ms)", code, reason, time.Since(t0).Milliseconds())
		},
	})
	if err != nil {
		return fmt.Errorf("call not answered: %w", err)
	}
	defer call.Hangup()
	answered := time.Now()
	n := call.Negotiated()
	ev := "no telephone-event"
	if n.Events {
		ev = fmt.Sprintf("telephone-event %d", n.EventPT)
	}
	srtp := ""
	if n.SRTP != nil {
		srtp = ", SRTP " + n.SRTP.Suite
	}
	say("answered after %d ms: %s, %s%s, RTP to %s", answered.Sub(t0).Milliseconds(), n.Codec, ev, srtp, n.Remote)

	// The unit reports in call time (ms of audio since the answer).
	base := answered.Sub(start)
	at := func(ms int64) time.Duration { return base + time.Duration(ms)*time.Millisecond }
	return unit.Play(ctx, call.Session(), at, sayAt, say)
}
