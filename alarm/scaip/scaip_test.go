package scaip

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// A fall alarm as an SS 91100 unit sends it (the tag set doc.go lists).
const fallAlarm = `<?xml version="1.0" encoding="UTF-8"?>
<mrq xmlns="http://www.hi.se/2012/XScaipXML"><ref>A17</ref><ver>01.00</ver><cha>0</cha><mty>ME</mty><cid>4612345678</cid><dty>0005</dty><did>2</did><dco>1</dco><crd>sip:4612345678@gw.local</crd><stc>0105</stc><pri>1</pri><lte>Bedroom</lte></mrq>`

func TestParseRequest(t *testing.T) {
	r, err := ParseRequest([]byte(fallAlarm))
	if err != nil {
		t.Fatal(err)
	}
	if r.Ref != "A17" || r.Cid != "4612345678" || r.Dty != "0005" || r.Stc != "0105" || r.Type() != TypeAlarm || r.Lte != "Bedroom" {
		t.Fatalf("%+v", r)
	}
	ev := EventFromRequest(r, []byte(fallAlarm), alarm.Call{ID: "c", Domain: "d"}, time.Unix(0, 0))
	if ev.ControllerID != "4612345678" || ev.DeviceID != "2" || ev.DeviceType != "0005" || ev.StatusCode != "0105" || ev.Priority != 1 || ev.Location != "Bedroom" || ev.CallerID != "sip:4612345678@gw.local" {
		t.Fatalf("event %+v", ev)
	}
	// The same ref from the same unit is the same event.
	if ev2 := EventFromRequest(r, nil, alarm.Call{ID: "other", Domain: "d"}, time.Now()); ev2.ID != ev.ID {
		t.Error("a resent request got a new event id")
	}
	// Without the namespace it parses too (units differ).
	if _, err := ParseRequest([]byte(`<mrq><ref>1</ref><cid>1</cid><dty>0003</dty></mrq>`)); err != nil {
		t.Errorf("no namespace: %v", err)
	}
}

// Each broken rule answers with the snu SS 91100 assigns to it.
func TestValidateSnu(t *testing.T) {
	for _, tc := range []struct {
		body  string
		field string
		snu   int
	}{
		{`<mrq><cid>1</cid><dty>0003</dty></mrq>`, "ref", SnuRefMissing},
		{`<mrq><ref>12345678901234567</ref><cid>1</cid><dty>0003</dty></mrq>`, "ref", SnuInvalidFormat},
		{`<mrq><ref>a-b</ref><cid>1</cid><dty>0003</dty></mrq>`, "ref", SnuInvalidFormat},
		{`<mrq><ref>1</ref><dty>0003</dty></mrq>`, "cid", SnuMandatoryMissing},
		{`<mrq><ref>1</ref><cid>12a</cid><dty>0003</dty></mrq>`, "cid", SnuInvalidFormat},
		{`<mrq><ref>1</ref><cid>1</cid></mrq>`, "dty", SnuMandatoryMissing},
		{`<mrq><ref>1</ref><cid>1</cid><dty>3</dty></mrq>`, "dty", SnuInvalidFormat},
		{`<mrq><ref>1</ref><cid>1</cid><dty>0003</dty><mty>XX</mty></mrq>`, "mty", SnuWrongContent},
		{`<mrq><ref>1</ref><cid>1</cid><dty>0003</dty><stc>12</stc></mrq>`, "stc", SnuInvalidFormat},
		{`<mrq><ref>1</ref><cid>1</cid><dty>0003</dty><pri>10</pri></mrq>`, "pri", SnuInvalidFormat},
		{`<mrq><ref>1</ref>`, "mrq", SnuInvalidFormat},
		{`<mrs><ref>1</ref></mrs>`, "mrq", SnuInvalidFormat},
		{strings.Repeat(" ", 9000), "body", SnuTooLong},
	} {
		r, err := ParseRequest([]byte(tc.body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || fe.Snu != tc.snu {
			t.Errorf("%.60s: %v, want field %s snu %d", tc.body, err, tc.field, tc.snu)
			continue
		}
		if a := Answer(r, err, 1, 0); a.Snu != tc.snu || a.Mre != nil {
			t.Errorf("%.60s: answer %+v", tc.body, a)
		}
	}
}

func TestEventToRequestRoundTrip(t *testing.T) {
	ev := alarm.Event{ID: "2c40aebc90d310a7ba114c61262ead31", Protocol: alarm.ProtoContactID, ControllerID: "1234", StatusCode: "1130",
		Priority: 3, Location: "Hall", Handling: alarm.HandlingRequestCallback,
		ContactID: &alarm.ContactIDFields{Account: "1234", Qualifier: "1", Code: "130", Group: "01", Zone: "015"}}
	r := RequestFromEvent(ev)
	body, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), "<?xml") || !strings.Contains(string(body), `xmlns="`+Namespace+`"`) {
		t.Errorf("body %s", body)
	}
	back, err := ParseRequest(body)
	if err != nil {
		t.Fatalf("own request does not validate: %v\n%s", err, body)
	}
	if back.Ref != "2c40aebc90d310a7" || back.Cid != "1234" || back.Dty != "0000" || back.Stc != "1130" || back.Pri != "3" || back.Cha != "1" || back.Lte != "Hall" {
		t.Errorf("round trip %+v", back)
	}
	// A Contact ID account with hex digits keeps its identity as a number.
	if r := RequestFromEvent(alarm.Event{ID: "x", ControllerID: "BCDE"}); r.Cid != "48350" || r.Validate() != nil {
		t.Errorf("hex account: cid %q", r.Cid)
	}
	if r := RequestFromEvent(alarm.Event{ID: "x", ControllerID: "0042"}); r.Cid != "0042" {
		t.Errorf("decimal account: cid %q", r.Cid)
	}
	// A supervision event goes as an update (IN) naming the change.
	sv := RequestFromEvent(alarm.Event{ID: "x1", Protocol: alarm.ProtoSupervision, ControllerID: "77", Supervision: &alarm.SupervisionFields{Kind: "heartbeat", State: "offline"}})
	if sv.Mty != TypeInfo || sv.Stt != "heartbeat offline" || sv.Validate() != nil {
		t.Errorf("supervision request %+v", sv)
	}
}

