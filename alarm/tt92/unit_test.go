package tt92

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/dsp"
)

// scriptedARC is a receiver that acknowledges late on purpose: one prompt,
// then for each frame heard (FrameKeys keys) the acknowledge ackAfter
// (attempt) after its last key, on the pipe's sample clock; it checks and
// queues nothing and stops when the unit hangs up.
func scriptedARC(ch alarm.Channel, v Variant, ackAfter func(attempt int) time.Duration) {
	tones := dsp.DefaultDTMFGen()
	tones.OnMs, tones.OffMs = KeyMs, KeyMs
	kio, err := newKeyIO("dtmf", tones, dsp.DTMFConfig{})
	if err != nil {
		panic(err)
	}
	var fl alarm.FrameLoop
	var (
		keys, attempt int
		prompted      bool
		ackAt         int64 = -1
	)
	fl.Init("scripted arc", ch, kio.hear, func(ev dsp.DigitEvent) {
		if keys++; keys == FrameKeys {
			ackAt = ev.End + alarm.Samples(ackAfter(attempt))
			keys = 0
			attempt++
		}
	})
	_, _ = fl.Run(context.Background(), func(out []int16) (bool, error) {
		switch {
		case !prompted && fl.Now >= alarm.Samples(200*time.Millisecond):
			_ = kio.queue(v.Prompt)
			prompted = true
		case ackAt >= 0 && fl.Now >= ackAt:
			_ = kio.queue(v.Ack)
			ackAt = -1
		}
		kio.generate(out)
		return false, nil
	})
}

