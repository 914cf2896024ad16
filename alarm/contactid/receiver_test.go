package contactid

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/dsp"
)

type callResult struct {
	out    alarm.Outcome
	rerr   error
	rep    PanelReport
	perr   error
	queued []alarm.Event
}

// runCall connects a receiver and a panel over a pipe and runs one call.
func runCall(t *testing.T, o alarmtest.Options, rc Config, pc PanelConfig, q *alarmtest.Queue, msgs ...Message) callResult {
	t.Helper()
	if q == nil {
		q = &alarmtest.Queue{}
	}
	if rc.Log == nil {
		rc.Log = alarmtest.Discard
	}
	r, err := NewReceiver(rc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPanel(pc)
	if err != nil {
		t.Fatal(err)
	}
	var res callResult
	res.out, res.rerr, res.perr = alarmtest.RunCall(o, r, alarm.Call{ID: "call-1", Domain: "example.org", Caller: "+4611111"}, q, func(ctx context.Context, ch alarm.Channel) (err error) {
		res.rep, err = p.Send(ctx, ch, msgs)
		return err
	})
	res.queued = q.Events()
	return res
}

func mustBuild(t testing.TB, acct, q, code, group, zone string) Message {
	m, err := Build(acct, "18", q, code, group, zone)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkAllAcked asserts that every message was acknowledged once, queued
// before its kissoff, and that the kissoff met DC-05's timing.
func checkAllAcked(t *testing.T, res callResult, msgs []Message) {
	t.Helper()
	if res.rerr != nil {
		t.Fatalf("receiver: %v", res.rerr)
	}
	if res.perr != nil {
		t.Fatalf("panel: %v (report %+v)", res.perr, res.rep)
	}
	if len(res.out.Events) != len(msgs) {
		t.Fatalf("receiver acknowledged %d events, want %d: %+v", len(res.out.Events), len(msgs), res.out)
	}
	for i, m := range msgs {
		ev := res.out.Events[i]
		if ev.Raw != m.Raw || ev.ContactID == nil || ev.ContactID.Code != m.Code || ev.ContactID.Account != m.Account {
			t.Errorf("event %d: %+v, want raw %s", i, ev, m.Raw)
		}
		sr := res.rep.Messages[i]
		if !sr.Acked {
			t.Errorf("message %d not acknowledged: %+v", i, sr)
		}
		// DC-05: the kissoff starts within 1.25 s of the last digit and
		// lasts 750-1000 ms; the panel heard at least 400 ms of it.
		if d := sr.KissoffMs - sr.LastMs; d < 0 || d > 1250 {
			t.Errorf("message %d: kissoff %d ms after the last digit, want within 1250", i, d)
		}
		if i < len(msgs)-1 && (sr.KissoffLen < 700 || sr.KissoffLen > 1050) {
			t.Errorf("message %d: kissoff lasted %d ms, want 750-1000 (±detector edges)", i, sr.KissoffLen)
		}
	}
	ids := map[string]bool{}
	for _, ev := range res.queued {
		ids[ev.ID] = true
	}
	for _, ev := range res.out.Events {
		if !ids[ev.ID] {
			t.Errorf("event %s acknowledged but never queued", ev.ID)
		}
	}
}

func TestReceiverClean(t *testing.T) {
	m := mustBuild(t, "1234", "1", "130", "01", "015")
	res := runCall(t, alarmtest.Options{}, Config{}, PanelConfig{}, nil, m)
	checkAllAcked(t, res, []Message{m})
	if res.rep.Messages[0].Attempts != 1 {
		t.Errorf("clean line took %d attempts", res.rep.Messages[0].Attempts)
	}
	if res.out.Reason != alarm.ReasonHangup || res.out.Handshakes != 1 || res.out.BadMessages != 0 {
		t.Errorf("outcome %+v", res.out)
	}
	ev := res.out.Events[0]
	if ev.ID != alarm.EventID("example.org", "call-1", alarm.ProtoContactID, m.Raw) || ev.ControllerID != "1234" || ev.StatusCode != "1130" || ev.CallerID != "+4611111" {
		t.Errorf("event fields %+v", ev)
	}
	// Handshake 1 s after answer, 300 ms long, one frame of latency.
	if hs := res.rep.HandshakeMs; hs < 1300 || hs > 1360 {
		t.Errorf("handshake ended at %d ms, want about 1320", hs)
	}
}

func fourMessages(t *testing.T) []Message {
	return []Message{
		mustBuild(t, "1234", "1", "130", "01", "015"),
		mustBuild(t, "1234", "1", "110", "00", "003"),
		mustBuild(t, "1234", "3", "130", "01", "015"),
		mustBuild(t, "BCDE", "1", "602", "00", "000"), // hex account: * # A B on the line
	}
}

// The receiver over lines a panel meets in the field. Each case names the
// requirement it exercises (ITU-T Q.24 receiver column, listed in dsp's doc.go).
func TestReceiverImpairedLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    alarmtest.Options
		pc   PanelConfig
	}{
		{"noise S/N 20 dB", alarmtest.Options{AtoB: alarmtest.Impairments{Seed: 1, NoiseDBm0: -26}, BtoA: alarmtest.Impairments{Seed: 2, NoiseDBm0: -26}}, PanelConfig{}},
		{"clock +1.5%", alarmtest.Options{BtoA: alarmtest.Impairments{FreqOffset: 0.015}}, PanelConfig{}},
		{"clock -1.5%", alarmtest.Options{BtoA: alarmtest.Impairments{FreqOffset: -0.015}}, PanelConfig{}},
		{"generator tones +1.5%/-1.5%", alarmtest.Options{}, PanelConfig{DTMF: dsp.DTMFGenConfig{LowDBm0: -7, HighDBm0: -5, OnMs: 55, OffMs: 55, LowFreqErr: 0.015, HighFreqErr: -0.015}}},
		{"line twist high +4 dB", alarmtest.Options{BtoA: alarmtest.Impairments{TwistDB: 4}}, PanelConfig{DTMF: dsp.DTMFGenConfig{LowDBm0: -8, HighDBm0: -8, OnMs: 55, OffMs: 55}}},
		{"line twist high -8 dB", alarmtest.Options{BtoA: alarmtest.Impairments{TwistDB: -8}}, PanelConfig{DTMF: dsp.DTMFGenConfig{LowDBm0: -6, HighDBm0: -6, OnMs: 55, OffMs: 55}}},
		{"G.711 A-law both ways", alarmtest.Options{AtoB: alarmtest.Impairments{G711: "alaw"}, BtoA: alarmtest.Impairments{G711: "alaw"}}, PanelConfig{}},
		{"G.711 µ-law, weak panel -25 dBm0", alarmtest.Options{AtoB: alarmtest.Impairments{G711: "ulaw"}, BtoA: alarmtest.Impairments{G711: "ulaw"}}, PanelConfig{DTMF: dsp.DTMFGenConfig{LowDBm0: -26, HighDBm0: -24, OnMs: 55, OffMs: 55}}},
		{"1% frame loss", alarmtest.Options{AtoB: alarmtest.Impairments{Seed: 3, LossRate: 0.01}, BtoA: alarmtest.Impairments{Seed: 4, LossRate: 0.01}}, PanelConfig{}},
		{"3% frame loss", alarmtest.Options{AtoB: alarmtest.Impairments{Seed: 5, LossRate: 0.03}, BtoA: alarmtest.Impairments{Seed: 6, LossRate: 0.03}}, PanelConfig{}},
		{"jitter σ 30 ms, buffer 80 ms", alarmtest.Options{AtoB: alarmtest.Impairments{Seed: 7, JitterMs: 30, JitterDepth: 4}, BtoA: alarmtest.Impairments{Seed: 8, JitterMs: 30, JitterDepth: 4}}, PanelConfig{}},
		{"everything at once", alarmtest.Options{
			AtoB: alarmtest.Impairments{Seed: 9, G711: "alaw", LossRate: 0.01, NoiseDBm0: -35},
			BtoA: alarmtest.Impairments{Seed: 10, G711: "alaw", LossRate: 0.02, NoiseDBm0: -30, FreqOffset: 0.01, TwistDB: 2, JitterMs: 20, JitterDepth: 3}}, PanelConfig{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := fourMessages(t)
			res := runCall(t, tc.o, Config{}, tc.pc, nil, msgs...)
			checkAllAcked(t, res, msgs)
			attempts := 0
			for _, m := range res.rep.Messages {
				attempts += m.Attempts
			}
			t.Logf("%d messages in %d attempts, %d bad", len(msgs), attempts, res.out.BadMessages)
			// A damaged attempt is one bad message, or two when a split
			// digit leaves a stray one behind.
			if extra := attempts - len(msgs); res.out.BadMessages < extra || res.out.BadMessages > 2*extra {
				t.Errorf("receiver counted %d bad messages, panel made %d extra attempts", res.out.BadMessages, extra)
			}
		})
	}
}