func TestResponse(t *testing.T) {
	r, _ := ParseRequest([]byte(fallAlarm))
	a := Answer(r, nil, 1, 60)
	body, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if back.Ref != "A17" || back.Snu != 0 || back.Mre == nil || *back.Mre != 1 || back.Hbi == nil || *back.Hbi != 60 {
		t.Fatalf("response %+v from %s", back, body)
	}
	if _, err := ParseResponse([]byte(`<mrs><ref>1</ref><snu>0</snu><hbi>2000</hbi></mrs>`)); err == nil || !strings.Contains(err.Error(), "hbi") {
		t.Errorf("hbi 2000: %v", err)
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(fallAlarm))
	f.Add([]byte(`<mrq><ref>1</ref><cid>1</cid><dty>0003</dty><mty>PI</mty></mrq>`))
	f.Add([]byte(`<mrq><ref>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRequest(b)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Snu == SnuOK {
				t.Fatalf("error %v is not a FieldError with a snu", err)
			}
			return
		}
		// A valid request survives our own encoding.
		body, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRequest(body)
		if err != nil || back.Ref != r.Ref || back.Cid != r.Cid || back.Dty != r.Dty {
			t.Fatalf("re-encoded %+v: %v", back, err)
		}
	})
}

type sliceQueue struct {
	evs  []alarm.Event
	fail error
}

func (q *sliceQueue) Enqueue(_ context.Context, ev alarm.Event) error {
	if q.fail != nil {
		return q.fail
	}
	q.evs = append(q.evs, ev)
	return nil
}

func TestHandler(t *testing.T) {
	q := &sliceQueue{}
	var beats []alarm.Event
	h := &Handler{Queue: q, Mre: 1, HeartbeatMinutes: 60, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnHeartbeat: func(_ context.Context, ev alarm.Event) error { beats = append(beats, ev); return nil }}
	call := alarm.Call{ID: "c1", Domain: "d"}
	resp, ev := h.Handle(context.Background(), []byte(fallAlarm), call)
	r, err := ParseResponse(resp)
	if err != nil || r.Snu != SnuOK || r.Mre == nil || *r.Mre != 1 || ev == nil || len(q.evs) != 1 {
		t.Fatalf("alarm: %s %v ev %v queued %d", resp, err, ev, len(q.evs))
	}
	// Heartbeat: recorded, not queued.
	resp, ev = h.Handle(context.Background(), []byte(`<mrq><ref>9</ref><mty>PI</mty><cid>4612345678</cid><dty>0005</dty></mrq>`), call)
	if r, _ := ParseResponse(resp); r.Snu != SnuOK || r.Hbi == nil || *r.Hbi != 60 || r.Mre != nil || ev != nil || len(beats) != 1 || len(q.evs) != 1 {
		t.Fatalf("heartbeat: %s, beats %d, queued %d", resp, len(beats), len(q.evs))
	}
	// Queue down: busy, so the unit resends; nothing reported queued.
	q.fail = errors.New("disk full")
	resp, ev = h.Handle(context.Background(), []byte(fallAlarm), call)
	if r, _ := ParseResponse(resp); r.Snu != SnuBusy || ev != nil {
		t.Fatalf("queue down: %s", resp)
	}
	// Bad request: its snu, and the ref echoed.
	resp, _ = h.Handle(context.Background(), []byte(`<mrq><ref>R5</ref><cid>1</cid></mrq>`), call)
	if r, _ := ParseResponse(resp); r.Snu != SnuMandatoryMissing || r.Ref != "R5" {
		t.Fatalf("bad request: %s", resp)
	}
}

// With CallbackMinutes (alarmHandling requestCallback), an accepted alarm
// is answered with cre, a heartbeat without it.
func TestHandlerCallbackMinutes(t *testing.T) {
	h := &Handler{Queue: &sliceQueue{}, CallbackMinutes: 5, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	resp, _ := h.Handle(context.Background(), []byte(fallAlarm), alarm.Call{ID: "c1", Domain: "d"})
	if r, err := ParseResponse(resp); err != nil || r.Snu != SnuOK || r.Cre == nil || *r.Cre != 5 {
		t.Fatalf("alarm: %s %v, want cre 5", resp, err)
	}
	resp, _ = h.Handle(context.Background(), []byte(`<mrq><ref>9</ref><mty>PI</mty><cid>4612345678</cid><dty>0005</dty></mrq>`), alarm.Call{ID: "c2"})
	if r, _ := ParseResponse(resp); r.Cre != nil {
		t.Fatalf("heartbeat answered with cre: %s", resp)
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(`<mrs xmlns="http://www.hi.se/2012/XScaipXML"><ref>A17</ref><snu>0</snu><mre>1</mre><hbi>60</hbi></mrs>`))
	f.Add([]byte(`<mrs><ref>1</ref><snu>4</snu></mrs>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResponse(b)
		if err != nil {
			return
		}
		if r.Ref == "" || (r.Hbi != nil && (*r.Hbi < 1 || *r.Hbi > 1440)) {
			t.Fatalf("accepted %+v", r)
		}
		body, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParseResponse(body); err != nil || back.Ref != r.Ref || back.Snu != r.Snu {
			t.Fatalf("re-encoded %+v: %v", back, err)
		}
	})
}
