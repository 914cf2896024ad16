package alarm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

// scripted is a Channel whose in-band detector and out-of-band digits are
// scripted per frame, so that the loop's order of events can be checked.
type scripted struct {
	frames  int // frames to read before io.EOF
	read    int
	written int
	readErr error
	digits  chan dsp.DigitEvent
}

func (c *scripted) ReadFrame(pcm []int16) error {
	if c.readErr != nil {
		return c.readErr
	}
	if c.read >= c.frames {
		return io.EOF
	}
	c.read++
	pcm[0] = int16(c.read) // which frame this is, for the detector
	return nil
}
func (c *scripted) WriteFrame([]int16) error      { c.written++; return nil }
func (c *scripted) Digits() <-chan dsp.DigitEvent { return c.digits }
func (c *scripted) SendDigit(byte, int) error     { return nil }
func (c *scripted) Hangup() error                 { return nil }

type heardKey struct {
	key byte
	now int64 // FrameLoop.Now when the key was reported
}

// A key reported in band and out of band counts once; an in-band key is
// reported before Now counts its frame, an out-of-band one after.
func TestFrameLoopHearsEachKeyOnceInSampleTime(t *testing.T) {
	ch := &scripted{frames: 10, digits: make(chan dsp.DigitEvent, 4)}
	var fl alarm.FrameLoop
	var got []heardKey
	hear := func(pcm []int16, emit func(dsp.DigitEvent)) {
		switch pcm[0] {
		case 2: // '1' in band, also coming out of band in frame 3
			emit(dsp.DigitEvent{Key: '1', Start: 100, End: 400})
		case 4: // '2' in band only
			emit(dsp.DigitEvent{Key: '2', Start: 500, End: 700})
		}
	}
	fl.Init("test", ch, hear, func(ev dsp.DigitEvent) { got = append(got, heardKey{ev.Key, fl.Now}) })
	turns := 0
	hungUp, err := fl.Run(context.Background(), func(out []int16) (bool, error) {
		turns++
		switch turns {
		case 3:
			ch.digits <- dsp.DigitEvent{Key: '1', Start: 110, End: 390} // a repeat: dropped
			ch.digits <- dsp.DigitEvent{Key: '3', Start: 420, End: 480} // taken next frame
		}
		return turns == 6, nil
	})
	if hungUp || err != nil {
		t.Fatalf("Run: hungUp %v, err %v; want a clean end at the step's done", hungUp, err)
	}
	want := []heardKey{{'1', 160}, {'2', 3 * 160}, {'3', 4 * 160}}
	if len(got) != len(want) {
		t.Fatalf("heard %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("heard %+v, want %+v", got, want)
		}
	}
	if ch.read != 6 || ch.written != 6 || fl.Now != 6*160 {
		t.Errorf("read %d, wrote %d, Now %d: want 6 frames each way (the last one answered too), Now 960", ch.read, ch.written, fl.Now)
	}
}

// A key from Channel.Digits that arrives ahead of the audio read (RFC 4733
// comes as the key is pressed, the audio a jitter delay later) reaches the
// receiver only after its step has run past the key's start: a receiver
// whose state changes at that time (Contact ID's handshake ending) sees it
// in the state it was sent for.
func TestFrameLoopHoldsKeysAheadOfTheAudio(t *testing.T) {
	ch := &scripted{frames: 8, digits: make(chan dsp.DigitEvent, 4)}
	var fl alarm.FrameLoop
	listening := int64(400) // the receiver's state changes at sample 400
	steppedTo := int64(0)   // how far the step has run
	var got []string
	fl.Init("test", ch, func([]int16, func(dsp.DigitEvent)) {}, func(ev dsp.DigitEvent) {
		got = append(got, fmt.Sprintf("%c at %d, listening %v", ev.Key, fl.Now, steppedTo >= listening))
	})
	turns := 0
	_, err := fl.Run(context.Background(), func([]int16) (bool, error) {
		turns++
		steppedTo = fl.Now
		if turns == 1 {
			ch.digits <- dsp.DigitEvent{Key: '4', Start: 420, End: 900} // read at 160
		}
		return turns == 8, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"4 at 640, listening true"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("heard %v, want %v: the key handed over once the step has passed its start", got, want)
	}
}

func TestFrameLoopEnds(t *testing.T) {
	noKeys := func([]int16, func(dsp.DigitEvent)) {}
	run := func(ch *scripted, ctx context.Context, step func([]int16) (bool, error)) (bool, error) {
		var fl alarm.FrameLoop
		fl.Init("test", ch, noKeys, func(dsp.DigitEvent) {})
		return fl.Run(ctx, step)
	}
	never := func([]int16) (bool, error) { return false, nil }

	ch := &scripted{frames: 3}
	if hungUp, err := run(ch, context.Background(), never); !hungUp || err != nil || ch.written != 3 {
		t.Errorf("far end hangs up after 3 frames: hungUp %v, err %v, %d written", hungUp, err, ch.written)
	}

	broken := errors.New("line fault")
	ch = &scripted{readErr: broken}
	if hungUp, err := run(ch, context.Background(), never); hungUp || !errors.Is(err, broken) || err.Error() != "test: read: line fault" {
		t.Errorf("read error: hungUp %v, err %v; want it wrapped with the loop's name", hungUp, err)
	}

	stepErr := errors.New("queue gone")
	ch = &scripted{frames: 5}
	if _, err := run(ch, context.Background(), func([]int16) (bool, error) { return false, stepErr }); err != stepErr || ch.written != 0 {
		t.Errorf("step error: %v, %d written; want the step's error and no frame written", err, ch.written)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch = &scripted{frames: 5}
	if _, err := run(ch, ctx, never); !errors.Is(err, context.Canceled) || ch.read != 0 {
		t.Errorf("cancelled: %v after %d reads; want context.Canceled before reading", err, ch.read)
	}
}

// Hear allocates nothing per frame, out-of-band keys included.
func TestFrameLoopHearAllocatesNothing(t *testing.T) {
	ch := &scripted{digits: make(chan dsp.DigitEvent, 1)}
	var fl alarm.FrameLoop
	n := 0
	fl.Init("test", ch, func(pcm []int16, emit func(dsp.DigitEvent)) {
		emit(dsp.DigitEvent{Key: '5', Start: fl.Now, End: fl.Now + 80})
	}, func(dsp.DigitEvent) { n++ })
	in := make([]int16, alarm.FrameSamples)
	allocs := testing.AllocsPerRun(100, func() {
		// A key the loop has stepped past: handed over in this frame.
		ch.digits <- dsp.DigitEvent{Key: '7', Start: fl.Now - 1, End: fl.Now + 80}
		fl.Hear(in)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per frame, want 0", allocs)
	}
	if n != 2*101 {
		t.Errorf("%d keys over 101 frames, want 2 each: the test must exercise both paths", n)
	}
}