func TestReceiverTwoMessages(t *testing.T) {
	msgs := fourMessages(t)[:2]
	res := runCall(t, alarmtest.Options{}, Config{}, PanelConfig{}, nil, msgs...)
	checkAllAcked(t, res, msgs)
	// The second message follows the first kissoff in the same call.
	if res.out.Handshakes != 1 {
		t.Errorf("%d handshakes, want 1", res.out.Handshakes)
	}
	if res.out.Events[0].ID == res.out.Events[1].ID {
		t.Error("two messages got the same id")
	}
}

// A message with a bad checksum is never acknowledged: the panel repeats it
// four times and gives up (DC-05 §2.3), and nothing is queued.
func TestReceiverBadChecksum(t *testing.T) {
	bad, err := Parse("123418113001015D")
	if err != nil {
		t.Fatal(err)
	}
	q := &alarmtest.Queue{}
	res := runCall(t, alarmtest.Options{}, Config{}, PanelConfig{}, q, bad)
	if !errors.Is(res.perr, ErrNoKissoff) {
		t.Fatalf("panel: %v, want ErrNoKissoff", res.perr)
	}
	if res.rep.Messages[0].Attempts != 4 || res.rep.Messages[0].Acked {
		t.Errorf("panel report %+v, want 4 unacknowledged attempts", res.rep.Messages[0])
	}
	if res.out.BadMessages != 4 || len(res.out.Events) != 0 || len(res.queued) != 0 || q.Calls() != 0 {
		t.Errorf("outcome %+v, %d enqueue calls: want 4 bad messages and nothing queued", res.out, q.Calls())
	}
}

