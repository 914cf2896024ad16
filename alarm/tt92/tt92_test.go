package tt92

import (
	"context"
	"errors"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
)

const frameA = "D#1020461234567800000047" // checksum characters made up: they cannot be checked

func TestParse(t *testing.T) {
	f, err := Parse(frameA)
	if err != nil {
		t.Fatal(err)
	}
	if f.Identity != "461234567800" || f.Generic != "2" || f.CallCode != "0" || f.Check != "47" {
		t.Fatalf("%+v", f)
	}
	for _, bad := range []string{"", frameA[:23], "##" + frameA[2:], frameA[:10] + "E" + frameA[11:]} {
		if _, err := Parse(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("Parse(%q): %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(frameA)
	f.Add("D#")
	f.Fuzz(func(t *testing.T, s string) {
		fr, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatal(err)
			}
			return
		}
		if Header+fr.Type+fr.Reserved+fr.Generic+fr.CallCode+fr.Identity+fr.Padding+fr.Check != s {
			t.Fatalf("fields do not reassemble %q", s)
		}
	})
}

// A frame is acknowledged only after it was heard twice alike, then the
// unit is cleared down; for both variants.
func TestReceiverUnit(t *testing.T) {
	frameB := "D#1030461234567800000012"
	for _, tc := range []struct {
		v    Variant
		mode string
	}{{TT92, "dtmf"}, {TTnew, "dtmf"}, {TT92, "sdmf"}} {
		v := tc.v
		t.Run(v.Name+" "+tc.mode, func(t *testing.T) {
			r, err := NewReceiver(Config{Variant: v, Mode: tc.mode, Log: alarmtest.Discard})
			if err != nil {
				t.Fatal(err)
			}
			var rep UnitReport
			q := &alarmtest.Queue{}
			o := alarmtest.Options{AtoB: alarmtest.Impairments{G711: "alaw"}, BtoA: alarmtest.Impairments{G711: "alaw"}}
			out, err, uerr := alarmtest.RunCall(o, r, alarm.Call{ID: "c", Domain: "d"}, q, func(ctx context.Context, ch alarm.Channel) (err error) {
				rep, err = NewUnit(UnitConfig{Variant: v, Mode: tc.mode}).Send(ctx, ch, []string{frameA, frameB})
				return err
			})
			if err != nil || uerr != nil {
				t.Fatalf("receiver %v, unit %v", err, uerr)
			}
			if len(out.Events) != 2 || out.Events[0].Raw != frameA || out.Events[1].Raw != frameB || out.Events[0].ControllerID != "461234567800" {
				t.Fatalf("outcome %+v", out)
			}
			if rep.Attempts[0] != 2 || rep.Attempts[1] != 2 || !rep.Acked[0] || !rep.Acked[1] || !rep.Cleared || rep.Prompts != 1 {
				t.Fatalf("unit report %+v: want each frame sent twice, acknowledged, then cleared", rep)
			}
			if len(q.Events()) != 2 {
				t.Fatalf("queued %d", len(q.Events()))
			}
		})
	}
}
