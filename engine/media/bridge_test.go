package media

import (
	"context"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestBridgeTranscodesAndPassesDigits: A (PCMA) ↔ [B1 bridge B2] ↔ C
// (PCMU). A's tone reaches C at its level through A-law → PCM → µ-law, and
// A's RFC 4733 digit reaches C as an RFC 4733 digit, live: in C's sample
// time it has ended before the tone A sent after it begins.
func TestBridgeTranscodesAndPassesDigits(t *testing.T) {
	a, b1, _, _ := pair(t, func(a, b *legOpts) { a.caps.Codecs = []string{sdp.PCMA} })
	c, b2, _, negB2 := pair(t, func(a, b *legOpts) { a.caps.Codecs = []string{sdp.PCMU} })
	if negB2.Codec != sdp.PCMU {
		t.Fatalf("b2 codec %s", negB2.Codec)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Bridge(ctx, b1, b2) }()
	rd := startReader(c, false)
	if err := a.SendDigit('9', 400); err != nil {
		t.Fatal(err)
	}
	// The digit (20 frames, 2 more for the repeated end packets), then 25
	// frames of tone.
	sendFrames(t, a, 47, toneFrames(22, 47))
	var got dsp.DigitEvent
	select {
	case got = <-c.Digits():
	case <-time.After(10 * time.Second):
		t.Fatal("no digit through the bridge")
	}
	// Live relay: B2 ends the event when B1 hears its end, give or take
	// the frame it was on.
	if got.Key != '9' || got.DurationMs() < 400 || got.DurationMs() > 460 {
		t.Errorf("digit %+v (%d ms)", got, got.DurationMs())
	}
	// C keeps receiving (the bridge sends silence): wait for the tone to
	// have come through and gone quiet again.
	testkit.WaitFor(t, "the tone at C", 10*time.Second, func() bool {
		l := rd.snapshot()
		n, _ := loud(l, 4000)
		q, _ := loud(l[max(len(l)-5, 0):], 4000)
		return n >= 23 && q == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Bridge after cancel: %v", err)
	}
	c.Close()
	<-rd.done
	levels := rd.snapshot()
	n, run := loud(levels, 4000)
	if n < 23 || run < 23 {
		t.Errorf("C heard %d full-level frames of 25 (run %d)", n, run)
	}
	first := -1
	for i, l := range levels {
		if l > 4000 {
			first = i
			break
		}
	}
	if toneAt := int64(first) * FrameSamples; first < 0 || got.End > toneAt {
		t.Errorf("digit ends at sample %d, tone starts at %d: the digit was not passed live", got.End, toneAt)
	}
	if st := b2.Stats(); st.Codec != sdp.PCMU || st.PacketsSent < 25 {
		t.Errorf("b2 %+v", st)
	}
}
