package alarm

import (
	"testing"

	"github.com/edgebridge/edgebridge/dsp"
)

func TestDigitDedup(t *testing.T) {
	var d DigitDedup
	k := func(key byte, startMs, endMs int64) dsp.DigitEvent {
		return dsp.DigitEvent{Key: key, Start: startMs * 8, End: endMs * 8}
	}
	steps := []struct {
		ev   dsp.DigitEvent
		src  DigitSource
		seen bool
		why  string
	}{
		{k('1', 100, 155), FromAudio, false, "first report"},
		{k('2', 210, 265), FromAudio, false, "next key"},
		{k('1', 102, 150), FromChannel, true, "the first key again, out of band and late"},
		{k('2', 205, 270), FromChannel, true, "the second key out of band"},
		{k('2', 320, 375), FromChannel, false, "the same key pressed again after a pause"},
		{k('2', 318, 370), FromAudio, true, "... heard in band too"},
		{k('0', 500, 660), FromAudio, false, "STMF 0"},
		{k('0', 660, 820), FromAudio, false, "STMF 0 right after it: one source, two presses"},
	}
	for _, s := range steps {
		if got := d.Seen(s.ev, s.src); got != s.seen {
			t.Errorf("%s: Seen = %v", s.why, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { d.Seen(k('3', 1000, 1055), FromAudio) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
