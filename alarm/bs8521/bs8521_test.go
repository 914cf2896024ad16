package bs8521

import (
	"context"
	"errors"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
)

// Checksum values are each key's index in "D1234567890*#ABC", summed mod
// 100 (from an open-source receiver, unconfirmed: see doc.go).
func TestChecksum(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		// 1+1+10+1 +1+2+3+4+5+6+7+8 +10+10+10+1 +10+1+9 +10+1 +10 +10+10 = 141
		{"110112345678000101901000", "41"},
		{"DDDDDDDDDDDDDDDDDDDDDDDD", "00"},
		{"CCCCCCCCCCCCCCCCCCCCCCCC", "60"}, // 24×15 = 360
		{"000000000000000000000000", "40"}, // 24×10 = 240
	} {
		got, err := Checksum(tc.body)
		if err != nil || got != tc.want {
			t.Errorf("Checksum(%s) = %s, %v; want %s", tc.body, got, err, tc.want)
		}
	}
}

func TestParseValidate(t *testing.T) {
	m, err := Build("1", "1", "01", "12345678", "0001", "019", "01", "1", "00")
	if err != nil {
		t.Fatal(err)
	}
	if m.Raw != "110112345678000101901100"+m.Checksum || m.Controller != "12345678" || m.Unit != "0001" || m.Event != "019" || m.Validate() != nil {
		t.Fatalf("%+v", m)
	}
	bad, _ := Parse(m.Raw[:25] + string("0123456789"[(m.Raw[25]-'0'+1)%10]))
	if err := bad.Validate(); !errors.Is(err, ErrChecksum) {
		t.Errorf("bad checksum: %v", err)
	}
	for _, raw := range []string{"", m.Raw[:25], m.Raw + "1", m.Raw[:3] + "E" + m.Raw[4:]} {
		if _, err := Parse(raw); !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q): %v, want ErrFormat", raw, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("11011234567800010190110026")
	f.Add("DDDDDDDDDDDDDDDDDDDDDDDD00")
	f.Add("short")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("%v is not ErrFormat", err)
			}
			return
		}
		joined := m.SystemType + m.SpeechMode + m.Conformance + m.Controller + m.Unit + m.Event + m.Location + m.Priority + m.Status + m.Checksum
		if joined != s {
			t.Fatalf("fields do not reassemble %q", s)
		}
		c, _ := Checksum(s[:BodyKeys])
		if (m.Validate() == nil) != (c == s[BodyKeys:]) {
			t.Fatalf("%q: Validate disagrees with Checksum %s", s, c)
		}
	})
}

func runCall(t *testing.T, o alarmtest.Options, rc Config, uc UnitConfig, q *alarmtest.Queue, msgs ...Message) (alarm.Outcome, error, UnitReport, error) {
	t.Helper()
	rc.Log = alarmtest.Discard
	r, err := NewReceiver(rc)
	if err != nil {
		t.Fatal(err)
	}
	var rep UnitReport
	out, rerr, uerr := alarmtest.RunCall(o, r, alarm.Call{ID: "c1", Domain: "d"}, q, func(ctx context.Context, ch alarm.Channel) (err error) {
		rep, err = NewUnit(uc).Send(ctx, ch, msgs)
		return err
	})
	return out, rerr, rep, uerr
}

func msgs(t *testing.T) []Message {
	var out []Message
	for _, ev := range []string{"019", "021", "058"} {
		m, err := Build("1", "1", "01", "12345678", "0001", ev, "01", "1", "00")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestReceiverUnit(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    alarmtest.Options
	}{
		{"clean", alarmtest.Options{}},
		{"A-law, noise, 1% loss", alarmtest.Options{
			AtoB: alarmtest.Impairments{Seed: 1, G711: "alaw", NoiseDBm0: -35, LossRate: 0.01},
			BtoA: alarmtest.Impairments{Seed: 2, G711: "alaw", NoiseDBm0: -35, LossRate: 0.01}}},
		{"out of band", alarmtest.Options{OutOfBand: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := msgs(t)
			q := &alarmtest.Queue{}
			out, rerr, rep, uerr := runCall(t, tc.o, Config{}, UnitConfig{}, q, ms...)
			if rerr != nil || uerr != nil {
				t.Fatalf("receiver %v, unit %v (report %+v, outcome %+v)", rerr, uerr, rep, out)
			}
			if len(out.Events) != 3 || len(q.Events()) < 3 {
				t.Fatalf("outcome %+v", out)
			}
			for i, ev := range out.Events {
				if ev.Raw != ms[i].Raw || ev.BS8521.Event != ms[i].Event || ev.ControllerID != "12345678" || ev.DeviceID != "0001" || ev.Priority != 1 {
					t.Errorf("event %d: %+v", i, ev)
				}
				if !rep.Messages[i].Acked {
					t.Errorf("message %d not acknowledged", i)
				}
			}
			if rep.Requests < 1 || out.Handshakes != rep.Requests {
				t.Errorf("requests sent %d, heard %d", out.Handshakes, rep.Requests)
			}
		})
	}
}

// No acknowledge for a bad message or one the queue refused: the unit
// repeats, and is acknowledged once the message is good and queued.
func TestReceiverWithholdsAck(t *testing.T) {
	m := msgs(t)[:1]
	uc := UnitConfig{Mangle: func(_, attempt int, keys string) string {
		if attempt == 0 {
			return keys[:20] + "9" + keys[21:] // checksum now wrong
		}
		return keys
	}}
	q := &alarmtest.Queue{Fail: func(n int) error {
		if n == 1 {
			return errors.New("disk full")
		}
		return nil
	}}
	out, rerr, rep, uerr := runCall(t, alarmtest.Options{}, Config{}, uc, q, m...)
	if rerr != nil || uerr != nil {
		t.Fatalf("receiver %v, unit %v", rerr, uerr)
	}
	if rep.Messages[0].Attempts != 3 || out.BadMessages != 1 || out.EnqueueFailures != 1 || len(out.Events) != 1 || q.Calls() != 2 {
		t.Fatalf("attempts %d, outcome %+v, enqueue calls %d: want 3 attempts (bad, refused, good)", rep.Messages[0].Attempts, out, q.Calls())
	}
}

// A unit that never answers: requests are repeated MaxRequests times.
func TestReceiverRequestsThenGivesUp(t *testing.T) {
	r, _ := NewReceiver(Config{Log: alarmtest.Discard})
	gw, quiet := alarmtest.NewPipe(alarmtest.Options{})
	go alarmtest.Quiet(quiet)
	out, err := r.Receive(context.Background(), gw, alarm.Call{ID: "x"}, &alarmtest.Queue{})
	gw.Hangup()
	if err != nil || out.Reason != alarm.ReasonNoMessage || out.Handshakes != 4 {
		t.Fatalf("outcome %+v, %v", out, err)
	}
}