// A digit damaged on the first attempt: the repeat is acknowledged, and
// the event is queued once.
func TestReceiverPanelRetries(t *testing.T) {
	m := mustBuild(t, "1234", "1", "130", "01", "015")
	pc := PanelConfig{Mangle: func(msg, attempt int, keys string) string {
		switch attempt {
		case 0:
			return keys[:5] + "9" + keys[6:] // wrong digit: checksum fails
		case 1:
			return keys[:15] // one digit lost: partial message
		}
		return keys
	}}
	res := runCall(t, alarmtest.Options{}, Config{}, pc, nil, m)
	checkAllAcked(t, res, []Message{m})
	if res.rep.Messages[0].Attempts != 3 || res.out.BadMessages != 2 || len(res.queued) != 1 {
		t.Errorf("attempts %d, bad %d, queued %d: want 3, 2, 1", res.rep.Messages[0].Attempts, res.out.BadMessages, len(res.queued))
	}
}

// When the queue cannot store the event, no kissoff is sent, so the panel
// keeps the alarm and repeats; once the queue works again the repeat is
// acknowledged (kissoff only after the event is durably queued).
func TestReceiverNoKissoffWhenEnqueueFails(t *testing.T) {
	m := mustBuild(t, "1234", "1", "130", "01", "015")
	q := &alarmtest.Queue{Fail: func(call int) error {
		if call <= 2 {
			return errors.New("disk full")
		}
		return nil
	}}
	res := runCall(t, alarmtest.Options{}, Config{}, PanelConfig{}, q, m)
	checkAllAcked(t, res, []Message{m})
	if res.rep.Messages[0].Attempts != 3 || res.out.EnqueueFailures != 2 || q.Calls() != 3 {
		t.Errorf("attempts %d, enqueue failures %d, enqueue calls %d: want 3, 2, 3", res.rep.Messages[0].Attempts, res.out.EnqueueFailures, q.Calls())
	}

	// A queue that never works: the panel never hears a kissoff.
	q = &alarmtest.Queue{Fail: func(int) error { return errors.New("disk full") }}
	res = runCall(t, alarmtest.Options{}, Config{}, PanelConfig{}, q, m)
	if !errors.Is(res.perr, ErrNoKissoff) || res.rep.Messages[0].KissoffMs != -1 {
		t.Fatalf("panel: %v, report %+v: want no kissoff at all", res.perr, res.rep.Messages[0])
	}
	if res.out.EnqueueFailures != 4 || len(res.out.Events) != 0 {
		t.Errorf("outcome %+v", res.out)
	}
}

