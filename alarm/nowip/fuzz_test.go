package nowip

import (
	"context"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
)

// FuzzParse: no body crashes Parse or Handle, and what Parse accepts
// survives Marshal and Parse again unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<ATM><ver>1</ver><type>1</type><data>` + alarmData + `</data><time>20261207120000</time><mac>ff</mac></ATM>`))
	f.Add([]byte(`<atm><TYPE>0</TYPE><data>000000420001</data></atm>`))
	f.Add([]byte(`<ATM><type>2</type><data>20025</data></ATM>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := &Handler{Queue: &queue{}}
		_ = h.Handle(context.Background(), body, alarm.Call{Domain: "d", Caller: "u"})
		m, err := Parse(body)
		if err != nil {
			return
		}
		back, err := Parse(m.Marshal())
		if err != nil || back != m {
			t.Fatalf("%q: Parse(Marshal(%+v)) = %+v %v", body, m, back, err)
		}
	})
}
