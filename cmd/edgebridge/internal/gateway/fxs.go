package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/hal"
)

// Dialling on the FXS port, in frames of 20 ms. An alarm panel dials its ARC
// number after it hears dial tone; '#' ends the number at once (the send key
// of most ATAs), otherwise a pause ends it. A unit that dials nothing is a
// hotline: the empty number is routed (destinationMatch ".*" takes it).
const (
	firstDigitFrames = 4000 / 20 // 4 s of dial tone for the first digit
	interDigitFrames = 3000 / 20 // 3 s after a digit ends the number
	maxDialledDigits = 32
)

// FXS runs the board (lamps, watchdog, the simulated line's spool
// folder) and answers the FXS port: each off-hook is an alarm call routed to
// the alarmbridge whose destinationMatch fits the dialled number, exactly
// like a SIP call.
type FXS struct {
	g     *Gateway
	calls atomic.Int64
	// epoch (unix seconds when made) is in every call's id: an event's id
	// comes from its call's (alarm.EventID), and "fxs-1" after a restart
	// must not be taken for the "fxs-1" of the last run by delivery's
	// duplicate check.
	epoch  int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// FXS is the FXS port's component of the daemon (started after the gateway).
func (g *Gateway) FXS() *FXS { return &FXS{g: g, epoch: time.Now().Unix()} }

func (f *FXS) Name() string { return "fxs" }

func (f *FXS) Start(ctx context.Context) error {
	b := f.g.board
	ctx, f.cancel = context.WithCancel(ctx)
	opts := hal.RunOptions{
		Log:     f.g.log,
		Healthy: func() bool { return f.g.cfg.Healthy == nil || f.g.cfg.Healthy() == nil },
	}
	if b.Sim != nil {
		// `make run`: drop a WAV of an alarm unit here and the pretend line takes the call.
		opts.SpoolDir = filepath.Join(f.g.cfg.DataDir, "line")
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := b.Run(ctx, opts); err != nil && !errors.Is(err, context.Canceled) {
			f.g.log.Error("fxs: board", "err", err)
		}
	}()
	if b.Line != nil {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.answerLoop(ctx, b.Line) }()
		if opts.SpoolDir != "" {
			f.g.log.Info("serve: simulated FXS line", "spool", opts.SpoolDir)
		}
	}
	return nil
}

func (f *FXS) Close() error {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	return nil
}

func (f *FXS) answerLoop(ctx context.Context, line hal.Line) {
	for {
		if err := line.WaitHook(ctx, true); err != nil {
			return
		}
		// Off hook while a call to the unit owns the line: that call
		// answers it (linecall.go), not the dialling plan.
		if f.g.claimLineOffHook() {
			f.call(ctx, line)
			f.g.releaseLine()
		}
		if err := line.WaitHook(ctx, false); err != nil {
			return
		}
	}
}

// call takes one off-hook: dial tone, the dialled number, then the
// switchboard (the alarm receiver of the matching alarmbridge).
func (f *FXS) call(ctx context.Context, hook hal.Line) {
	g := f.g
	line, err := hook.Answer()
	if err != nil {
		g.log.Warn("fxs: answer", "err", err)
		return
	}
	defer line.Hangup()
	id := fmt.Sprintf("fxs-%d-%d", f.epoch, f.calls.Add(1))
	log := g.log.With("call", id)
	number, err := collectDialled(ctx, line)
	if err != nil {
		log.Info("fxs: unit hung up while dialling", "err", err)
		return
	}
	c := &FXSCall{ID: id, Domain: g.cfg.Domain, Number: number, Line: line, Log: log}
	if !g.offerFXS(ctx, c) {
		log.Warn("fxs: no service takes the dialled number", "number", number)
	}
}

// collectDialled plays dial tone (425 Hz, ETSI ES 201 970) until the first
// digit and returns the digits dialled, in sample time.
func collectDialled(ctx context.Context, ch alarm.Channel) (string, error) {
	tone, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: 425, DBm0: -10, Ms: 1000})
	if err != nil {
		return "", err
	}
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	var digits []byte
	ended := false // '#' dialled
	var fl alarm.FrameLoop
	fl.Init("fxs", ch, det.Process, func(ev dsp.DigitEvent) {
		switch {
		case ev.Key == '#':
			ended = true
		case len(digits) < maxDialledDigits:
			digits = append(digits, ev.Key)
		}
	})
	quiet, seen := 0, 0 // frames since the last digit (or off-hook); digits so far
	hungUp, err := fl.Run(ctx, func(out []int16) (bool, error) {
		_, _, sounding := det.Current()
		if sounding || len(digits) != seen {
			quiet, seen = 0, len(digits)
		} else {
			quiet++
		}
		clear(out)
		if len(digits) == 0 && !sounding {
			tone.Generate(out)
		}
		return ended || (len(digits) == 0 && quiet >= firstDigitFrames) || (len(digits) > 0 && quiet >= interDigitFrames), nil
	})
	if hungUp {
		return "", io.EOF
	}
	return string(digits), err
}

// keyLine is an FXS call's line as its alarm session and the in-call keys
// see it. Keys are played in band in place of the audio written to the
// line, as an RTP leg without telephone-event plays them: so they pass the
// alarm session's tap (a recording holds them), and keys queued by another
// goroutine (devicecommand) ride the frames the receiver or the voice
// bridge writes instead of frames of their own, which would put the line
// out of step.
type keyLine struct {
	alarm.Channel // the line through the alarm session's tap

	mu   sync.Mutex
	gen  *dsp.DTMFGenerator
	tone [alarm.FrameSamples]int16 // the frame a key replaces; the writer's alone
}

func newKeyLine(ch alarm.Channel) *keyLine {
	return &keyLine{Channel: ch, gen: dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())}
}

// WriteFrame writes pcm to the line, or the queued keys in its place.
func (k *keyLine) WriteFrame(pcm []int16) error {
	k.mu.Lock()
	if k.gen.Busy() && len(pcm) <= len(k.tone) {
		k.gen.Generate(k.tone[:len(pcm)])
		pcm = k.tone[:len(pcm)]
	}
	k.mu.Unlock()
	return k.Channel.WriteFrame(pcm)
}

// SendDigit queues key, held durationMs and followed by a pause as long
// (SS 91100), to go out in the next frames written.
func (k *keyLine) SendDigit(key byte, durationMs int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gen.QueueKey(key, durationMs, durationMs)
}

// DigitsPending reports whether queued keys have not all gone out.
func (k *keyLine) DigitsPending() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.gen.Busy()
}
