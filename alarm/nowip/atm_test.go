package nowip

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

const alarmData = "010200000042000101907101" // C D TT GGGGGGGG RRRR EEE LL P SS: personal trigger, bedroom, priority 1

func TestParseTolerant(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       Message
	}{
		{"as written", `<ATM><ver>1</ver><type>1</type><data>` + alarmData + `</data><time>20261207120000</time><mac>0a1b</mac></ATM>`,
			Message{"1", "1", alarmData, "20261207120000", "0a1b"}},
		{"declaration, case, spaces, unknown element, version", "<?xml version=\"1.0\"?>\n<atm>\n <Version> 2 </Version>\n <TYPE>a</TYPE>\n <Data>" + alarmData + "</Data><extra><x>1</x></extra>\n</atm>\n",
			Message{"2", "A", alarmData, "", ""}},
		{"heartbeat identity only", `<ATM><type>0</type><data>000000420001</data></ATM>`, Message{"", "0", "000000420001", "", ""}},
	} {
		m, err := Parse([]byte(tc.body))
		if err != nil || m != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.name, m, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, body := range []string{
		``, `hello`, `<ATM>`, `<mrq><type>1</type></mrq>`, `<ATM><type>1</type></ATM><ATM><type>1</type></ATM>`,
		`<ATM><data>123</data></ATM>`, `<ATM><type>11</type></ATM>`, `<ATM><type>Z</type></ATM>`,
		`<ATM><type>1</type><data>12x4</data></ATM>`, `<ATM><type>1</type><type>0</type></ATM>`,
		`text<ATM><type>1</type></ATM>`, `<ATM><type>1</type><time>` + strings.Repeat("9", 50) + `</time></ATM>`,
		`<ATM><type>1</type><data>` + strings.Repeat("1", 65) + `</data></ATM>`, strings.Repeat(" ", MaxBody+1),
	} {
		if m, err := Parse([]byte(body)); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %+v %v, want ErrFormat", body, m, err)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	m := Message{Version: "1", Type: "2", Data: "20025", Time: "2026-12-07T12:00:00Z", MAC: "<&>"}
	b := m.Marshal()
	if want := `<ATM><ver>1</ver><type>2</type><data>20025</data><time>2026-12-07T12:00:00Z</time><mac>&lt;&amp;&gt;</mac></ATM>`; string(b) != want {
		t.Fatalf("Marshal = %s, want %s", b, want)
	}
	if back, err := Parse(b); err != nil || back != m {
		t.Fatalf("Parse(Marshal) = %+v %v", back, err)
	}
}

func TestAckKeepsTheUnitsTimeLayout(t *testing.T) {
	now := time.Date(2026, 12, 7, 13, 4, 5, 0, time.UTC)
	for in, want := range map[string]string{"": "20261207130405", "20260101000000": "20261207130405",
		"2026-01-01T00:00:00+01:00": "2026-12-07T13:04:05Z", "1767225600": "1796648645", "yesterday": "20261207130405"} {
		a := Ack(Message{Type: "1", Data: alarmData, Time: in}, now)
		if a.Type != TypeAck || a.Data != alarmData || a.Version != "1" || a.Time != want {
			t.Errorf("Ack of time %q = %+v, want time %s", in, a, want)
		}
	}
}

type queue struct {
	got []alarm.Event
	err error
}

func (q *queue) Enqueue(_ context.Context, ev alarm.Event) error {
	if q.err != nil {
		return q.err
	}
	q.got = append(q.got, ev)
	return nil
}

func TestHandleAlarmQueuedThenAcknowledged(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 1, 0, time.UTC)
	q := &queue{}
	h := &Handler{Queue: q, Now: func() time.Time { return now }}
	call := alarm.Call{ID: "nowip:unit42", Domain: "local", Caller: "unit42", Called: "nowip"}
	body := []byte(`<ATM><ver>1</ver><type>1</type><data>` + alarmData + `</data><time>20261207120000</time><mac>ff</mac></ATM>`)
	r := h.Handle(context.Background(), body, call)
	if r.Code != 200 || len(q.got) != 1 || r.Event == nil {
		t.Fatalf("Handle = %+v, queued %d", r, len(q.got))
	}
	ev := q.got[0]
	if ev.Protocol != Proto || ev.ControllerID != "00000042" || ev.DeviceID != "0001" || ev.StatusCode != "0019" ||
		ev.Location != "07" || ev.Priority != 1 || ev.BS8521 == nil || ev.BS8521.Event != "019" || ev.Raw != string(body) {
		t.Fatalf("event %+v", ev)
	}
	if string(r.Ack) != `<ATM><ver>1</ver><type>A</type><data>`+alarmData+`</data><time>20261207120001</time></ATM>` {
		t.Fatalf("ack %s", r.Ack)
	}
	// The same <ATM> again (the unit missed the acknowledgement): the same event id.
	if r2 := h.Handle(context.Background(), body, call); r2.Code != 200 || q.got[1].ID != ev.ID {
		t.Fatalf("repeat: %+v, ids %s %s", r2, q.got[1].ID, ev.ID)
	}
	// With the checksum digits: checked.
	if r := h.Handle(context.Background(), []byte(`<ATM><type>1</type><data>`+alarmData+`00</data></ATM>`), call); r.Code != 400 || len(q.got) != 2 {
		t.Fatalf("bad checksum: %+v", r)
	}
}

