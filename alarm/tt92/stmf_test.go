package tt92

import (
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/dsp"
)

func TestStmfRoundTrip(t *testing.T) {
	const keys = "D#0123456789*#ABCD" + frameA
	snd, err := NewStmfSender(-10)
	if err != nil {
		t.Fatal(err)
	}
	det, err := NewStmfDetector()
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	emit := func(ev dsp.DigitEvent) { got += string(ev.Key) }
	if err := snd.Queue(keys[:40]); err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, alarm.FrameSamples)
	frames, after := 0, 0
	for after < 5 {
		if !snd.Busy() && frames >= 10 {
			after++ // the detector reports a tone once it has ended
		}
		snd.Generate(pcm)
		det.Process(pcm, emit)
		frames++
		if frames == 5 {
			if err := snd.Queue(keys[40:]); err != nil {
				t.Fatal(err)
			}
		}
		if frames > 2000 {
			t.Fatal("sender never finished")
		}
	}
	if got != keys {
		t.Fatalf("heard %q, want %q", got, keys)
	}
	// Each key takes two tones and two gaps.
	if want := len(keys)*KeySamples/alarm.FrameSamples + 10; frames > want+2 {
		t.Errorf("%d frames for %d keys, want about %d", frames, len(keys), want)
	}
	got = ""
	if n := testing.AllocsPerRun(50, func() {
		if !snd.Busy() {
			snd.Queue("12")
		}
		snd.Generate(pcm)
		det.Process(pcm, func(dsp.DigitEvent) {})
	}); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}