// A repeat of an acknowledged message (the panel missed the kissoff) has
// the same event id, and the receiver kisses it off again at once, without
// writing the stored event a second time.
func TestReceiverRepeatSameID(t *testing.T) {
	m := mustBuild(t, "1234", "1", "130", "01", "015")
	// The panel ignores a kissoff shorter than 2 s, so it repeats each time;
	// what it hears is kept to count the kissoffs.
	q := &alarmtest.Queue{}
	r, err := NewReceiver(Config{Log: alarmtest.Discard})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPanel(PanelConfig{MinKissoff: 2 * time.Second, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	var heard []int16
	out, rerr, perr := alarmtest.RunCall(alarmtest.Options{}, r, alarm.Call{ID: "call-1", Domain: "example.org"}, q, func(ctx context.Context, ch alarm.Channel) error {
		end := ch.(*alarmtest.End)
		end.Record()
		_, err := p.Send(ctx, ch, []Message{m})
		heard = end.Received()
		return err
	})
	if rerr != nil || !errors.Is(perr, ErrNoKissoff) {
		t.Fatalf("receiver %v, panel %v", rerr, perr)
	}
	if got := q.Events(); len(got) != 1 || q.Calls() != 1 {
		t.Fatalf("queued %d events in %d calls, want the one event written once", len(got), q.Calls())
	}
	if len(out.Events) != 1 || out.Messages != 2 {
		t.Errorf("outcome lists %d events of %d messages, want 1 of 2", len(out.Events), out.Messages)
	}
	det, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "1400", Freq1: 1400, MinMs: 400})
	if err != nil {
		t.Fatal(err)
	}
	kissoffs := 0
	det.Process(heard, func(ev dsp.ToneEvent) {
		if ev.On {
			kissoffs++
		}
	})
	if kissoffs != 2 {
		t.Fatalf("the panel heard %d kissoffs, want one per copy of the message", kissoffs)
	}
}

// 606 listen-in: after its kissoff the receiver hands the call back for voice.
func TestReceiverListenIn(t *testing.T) {
	msgs := []Message{mustBuild(t, "1234", "1", "130", "01", "015"), mustBuild(t, "1234", "1", "606", "00", "000")}
	res := runCall(t, alarmtest.Options{}, Config{}, PanelConfig{StayOnLine: true}, nil, msgs...)
	if res.rerr != nil {
		t.Fatal(res.rerr)
	}
	if !res.out.ListenIn || res.out.Reason != alarm.ReasonListenIn || len(res.out.Events) != 2 {
		t.Fatalf("outcome %+v, want listen-in after 2 events", res.out)
	}
}

