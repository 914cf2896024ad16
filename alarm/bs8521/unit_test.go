package bs8521

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/dsp"
)

// scriptedARC is a receiver that acknowledges late on purpose: one data
// request, then for each message heard (MessageKeys keys) the acknowledge
// ackAfter(attempt) after its last key, on the pipe's sample clock. It
// never checks or queues anything; it stops when the unit hangs up.
func scriptedARC(ch alarm.Channel, ackAfter func(attempt int) time.Duration) {
	det := dsp.NewDTMFDetector(dsp.DTMFConfig{})
	gen := dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())
	var fl alarm.FrameLoop
	var (
		keys, attempt int
		requested     bool
		ackAt         int64 = -1
	)
	fl.Init("scripted arc", ch, det.Process, func(ev dsp.DigitEvent) {
		if keys++; keys == MessageKeys {
			ackAt = ev.End + alarm.Samples(ackAfter(attempt))
			keys = 0
			attempt++
		}
	})
	_, _ = fl.Run(context.Background(), func(out []int16) (bool, error) {
		switch {
		case !requested && fl.Now >= alarm.Samples(200*time.Millisecond):
			_ = gen.QueueKey(DataRequestKey, DataRequestMs, 0)
			requested = true
		case ackAt >= 0 && fl.Now >= ackAt:
			_ = gen.QueueKey(AckKey, AckMs, 0)
			ackAt = -1
		}
		gen.Generate(out)
		return false, nil
	})
}

// unitAgainst runs the default (strict) unit against scriptedARC.
func unitAgainst(t *testing.T, ackAfter func(attempt int) time.Duration) (UnitReport, error) {
	t.Helper()
	m := msgs(t)[:1]
	gw, far := alarmtest.NewPipe(alarmtest.Options{})
	done := make(chan struct{})
	go func() { defer close(done); scriptedARC(gw, ackAfter); gw.Hangup() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := NewUnit(UnitConfig{}).Send(ctx, far, m)
	far.Hangup()
	<-done
	return rep, err
}

// The unit is as strict as BS 8521 makes a real one (the sample clock of
// the pipe is the only clock): an acknowledge that starts within 570 ms
// (600 − 30) of the message's last key ends the message; one that starts
// later is ignored and the message repeated, and one that arrives while
// the unit already repeats does not count either.
func TestUnitTakesOnlyAnAcknowledgeInItsWindow(t *testing.T) {
	t.Run("in time", func(t *testing.T) {
		rep, err := unitAgainst(t, func(int) time.Duration { return 400 * time.Millisecond })
		m := rep.Messages[0]
		if err != nil || !m.Acked || m.Attempts != 1 || len(m.LateAcks) != 0 {
			t.Fatalf("ack 400 ms after the last key: %v %+v, want acknowledged on attempt 1", err, m)
		}
		if d := m.AckStartMs - m.LastMs; d < 400 || d > DefaultUnitAckWait.Milliseconds() {
			t.Fatalf("ack started %d ms after the last key, want 400 plus the pipe's latency", d)
		}
	})
	t.Run("late every time", func(t *testing.T) {
		rep, err := unitAgainst(t, func(int) time.Duration { return 600 * time.Millisecond })
		m := rep.Messages[0]
		if !errors.Is(err, ErrNoAck) || m.Acked || m.Attempts != 4 {
			t.Fatalf("ack 600 ms after the last key: %v %+v, want 4 attempts and no acknowledge", err, m)
		}
		if len(m.LateAcks) == 0 {
			t.Fatalf("the late acknowledges are not reported: %+v", m)
		}
		for _, d := range m.LateAcks {
			if d <= DefaultUnitAckWait.Milliseconds() {
				t.Fatalf("late acknowledge reported %d ms after the last key, inside the window", d)
			}
		}
	})
	t.Run("while repeating, then in time", func(t *testing.T) {
		// Attempt 1's acknowledge comes 1 s late, while the unit repeats;
		// attempt 2's in time: the message is acknowledged on attempt 2.
		rep, err := unitAgainst(t, func(attempt int) time.Duration {
			if attempt == 0 {
				return time.Second
			}
			return 300 * time.Millisecond
		})
		m := rep.Messages[0]
		if err != nil || !m.Acked || m.Attempts != 2 || len(m.LateAcks) != 1 || m.LateAcks[0] < 1000 {
			t.Fatalf("%v %+v: want the acknowledge heard while repeating ignored (LateAcks ~1000 ms), attempt 2 acknowledged", err, m)
		}
	})
}

// The receiver's acknowledge meets the strict unit's window with margin,
// on the sample clock: it starts AckDelay (100 ms) after the last key plus
// the pipe's latency, on the first attempt.
func TestReceiverAcknowledgesWithinTheUnitsWindow(t *testing.T) {
	for _, o := range []alarmtest.Options{{}, {OutOfBand: true}} {
		_, rerr, rep, uerr := runCall(t, o, Config{}, UnitConfig{}, &alarmtest.Queue{}, msgs(t)[:1]...)
		m := rep.Messages[0]
		if rerr != nil || uerr != nil || !m.Acked || m.Attempts != 1 {
			t.Fatalf("out of band %v: receiver %v, unit %v, %+v", o.OutOfBand, rerr, uerr, m)
		}
		if d := m.AckStartMs - m.LastMs; d < 100 || d > 200 {
			t.Fatalf("out of band %v: acknowledge started %d ms after the last key, want 100-200 (the unit gives up after %v)", o.OutOfBand, d, DefaultUnitAckWait)
		}
	}
}

// A slow durable write never stalls the call, and no acknowledge is sent
// over the unit's repeat: a write that ends in time (250 ms) is
// acknowledged late but inside the strict unit's window; one that ends
// after the window (1.5 s, the unit repeating) is not, and the repeat is
// acknowledged at once from the stored event, without a second write.
func TestReceiverSlowWriteKeepsTheCallGoing(t *testing.T) {
	for _, c := range []struct {
		write    time.Duration
		attempts int
	}{{250 * time.Millisecond, 1}, {1500 * time.Millisecond, 2}} {
		t.Run(c.write.String(), func(t *testing.T) {
			r, err := NewReceiver(Config{Log: alarmtest.Discard})
			if err != nil {
				t.Fatal(err)
			}
			q := &alarmtest.Queue{}
			sent := msgs(t)[:1]
			var rep UnitReport
			out, rerr, uerr := alarmtest.RunSlowDiskCall(alarmtest.Options{OutOfBand: true}, c.write, r, alarm.Call{ID: "c", Domain: "d"}, q, func(ctx context.Context, ch alarm.Channel) (err error) {
				rep, err = NewUnit(UnitConfig{}).Send(ctx, ch, sent)
				return err
			})
			m := rep.Messages[0]
			if rerr != nil || uerr != nil || !m.Acked || m.Attempts != c.attempts {
				t.Fatalf("receiver %v, unit %v, %+v: want acknowledged on attempt %d", rerr, uerr, m, c.attempts)
			}
			if len(out.Events) != 1 || q.Calls() != 1 || len(m.LateAcks) != 0 {
				t.Fatalf("outcome %+v, %d writes, late acknowledges %v: want the event written once, no acknowledge sent late", out, q.Calls(), m.LateAcks)
			}
		})
	}
}
