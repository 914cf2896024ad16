package hal

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestParseCadence(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Cadence
		ok   bool
	}{
		{"", Cadences["europe"], true},
		{"uk", Cadences["uk"], true},
		{"200,300", Cadence{200 * time.Millisecond, 300 * time.Millisecond}, true},
		{"200", nil, false},
		{"50,300", nil, false},
		{"200,x", nil, false},
		{"mars", nil, false},
	} {
		got, err := ParseCadence(c.in)
		if (err == nil) != c.ok || len(got) != len(c.want) || c.ok && got[0] != c.want[0] {
			t.Errorf("ParseCadence(%q) = %v, %v", c.in, got, err)
		}
	}
}

// The simulated line rings with the cadence's bursts and its pretend unit,
// armed, answers at the third: RingUntilAnswered returns with the generator
// off; unanswered, it gives up when ctx ends, the generator off too.
func TestRingUntilAnsweredWithAutoAnswer(t *testing.T) {
	b, err := Open("sim", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	line := b.Sim.Line
	c := Cadence{20 * time.Millisecond, 30 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := RingUntilAnswered(ctx, line, c); err == nil || line.Ringing() {
		t.Fatalf("unanswered: %v, ringing %v", err, line.Ringing())
	}
	cancel()
	before := line.RingPin().Transitions()
	answered := line.AutoAnswer(3, &pacedZero{}, discard{}, nil)
	if err := RingUntilAnswered(context.Background(), line, c); err != nil {
		t.Fatal(err)
	}
	<-answered
	if !line.OffHook() || line.Ringing() {
		t.Fatalf("off hook %v, ringing %v after the answer", line.OffHook(), line.Ringing())
	}
	// on off on off on (answered), then off
	if n := line.RingPin().Transitions() - before; n != 6 {
		t.Fatalf("%d ring transitions, want 3 bursts", n)
	}
}

type pacedZero struct{}

func (pacedZero) Read(b []byte) (int, error) { clear(b); return len(b), nil }

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// Armed with AnswerRinging, the pretend unit answers every ringing at the
// same burst, each with the audio of a new pick-up, and reports each burst
// counted from 1 in each ringing; disarmed, it lets the line ring.
func TestAnswerRingingAnswersEachRinging(t *testing.T) {
	b, err := Open("sim", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	line := b.Sim.Line
	c := Cadence{20 * time.Millisecond, 30 * time.Millisecond}
	var bursts []int
	pickUps := 0
	line.AnswerRinging(2, func(n int) { bursts = append(bursts, n) }, func() (io.Reader, io.Writer, io.Closer, error) {
		pickUps++
		return &pacedZero{}, discard{}, nil, nil
	})
	if n := line.AnswersAt(); n != 2 {
		t.Fatalf("AnswersAt %d, want 2", n)
	}
	for call := 1; call <= 2; call++ {
		if err := RingUntilAnswered(context.Background(), line, c); err != nil {
			t.Fatal(err)
		}
		if !line.OffHook() || line.Ringing() || pickUps != call {
			t.Fatalf("call %d: off hook %v, ringing %v, %d pick-ups", call, line.OffHook(), line.Ringing(), pickUps)
		}
		line.HangUp()
	}
	if fmt.Sprint(bursts) != "[1 2 1 2]" {
		t.Fatalf("bursts heard %v, want [1 2 1 2]", bursts)
	}
	line.AnswerRinging(0, nil, nil)
	if n := line.AnswersAt(); n != 0 {
		t.Fatalf("AnswersAt %d after disarming, want 0", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := RingUntilAnswered(ctx, line, c); err == nil || line.OffHook() || pickUps != 2 {
		t.Fatalf("disarmed: %v, off hook %v, %d pick-ups", err, line.OffHook(), pickUps)
	}
}
