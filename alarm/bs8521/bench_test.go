package bs8521

import (
	"context"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
)

// BenchmarkReceiverCall is a 10 s call (500 frames) of data requests and
// silence: the frame loop, detector and key generator. ns/frame is the
// cost of one 20 ms frame; allocations are the call's, none per frame.
func BenchmarkReceiverCall(b *testing.B) {
	r, err := NewReceiver(Config{Log: alarmtest.Discard, MaxRequests: 1000, GiveUp: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const frames = 500
	b.ReportAllocs()
	for b.Loop() {
		ch := &alarmtest.Silent{Frames: frames}
		if out, _ := r.Receive(context.Background(), ch, alarm.Call{ID: "bench"}, &alarmtest.Queue{}); out.Handshakes == 0 {
			b.Fatalf("outcome %+v: nothing sent", out)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*frames), "ns/frame")
}
