package unitsim

import (
	"strings"
	"testing"
)

func TestNewParsesEachProtocolsEvent(t *testing.T) {
	for _, p := range []string{"contactid", "bs8521", "tt92", "ttnew"} {
		u, err := New(p, "dtmf", Defaults[p])
		if err != nil {
			t.Fatalf("%s default %q: %v", p, Defaults[p], err)
		}
		if u.Play == nil || u.From == "" || !strings.Contains(u.Describe, "message") && !strings.Contains(u.Describe, "frame") {
			t.Errorf("%s: unit %+v lacks its account", p, u)
		}
	}
	if u, _ := New("contactid", "dtmf", Defaults["contactid"]); u.From != "1234" {
		t.Errorf("contactid From = %q, want the account 1234", u.From)
	}
	if u, _ := New("bs8521", "dtmf", Defaults["bs8521"]); u.From != "12345678" {
		t.Errorf("bs8521 From = %q, want the controller 12345678", u.From)
	}
	for _, c := range []struct{ protocol, event, want string }{
		{"contactid", "1234,1,130", "5 fields"},
		{"bs8521", "1,2,3", "4 fields"},
		{"tt92", "D#12", "24-key frame"},
		{"nowip", "x", "want contactid, bs8521, tt92 or ttnew"},
	} {
		if _, err := New(c.protocol, "dtmf", c.event); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%s, %q) = %v, want an error naming %q", c.protocol, c.event, err, c.want)
		}
	}
}
