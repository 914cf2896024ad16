package api

import (
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/engine"
)

// TestSRTPSettingReachesTheEngine: the srtp extension of devices and trunks
// is one of off, optional, mandatory; what REST stores is what the engine's
// directory reads, and anything else is refused naming the field.
func TestSRTPSettingReachesTheEngine(t *testing.T) {
	e := newEnv(t)
	e.must(200, "PUT", "/provisioning/device/dom.example", obj2("deviceId", "2001", "authType", "deviceid", "srtp", "mandatory"))
	dev, err := engine.StoreDirectory{DB: e.db}.Device("dom.example", "2001")
	if err != nil || dev.SRTP != engine.SRTPMandatory {
		t.Fatalf("engine reads device %+v (%v), want srtp mandatory", dev, err)
	}
	r := e.must(400, "PUT", "/provisioning/device/dom.example", obj2("deviceId", "2002", "authType", "deviceid", "srtp", "sometimes"))
	if !strings.Contains(string(r.raw), "srtp") {
		t.Fatalf("refusal does not name srtp: %s", r.raw)
	}
	trunk := with(trunkBase(), "srtp", "optional")
	e.must(200, "PUT", "/provisioning/trunk/dom.example/up", trunk)
	ts, err := engine.StoreDirectory{DB: e.db}.Trunks("dom.example")
	if err != nil || len(ts) != 1 || ts[0].SRTP != engine.SRTPOptional {
		t.Fatalf("engine reads trunks %+v (%v), want srtp optional", ts, err)
	}
	trunk["srtp"] = "always"
	if r := e.must(400, "PUT", "/provisioning/trunk/dom.example/up", trunk); !strings.Contains(string(r.raw), "srtp") {
		t.Fatalf("refusal does not name srtp: %s", r.raw)
	}
}
