package media

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/contactid"
)

// TestContactIDOverRTP runs the alarm code's Contact ID panel on one RTP
// session and its receiver on the other, as an alarm call does: handshake,
// 16 DTMF digits, kissoff, with digits in-band (toneSettings inaudio, Data
// mode, through packet reordering) and as RFC 4733 events (2833).
func TestContactIDOverRTP(t *testing.T) {
	msg, err := contactid.Build("1234", "18", "1", "130", "01", "015")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"inaudio", "2833"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			// The panel's hangup reaches the receiver's leg as a BYE would.
			var bye func()
			panelLeg, rxLeg, negA, _ := pair(t, func(a, b *legOpts) {
				a.cfg.OnEnd = func(error) { bye() }
				inaudio := mode == "inaudio"
				a.caps.TelephoneEvent, b.caps.TelephoneEvent = !inaudio, !inaudio
				b.cfg.InBandDTMF = false // the receiver detects in-band itself when Digits is nil
				b.cfg.Mode, a.cfg.Mode = Data, Data
			})
			bye = func() { go rxLeg.Close() }
			via(t, panelLeg, rxLeg, negA, func(i int, _ []byte) relayAction {
				if i%7 == 3 {
					return holdBack
				}
				return pass
			})
			if (rxLeg.Digits() == nil) != (mode == "inaudio") {
				t.Fatalf("Digits nil = %v in %s mode", rxLeg.Digits() == nil, mode)
			}
			rcv, err := contactid.NewReceiver(contactid.Config{HandshakeDelay: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			panel, err := contactid.NewPanel(contactid.PanelConfig{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var mu sync.Mutex
			var queued []alarm.Event
			q := alarm.QueueFunc(func(_ context.Context, ev alarm.Event) error {
				mu.Lock()
				queued = append(queued, ev)
				mu.Unlock()
				return nil
			})
			done := make(chan alarm.Outcome, 1)
			go func() {
				out, err := rcv.Receive(ctx, rxLeg, alarm.Call{ID: "e2e-" + mode, Domain: "example.com"}, q)
				if err != nil {
					t.Errorf("receiver: %v", err)
				}
				done <- out
			}()
			rep, err := panel.Send(ctx, panelLeg, []contactid.Message{msg})
			if err != nil {
				t.Fatalf("panel: %v (report %+v)", err, rep)
			}
			if len(rep.Messages) != 1 || !rep.Messages[0].Acked || rep.Messages[0].Attempts != 1 {
				t.Errorf("panel report %+v", rep)
			}
			// The panel hung up: the receiver ends with it.
			out := <-done
			mu.Lock()
			defer mu.Unlock()
			if len(queued) != 1 || queued[0].Raw != msg.Raw || queued[0].ContactID.Zone != "015" {
				t.Fatalf("queued %+v", queued)
			}
			if len(out.Events) != 1 || out.BadMessages != 0 || out.Reason != alarm.ReasonHangup {
				t.Errorf("outcome %+v", out)
			}
			if mode == "2833" && rxLeg.Stats().DigitsReceived != 16 {
				t.Errorf("%d RFC 4733 digits received", rxLeg.Stats().DigitsReceived)
			}
		})
	}
}
