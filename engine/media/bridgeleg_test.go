package media

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// fxsLeg is a non-RTP leg paced like a line codec: one frame of tone each
// 20 ms for a while, then the unit hangs up (io.EOF).
type fxsLeg struct {
	tick   *time.Ticker
	frames int // frames of tone before the hang-up
	n      int

	mu      sync.Mutex
	written int
	keys    []byte
}

func (l *fxsLeg) ReadFrame(pcm []int16) error {
	<-l.tick.C
	if l.n >= l.frames {
		return io.EOF
	}
	tone(pcm, 1000, 8000, l.n)
	l.n++
	return nil
}

func (l *fxsLeg) WriteFrame(pcm []int16) error {
	l.mu.Lock()
	l.written++
	l.mu.Unlock()
	return nil
}

func (l *fxsLeg) SendDigit(key byte, ms int) error {
	l.mu.Lock()
	l.keys = append(l.keys, key)
	l.mu.Unlock()
	return nil
}

func (l *fxsLeg) state() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written, string(l.keys)
}

// The unit on a non-RTP leg is heard by the RTP far end, the far end's
// RFC 4733 key reaches the unit in band, and the unit's hang-up ends the
// bridge with io.EOF.
func TestBridgeLegCarriesAudioDigitsAndHangup(t *testing.T) {
	far, s, _, _ := pair(t, nil)
	leg := &fxsLeg{tick: time.NewTicker(20 * time.Millisecond), frames: 100}
	defer leg.tick.Stop()
	rd := startReader(far, false)
	done := make(chan error, 1)
	go func() { done <- BridgeLeg(context.Background(), s, leg) }()
	if err := far.SendDigit('5', 120); err != nil {
		t.Fatal(err)
	}
	sendFrames(t, far, 20, func(p []int16, i int) { clear(p) })
	testkit.WaitFor(t, "the far end's key played to the unit", 10*time.Second, func() bool { _, k := leg.state(); return k == "5" })
	testkit.WaitFor(t, "the unit's tone at the far end", 10*time.Second, func() bool { n, _ := loud(rd.snapshot(), 4000); return n >= 20 })
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("BridgeLeg after the unit hung up: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("BridgeLeg still running after the unit hung up")
	}
	if w, _ := leg.state(); w < 20 {
		t.Fatalf("the unit heard %d frames of the far end", w)
	}
}