func TestHandleRefusesWithoutAcknowledging(t *testing.T) {
	q := &queue{err: errors.New("disk full")}
	h := &Handler{Queue: q}
	call := alarm.Call{Domain: "local", Caller: "u"}
	for body, want := range map[string]int{
		`<ATM><type>1</type><data>` + alarmData + `</data></ATM>`: 503,
		`<ATM><type>1</type><data>0102</data></ATM>`:              400,
		`<mrq/>`: 400,
		`<ATM><type>2</type><data>20025</data></ATM>`: 403,
	} {
		if r := h.Handle(context.Background(), []byte(body), call); r.Code != want || r.Ack != nil {
			t.Errorf("%s: %+v, want %d and no ack", body, r, want)
		}
	}
	h.Refused = func(error) int { return 403 }
	if r := h.Handle(context.Background(), []byte(`<ATM><type>1</type><data>`+alarmData+`</data></ATM>`), call); r.Code != 403 {
		t.Fatalf("Refused not used: %+v", r)
	}
}

func TestHandleHeartbeat(t *testing.T) {
	var beats []alarm.Event
	h := &Handler{Queue: &queue{err: errors.New("a heartbeat is no event")},
		OnHeartbeat: func(_ context.Context, ev alarm.Event) error { beats = append(beats, ev); return nil }}
	call := alarm.Call{Domain: "local", Caller: "u"}
	for _, data := range []string{"000000420001", alarmData} {
		r := h.Handle(context.Background(), []byte(`<ATM><ver>1</ver><type>0</type><data>`+data+`</data></ATM>`), call)
		if r.Code != 200 || !strings.Contains(string(r.Ack), "<type>A</type><data>"+data+"</data>") {
			t.Fatalf("heartbeat %s: %+v %s", data, r, r.Ack)
		}
		if ev := beats[len(beats)-1]; ev.ControllerID != "00000042" || ev.DeviceID != "0001" || ev.Protocol != Proto {
			t.Fatalf("heartbeat event %+v", ev)
		}
	}
}

// With a verifier set, a message it refuses is neither queued nor
// acknowledged; without one nothing is checked (see the package doc).
func TestHandleVerifyMACSeam(t *testing.T) {
	q := &queue{}
	h := &Handler{Queue: q, VerifyMAC: func(m Message) error {
		if m.MAC != "good" {
			return errors.New("mac mismatch")
		}
		return nil
	}}
	call := alarm.Call{Domain: "local", Caller: "u"}
	body := func(mac string) []byte {
		return []byte(`<ATM><type>1</type><data>` + alarmData + `</data><time>1</time><mac>` + mac + `</mac></ATM>`)
	}
	if r := h.Handle(context.Background(), body("bad"), call); r.Code != 403 || r.Ack != nil || len(q.got) != 0 {
		t.Fatalf("refused mac: %+v, %d queued", r, len(q.got))
	}
	if r := h.Handle(context.Background(), body("good"), call); r.Code != 200 || len(q.got) != 1 {
		t.Fatalf("accepted mac: %+v, %d queued", r, len(q.got))
	}
}
