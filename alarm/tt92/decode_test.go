package tt92

import (
	"errors"
	"testing"

	"github.com/edgebridge/edgebridge/dsp"
)

// Keys closer than the inter-digit pause form one burst; a burst of 24 keys
// is a frame, any other length an error naming the format.
func TestDecodeDigitsSplitsBursts(t *testing.T) {
	const ms = dsp.SampleRate / 1000
	var digits []dsp.DigitEvent
	at := int64(0)
	add := func(keys string, gapMs int64) {
		at += gapMs * ms
		for i := 0; i < len(keys); i++ {
			digits = append(digits, dsp.DigitEvent{Key: keys[i], Start: at, End: at + 80*ms})
			at += 160 * ms
		}
	}
	good := "D#1020123456789012000000"
	add(good[:FrameKeys], 0)
	add("123", 1000)
	got := DecodeDigits(digits, 0)
	if len(got) != 2 {
		t.Fatalf("%d bursts, want 2: %+v", len(got), got)
	}
	if got[0].Keys != good[:FrameKeys] || got[0].Start != 0 || got[0].End != digits[FrameKeys-1].End {
		t.Errorf("first burst %+v", got[0])
	}
	if got[1].Keys != "123" || !errors.Is(got[1].Err, ErrFormat) {
		t.Errorf("short burst %q err %v, want ErrFormat", got[1].Keys, got[1].Err)
	}
}

// Lines: a 24-key burst is a line (with the JSON field names of the
// decode command), a burst of another length a note.
func TestLines(t *testing.T) {
	const ms = dsp.SampleRate / 1000
	var digits []dsp.DigitEvent
	at := int64(1000 * ms)
	for _, keys := range []string{"D#1020461234567800000047", "D#12"} {
		for i := 0; i < len(keys); i++ {
			digits = append(digits, dsp.DigitEvent{Key: keys[i], Start: at, End: at + 55*ms})
			at += 110 * ms
		}
		at += 1000 * ms
	}
	var notes []string
	got := Lines(digits, func(s string) { notes = append(notes, s) })
	if len(got) != 1 || got[0].Protocol != "tt92" || got[0].Raw != "D#1020461234567800000047" || !got[0].Valid ||
		got[0].ChecksumChecked || got[0].Identity != "461234567800" || got[0].AtMs != 1000 || got[0].Error != "" {
		t.Errorf("lines %+v", got)
	}
	if len(notes) != 1 || notes[0] != `4 keys at 4640 ms ("D#12") make no TT92 frame` {
		t.Errorf("notes %q", notes)
	}
	if len(Lines(digits, nil)) != 1 {
		t.Error("a nil note changes the lines")
	}
}
