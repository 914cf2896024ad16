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
		seen bool
		why  string
	}{
		{k('1', 100, 155), false, "first report"},
		{k('2', 210, 265), false, "next key"},
		{k('1', 102, 150), true, "the first key again, out of band and late"},
		{k('2', 205, 270), true, "the second key in band"},
		{k('2', 320, 375), false, "the same key pressed again after a pause"},
		{k('1', 430, 485), false, "1 again, later"},
	}
	for _, s := range steps {
		if got := d.Seen(s.ev); got != s.seen {
			t.Errorf("%s: Seen = %v", s.why, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { d.Seen(k('3', 1000, 1055)) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