// RFC 4733 digits (no tones in the audio) are collected the same way.
func TestReceiverOutOfBand(t *testing.T) {
	msgs := fourMessages(t)
	res := runCall(t, alarmtest.Options{OutOfBand: true}, Config{}, PanelConfig{}, nil, msgs...)
	checkAllAcked(t, res, msgs)
}

// RFC 4733 events with the tones left in the audio: each key counts once.
func TestReceiverOutOfBandAndInBand(t *testing.T) {
	msgs := fourMessages(t)
	res := runCall(t, alarmtest.Options{OutOfBand: true, InBandToo: true}, Config{}, PanelConfig{}, nil, msgs...)
	checkAllAcked(t, res, msgs)
	if res.out.BadMessages != 0 {
		t.Errorf("%d bad messages: keys were counted twice", res.out.BadMessages)
	}
}

// No panel on the line: handshakes are repeated, then the receiver gives up.
func TestReceiverNoMessage(t *testing.T) {
	r, err := NewReceiver(Config{Log: alarmtest.Discard, MaxHandshakes: 2})
	if err != nil {
		t.Fatal(err)
	}
	gw, quiet := alarmtest.NewPipe(alarmtest.Options{})
	quiet.Record()
	go alarmtest.Quiet(quiet)
	out, err := r.Receive(context.Background(), gw, alarm.Call{ID: "x"}, &alarmtest.Queue{})
	gw.Hangup()
	if err != nil {
		t.Fatal(err)
	}
	if out.Reason != alarm.ReasonNoMessage || out.Handshakes != 2 {
		t.Fatalf("outcome %+v", out)
	}
}

func TestConfigRejects(t *testing.T) {
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{HandshakeDelay: 300 * time.Millisecond}, "HandshakeDelay"},
		{Config{HandshakeDelay: 3 * time.Second}, "HandshakeDelay"},
		{Config{KissoffDuration: 500 * time.Millisecond}, "KissoffDuration"},
		{Config{InterDigitTimeout: 2 * time.Second}, "InterDigitTimeout"},
		{Config{FirstDigitTimeout: time.Second}, "FirstDigitTimeout"},
	} {
		if _, err := NewReceiver(tc.c); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: %v, want an error naming %s", tc.c, err, tc.field)
		}
	}
}

var _ = fmt.Sprint

// Loss and late frames over many calls: how often does a message need a
// repeat, and does every one get through within the panel's 4 attempts?
// The figures are logged; the assertion is that none is lost.
func TestReceiverLossStatistics(t *testing.T) {
	for _, tc := range []struct {
		name string
		im   func(seed uint64) alarmtest.Impairments
	}{
		{"3% loss", func(s uint64) alarmtest.Impairments { return alarmtest.Impairments{Seed: s, LossRate: 0.03} }},
		{"jitter σ 30 ms, 60 ms buffer (4.6% late)", func(s uint64) alarmtest.Impairments {
			return alarmtest.Impairments{Seed: s, JitterMs: 30, JitterDepth: 3}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hist := map[int]int{}
			lost := 0
			for seed := uint64(1); seed <= 25; seed++ {
				msgs := fourMessages(t)
				o := alarmtest.Options{AtoB: tc.im(seed), BtoA: tc.im(seed + 1000)}
				res := runCall(t, o, Config{}, PanelConfig{}, nil, msgs...)
				for _, m := range res.rep.Messages {
					if m.Acked {
						hist[m.Attempts]++
					} else {
						lost++
					}
				}
			}
			t.Logf("attempts needed per message (100 messages): %v; not acknowledged: %d", hist, lost)
			if lost > 0 {
				t.Errorf("%d of 100 messages not acknowledged within 4 attempts", lost)
			}
		})
	}
}

