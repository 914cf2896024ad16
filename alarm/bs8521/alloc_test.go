package bs8521

import (
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
)

// The receiver allocates per call, never per frame: a call ten times
// longer (data requests all along) costs no more allocations.
func TestReceiverAllocatesPerCallOnly(t *testing.T) {
	r, err := NewReceiver(Config{Log: alarmtest.Discard, MaxRequests: 1000, GiveUp: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	alarmtest.CheckAllocsPerCallOnly(t, r, func(frames int, out alarm.Outcome) {
		if out.Handshakes < frames/100 {
			t.Fatalf("%d requests in %d frames", out.Handshakes, frames)
		}
	})
}

// BenchmarkReceiverCall is a 10 s call (500 frames) of data requests and
// silence: frame loop, detector and key generator.
func BenchmarkReceiverCall(b *testing.B) {
	r, err := NewReceiver(Config{Log: alarmtest.Discard, MaxRequests: 1000, GiveUp: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	alarmtest.BenchCall(b, r, 500)
}
