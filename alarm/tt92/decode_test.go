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
