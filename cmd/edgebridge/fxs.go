package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/media"
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

// fxsComponent runs the board (lamps, watchdog, the simulated line's spool
// folder) and answers the FXS port: each off-hook is an alarm call routed to
// the alarmbridge whose destinationMatch fits the dialled number, exactly
// like a SIP call.
type fxsComponent struct {
	g      *gateway
	calls  atomic.Int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (f *fxsComponent) Name() string { return "fxs" }

func (f *fxsComponent) Start(ctx context.Context) error {
	b := f.g.board
	ctx, f.cancel = context.WithCancel(ctx)
	opts := hal.RunOptions{
		Log:     f.g.d.log,
		Healthy: func() bool { _, err := f.g.d.db.Schema(); return err == nil },
	}
	if b.Sim != nil {
		// `make run`: drop a WAV of an alarm unit here and the pretend line takes the call.
		opts.SpoolDir = filepath.Join(f.g.d.cfg.dataDir, "line")
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := b.Run(ctx, opts); err != nil && !errors.Is(err, context.Canceled) {
			f.g.d.log.Error("fxs: board", "err", err)
		}
	}()
	if b.Line != nil {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.answerLoop(ctx, b.Line) }()
		if opts.SpoolDir != "" {
			f.g.d.log.Info("serve: simulated FXS line", "spool", opts.SpoolDir)
		}
	}
	return nil
}

func (f *fxsComponent) Close() error {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
	return nil
}

func (f *fxsComponent) answerLoop(ctx context.Context, line hal.Line) {
	for {
		if err := line.WaitHook(ctx, true); err != nil {
			return
		}
		f.call(ctx, line)
		if err := line.WaitHook(ctx, false); err != nil {
			return
		}
	}
}

// call takes one off-hook: dial tone, the dialled number, then the alarm
// receiver of the matching alarmbridge.
func (f *fxsComponent) call(ctx context.Context, line hal.Line) {
	g := f.g
	c, err := line.Answer()
	if err != nil {
		g.d.log.Warn("fxs: answer", "err", err)
		return
	}
	defer c.Hangup()
	id := fmt.Sprintf("fxs-%d", f.calls.Add(1))
	log := g.d.log.With("call", id)
	number, err := collectDialled(c)
	if err != nil {
		log.Info("fxs: unit hung up while dialling", "err", err)
		return
	}
	b, err := g.svc.Route(g.d.cfg.domain, number)
	if err != nil {
		log.Warn("fxs: no alarmbridge for the dialled number", "number", number, "err", err)
		return
	}
	log.Info("fxs: alarm call", "number", number, "alarmbridge", b.ID)
	res, err := g.svc.Run(ctx, countFrames{c, &g.dspFrames}, alarm.Call{ID: id, Domain: g.d.cfg.domain, Called: number}, b)
	if err != nil {
		log.Warn("fxs: alarm call", "err", err)
	}
	if res.Voice == "" || ctx.Err() != nil {
		return
	}
	// The speech path to the ARC, as for a SIP alarm call: the line's audio
	// and the ARC's in-call keys (played in band) until either hangs up.
	out := g.dialVoice(ctx, "", g.d.cfg.domain, res.Voice, log)
	if out == nil {
		return
	}
	defer out.Hangup()
	if err := media.BridgeLeg(ctx, out.Session(), c); err != nil {
		log.Info("fxs: voice bridge ended", "err", err)
	}
}

// collectDialled plays dial tone (425 Hz, ETSI ES 201 970) until the first
// digit and returns the digits dialled, in sample time.
func collectDialled(ch alarm.Channel) (string, error) {
	tone, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: 425, DBm0: -10, Ms: 1000})
	if err != nil {
		return "", err
	}
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	var digits []byte
	done := false
	emit := func(ev dsp.DigitEvent) {
		if ev.Key == '#' {
			done = true
			return
		}
		if len(digits) < maxDialledDigits {
			digits = append(digits, ev.Key)
		}
	}
	in := make([]int16, alarm.FrameSamples)
	out := make([]int16, alarm.FrameSamples)
	quiet := 0 // frames since the last digit (or since off-hook)
	for !done {
		if err := ch.ReadFrame(in); err != nil {
			if errors.Is(err, io.EOF) {
				return "", err
			}
			return "", fmt.Errorf("fxs: read: %w", err)
		}
		n := len(digits)
		det.Process(in, emit)
		if _, _, sounding := det.Current(); sounding || len(digits) != n {
			quiet = 0
		} else {
			quiet++
		}
		clear(out)
		if len(digits) == 0 {
			if _, _, sounding := det.Current(); !sounding {
				tone.Generate(out)
			}
		}
		if err := ch.WriteFrame(out); err != nil {
			return "", err
		}
		if (len(digits) == 0 && quiet >= firstDigitFrames) || (len(digits) > 0 && quiet >= interDigitFrames) {
			break
		}
	}
	return string(digits), nil
}
