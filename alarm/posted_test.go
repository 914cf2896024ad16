package alarm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPostedEventValidate(t *testing.T) {
	for _, c := range []struct {
		p     PostedEvent
		field string
	}{
		{PostedEvent{ControllerID: "C0FFEE", StatusCode: "1130"}, ""},
		{PostedEvent{StatusCode: "1130"}, "controllerId"},
		{PostedEvent{ControllerID: "C0FFEE"}, "statusCode"},
		{PostedEvent{ControllerID: "C0FFEE", StatusCode: "1130", Location: strings.Repeat("x", 65)}, "location"},
		{PostedEvent{ControllerID: "C0FFEE", StatusCode: "1130", DeviceID: "a|b\n"}, "deviceId"},
		{PostedEvent{ControllerID: "C0FFEE", StatusCode: "1130", Priority: 100}, "priority"},
	} {
		err := c.p.Validate()
		var fe *FieldError
		if c.field == "" && err != nil || c.field != "" && (!errors.As(err, &fe) || fe.Field != c.field) {
			t.Errorf("%+v: %v, want field %q", c.p, err, c.field)
		}
	}
	p := PostedEvent{ControllerID: "C0FFEE", StatusCode: "1130"}
	if a, b := p.Event("d", "1", time.Now()), p.Event("d", "2", time.Now()); a.ID == b.ID || a.Protocol != ProtoAPI {
		t.Fatalf("two posts share id %s (or protocol %s)", a.ID, a.Protocol)
	}
}

// Any body either is refused naming a field or makes an event whose fields
// are bounded printable text.
func FuzzPostedEvent(f *testing.F) {
	f.Add([]byte(`{"controllerId":"C0FFEE","statusCode":"1130","location":"kitchen","priority":1}`))
	f.Add([]byte(`{"controllerId":"","statusCode":"1"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p PostedEvent
		if json.Unmarshal(body, &p) != nil {
			return
		}
		if err := p.Validate(); err != nil {
			if _, ok := err.(*FieldError); !ok {
				t.Fatalf("not a FieldError: %v", err)
			}
			return
		}
		ev := p.Event("d", "n", time.Time{})
		if len(ev.Raw) > 4+3*65 || strings.ContainsAny(ev.Raw, "\r\n\x00") {
			t.Fatalf("raw %q", ev.Raw)
		}
	})
}
