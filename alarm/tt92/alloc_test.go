package tt92

import (
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
)

// The receiver allocates per call, never per frame.
func TestReceiverAllocatesPerCallOnly(t *testing.T) {
	r, err := NewReceiver(Config{Log: alarmtest.Discard, MaxPrompts: 1000})
	if err != nil {
		t.Fatal(err)
	}
	alarmtest.CheckAllocsPerCallOnly(t, r, func(frames int, out alarm.Outcome) {
		if out.Handshakes < frames/200 {
			t.Fatalf("%d prompts in %d frames", out.Handshakes, frames)
		}
	})
}

// BenchmarkReceiverCall is a 10 s call (500 frames) of prompts and
// silence: frame loop, detector and key generator.
func BenchmarkReceiverCall(b *testing.B) {
	r, err := NewReceiver(Config{Log: alarmtest.Discard, MaxPrompts: 1000})
	if err != nil {
		b.Fatal(err)
	}
	alarmtest.BenchCall(b, r, 500)
}
