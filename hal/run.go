package hal

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RunOptions say what Board.Run looks after.
type RunOptions struct {
	// Healthy says whether the daemon is well; the watchdog is fed only
	// while it returns true (nil: always).
	Healthy func() bool
	// SpoolDir, on a simulated board, is where WAV files dropped in become
	// calls on the pretend FXS line (SimLine.Spool); empty: none.
	SpoolDir string
	Log      *slog.Logger
}

// Run looks after the board until ctx ends: the power lamp on, the line
// lamp following the hook (lit off hook, fast blink while ringing), the
// alarm lamp and a log line while the case tamper is open, the watchdog fed
// while healthy, and the simulated line's spool. It returns when every
// goroutine it started has stopped.
func (b *Board) Run(ctx context.Context, o RunOptions) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b.LEDs.Set(LEDPower, On)
	defer b.LEDs.Set(LEDPower, Off)
	var wg sync.WaitGroup
	start := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	if b.Watchdog != nil {
		start(func() {
			if err := RunWatchdog(ctx, b.Watchdog, o.Healthy); err != nil {
				log.Error("hal: watchdog", "err", err)
			}
		})
	}
	if b.Sim != nil && o.SpoolDir != "" {
		start(func() {
			if err := b.Sim.Line.Spool(ctx, o.SpoolDir, log); err != nil {
				log.Error("hal: simulated line spool", "dir", o.SpoolDir, "err", err)
			}
		})
	}
	if b.Tamper != nil {
		start(func() {
			for {
				open, err := b.Tamper.WaitChange(ctx)
				if err != nil {
					return
				}
				if open {
					log.Warn("hal: tamper: case opened")
					b.LEDs.Set(LEDAlarm, Heartbeat)
				} else {
					log.Info("hal: tamper: case closed")
					b.LEDs.Set(LEDAlarm, Off)
				}
			}
		})
	}
	if b.Line != nil {
		start(func() {
			t := time.NewTicker(LEDStep)
			defer t.Stop()
			for {
				p := Off
				switch {
				case b.Line.OffHook():
					p = On
				case b.Line.Ringing():
					p = BlinkFast
				}
				b.LEDs.Set(LEDLine, p)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	wg.Wait()
	return nil
}
