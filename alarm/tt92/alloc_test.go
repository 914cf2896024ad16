package tt92

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
)

// The receiver allocates per call, never per frame.
func TestReceiverAllocatesPerCallOnly(t *testing.T) {
	r, err := NewReceiver(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxPrompts: 1000})
	if err != nil {
		t.Fatal(err)
	}
	allocs := func(frames int) float64 {
		return testing.AllocsPerRun(5, func() {
			ch := &alarmtest.Silent{Frames: frames}
			out, _ := r.Receive(context.Background(), ch, alarm.Call{ID: "a"}, &memQueue{})
			if out.Handshakes < frames/200 {
				t.Fatalf("%d prompts in %d frames", out.Handshakes, frames)
			}
		})
	}
	short, long := allocs(200), allocs(2000)
	if long > short {
		t.Errorf("%v allocations for 200 frames, %v for 2000: %.3f per frame", short, long, (long-short)/1800)
	}
}