func unitAgainst(t *testing.T, ackAfter func(attempt int) time.Duration) (UnitReport, error) {
	t.Helper()
	gw, far := alarmtest.NewPipe(alarmtest.Options{})
	done := make(chan struct{})
	go func() { defer close(done); scriptedARC(gw, TT92, ackAfter); gw.Hangup() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := NewUnit(UnitConfig{}).Send(ctx, far, []string{frameA})
	far.Hangup()
	<-done
	return rep, err
}

// The unit is strict (the pipe's sample clock is the only clock): B0 heard
// whole within its 1 s of the frame's last key ends the frame; one that
// ends later is ignored and the frame repeated; one heard while the unit
// already repeats does not count either.
func TestUnitTakesOnlyAnAcknowledgeInItsWindow(t *testing.T) {
	// B0 lasts 240 ms (80 ms keys, 80 ms apart).
	t.Run("in time", func(t *testing.T) {
		rep, err := unitAgainst(t, func(int) time.Duration { return 600 * time.Millisecond })
		if err != nil || !rep.Acked[0] || rep.Attempts[0] != 1 || len(rep.LateAcks[0]) != 0 {
			t.Fatalf("B0 ending ~840 ms after the last key: %v %+v, want acknowledged on attempt 1", err, rep)
		}
		if d := rep.AckMs[0] - rep.LastMs[0]; d < 840 || d > 1000 {
			t.Fatalf("B0 ended %d ms after the last key, want 840 plus the pipe's latency", d)
		}
	})
	t.Run("late every time", func(t *testing.T) {
		rep, err := unitAgainst(t, func(int) time.Duration { return 800 * time.Millisecond })
		if !errors.Is(err, ErrNoAck) || rep.Acked[0] || rep.Attempts[0] != 4 {
			t.Fatalf("B0 ending ~1040 ms after the last key: %v %+v, want 4 attempts and no acknowledge", err, rep)
		}
		if len(rep.LateAcks[0]) == 0 {
			t.Fatalf("the late acknowledges are not reported: %+v", rep)
		}
		for _, d := range rep.LateAcks[0] {
			if d <= 1000 {
				t.Fatalf("late acknowledge reported %d ms after the last key, inside the window", d)
			}
		}
	})
	t.Run("while repeating, then in time", func(t *testing.T) {
		rep, err := unitAgainst(t, func(attempt int) time.Duration {
			if attempt == 0 {
				return 1500 * time.Millisecond
			}
			return 300 * time.Millisecond
		})
		if err != nil || !rep.Acked[0] || rep.Attempts[0] != 2 || len(rep.LateAcks[0]) != 1 || rep.LateAcks[0][0] < 1740 {
			t.Fatalf("%v %+v: want B0 heard while repeating ignored (LateAcks ~1740 ms), attempt 2 acknowledged", err, rep)
		}
	})
}

// The receiver's acknowledge meets the strict unit's window with margin,
// on the sample clock: B0 follows the repeat at once and ends about 240 ms
// after its last key (the unit waits 1 s), in DTMF and in single tones.
func TestReceiverAcknowledgesWithinTheUnitsWindow(t *testing.T) {
	for _, mode := range []string{"dtmf", "sdmf"} {
		r, err := NewReceiver(Config{Mode: mode, Log: alarmtest.Discard})
		if err != nil {
			t.Fatal(err)
		}
		var rep UnitReport
		_, rerr, uerr := alarmtest.RunCall(alarmtest.Options{}, r, alarm.Call{ID: "c", Domain: "d"}, &alarmtest.Queue{}, func(ctx context.Context, ch alarm.Channel) (err error) {
			rep, err = NewUnit(UnitConfig{Mode: mode}).Send(ctx, ch, []string{frameA})
			return err
		})
		if rerr != nil || uerr != nil || !rep.Acked[0] || rep.Attempts[0] != 2 || len(rep.LateAcks[0]) != 0 {
			t.Fatalf("%s: receiver %v, unit %v, %+v: want acknowledged after the first repeat", mode, rerr, uerr, rep)
		}
		if d := rep.AckMs[0] - rep.LastMs[0]; d > 400 {
			t.Fatalf("%s: B0 ended %d ms after the repeat's last key, want about 240-300 (the unit waits 1 s)", mode, d)
		}
		t.Logf("%s: B0 ended %d ms after the repeat's last key", mode, rep.AckMs[0]-rep.LastMs[0])
	}
}

// A slow durable write never stalls the call, and no acknowledge is sent
// over the unit's repeat: the frame is written once heard twice; a write
// that ends in time (300 ms) is acknowledged late but inside the strict
// unit's 1 s; one that ends after it (1.5 s, the unit repeating again) is
// not, and the third copy is acknowledged at once from the stored event.
func TestReceiverSlowWriteKeepsTheCallGoing(t *testing.T) {
	for _, c := range []struct {
		write    time.Duration
		attempts int
	}{{300 * time.Millisecond, 2}, {1500 * time.Millisecond, 3}} {
		t.Run(c.write.String(), func(t *testing.T) {
			r, err := NewReceiver(Config{Log: alarmtest.Discard})
			if err != nil {
				t.Fatal(err)
			}
			q := &alarmtest.Queue{}
			var rep UnitReport
			out, rerr, uerr := alarmtest.RunSlowDiskCall(alarmtest.Options{OutOfBand: true}, c.write, r, alarm.Call{ID: "c", Domain: "d"}, q, func(ctx context.Context, ch alarm.Channel) (err error) {
				rep, err = NewUnit(UnitConfig{}).Send(ctx, ch, []string{frameA})
				return err
			})
			if rerr != nil || uerr != nil || !rep.Acked[0] || rep.Attempts[0] != c.attempts {
				t.Fatalf("receiver %v, unit %v, %+v: want acknowledged on attempt %d", rerr, uerr, rep, c.attempts)
			}
			if len(out.Events) != 1 || q.Calls() != 1 || len(rep.LateAcks[0]) != 0 {
				t.Fatalf("outcome %+v, %d writes, late acknowledges %v: want the event written once, no acknowledge sent late", out, q.Calls(), rep.LateAcks[0])
			}
		})
	}
}