// On lines far worse than any specification (S/N down to 6 dB, 10 % loss,
// heavy jitter, big clock error), messages may go unacknowledged, but the
// receiver must never acknowledge or queue a message that was not sent:
// that would be a false alarm, or a real one reported wrongly.
func TestReceiverNeverAcknowledgesWrong(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	sent := map[string]bool{}
	msgs := fourMessages(t)
	for _, m := range msgs {
		sent[m.Raw] = true
	}
	acked, total := 0, 0
	for i := range 20 {
		im := func() alarmtest.Impairments {
			return alarmtest.Impairments{
				Seed:        rng.Uint64(),
				NoiseDBm0:   -12 - 20*rng.Float64(), // S/N 6-26 dB against −6 dBm0 digits
				LossRate:    0.10 * rng.Float64(),
				JitterMs:    40 * rng.Float64(),
				JitterDepth: 2,
				FreqOffset:  0.03 * (2*rng.Float64() - 1),
				TwistDB:     8 * (2*rng.Float64() - 1),
				G711:        []string{"", "alaw", "ulaw"}[rng.IntN(3)],
			}
		}
		q := &alarmtest.Queue{}
		res := runCall(t, alarmtest.Options{AtoB: im(), BtoA: im()}, Config{}, PanelConfig{}, q, msgs...)
		if res.rerr != nil {
			t.Fatalf("call %d: %v", i, res.rerr)
		}
		for _, ev := range res.queued {
			if !sent[ev.Raw] {
				t.Fatalf("call %d: queued %s, which was never sent", i, ev.Raw)
			}
		}
		for _, m := range res.rep.Messages {
			total++
			if m.Acked {
				acked++
			}
		}
	}
	t.Logf("%d of %d messages acknowledged on hostile lines; none wrong", acked, total)
}

// A slow durable write never stalls the call, and a kissoff is never sent
// over the panel's repeat: a write that ends in time (500 ms) is kissed
// off late but within the panel's 1.25 s; one that ends after the panel
// started its repeat (2 s) is not, and the repeat is kissed off at once
// from the stored event, without a second write. With a 606 (listen-in to
// follow) the call is then handed over for voice, as the gateway's
// listen-in calls need under load.
func TestReceiverSlowWriteKeepsTheCallGoing(t *testing.T) {
	m := mustBuild(t, "1234", "1", "606", "01", "007")
	for _, c := range []struct {
		write    time.Duration
		attempts int
	}{{500 * time.Millisecond, 1}, {2 * time.Second, 2}} {
		t.Run(c.write.String(), func(t *testing.T) {
			r, err := NewReceiver(Config{Log: alarmtest.Discard})
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPanel(PanelConfig{StayOnLine: true})
			if err != nil {
				t.Fatal(err)
			}
			gw, far := alarmtest.NewPipe(alarmtest.Options{OutOfBand: true})
			q := &alarmtest.Queue{}
			disk := alarmtest.NewSlowDisk(gw, c.write, q)
			var rep PanelReport
			var perr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				rep, perr = p.Send(context.Background(), far, []Message{m})
				far.Hangup()
			}()
			out, rerr := r.Receive(context.Background(), disk, alarm.Call{ID: "c", Domain: "d"}, disk)
			alarmtest.Quiet(disk) // the voice call that follows, until the panel is done
			<-done
			sent := rep.Messages[0]
			if rerr != nil || perr != nil || !sent.Acked || sent.Attempts != c.attempts {
				t.Fatalf("receiver %v, panel %v, %+v: want the kissoff heard on attempt %d", rerr, perr, sent, c.attempts)
			}
			if d := sent.KissoffMs - sent.LastMs; d > 1250 {
				t.Fatalf("kissoff started %d ms after the last digit: the panel had given up at 1250", d)
			}
			if !out.ListenIn || len(out.Events) != 1 || q.Calls() != 1 {
				t.Fatalf("outcome %+v, %d writes: want listen-in, the event written once", out, q.Calls())
			}
		})
	}
}
