package bs8521

import (
	"context"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
)

// The receiver allocates per call, never per frame: a call ten times
// longer (data requests all along) costs no more allocations.
func TestReceiverAllocatesPerCallOnly(t *testing.T) {
	r, err := NewReceiver(Config{Log: discard, MaxRequests: 1000, GiveUp: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(frames int) float64 {
		return testing.AllocsPerRun(5, func() {
			ch := &alarmtest.Silent{Frames: frames}
			out, _ := r.Receive(context.Background(), ch, alarm.Call{ID: "a"}, &memQueue{})
			if out.Handshakes < frames/100 {
				t.Fatalf("%d requests in %d frames", out.Handshakes, frames)
			}
		})
	}
	short, long := allocs(200), allocs(2000)
	if long > short {
		t.Errorf("%v allocations for 200 frames, %v for 2000: %.3f per frame", short, long, (long-short)/1800)
	}
}
