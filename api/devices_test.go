package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

func TestDeviceCredentialsPasswordOnce(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "PUT", "/provisioning/device/dom.example", obj2("deviceId", "1001", "authType", "credentials"))
	pw := r.str("password")
	if len(pw) < 16 {
		t.Fatalf("no generated password: %s", r.raw)
	}
	g := e.must(200, "GET", "/provisioning/device/dom.example/1001", nil)
	if _, leaked := g.body["password"]; leaked {
		t.Fatalf("GET returned the password: %s", g.raw)
	}
	if g.str("ha1") != HA1("1001", "dom.example", pw) {
		t.Fatalf("ha1 %s is not MD5(deviceId:domain:password)", g.str("ha1"))
	}
	if g.body["heartbeatStatus"] != "unknown" || g.body["heartbeatExpiration"] != 0.0 {
		t.Fatalf("heartbeat fields missing: %s", g.raw)
	}
	// Modifying the device keeps its credentials and returns no password.
	r = e.must(200, "PUT", "/provisioning/device/dom.example", obj2("deviceId", "1001", "authType", "credentials", "description", "hall"))
	if _, again := r.body["password"]; again {
		t.Fatalf("password returned twice: %s", r.raw)
	}
	g2 := e.must(200, "GET", "/provisioning/device/dom.example/1001", nil)
	if g2.str("ha1") != g.str("ha1") || g2.str("description") != "hall" {
		t.Fatalf("modify lost credentials: %s", g2.raw)
	}
	// A given ha1 is used as is, and no password is generated.
	ha1 := HA1("1002", "dom.example", "secret")
	r = e.must(200, "PUT", "/provisioning/device/dom.example", obj2("deviceId", "1002", "authType", "credentials", "ha1", strings.ToUpper(ha1)))
	if _, gen := r.body["password"]; gen {
		t.Fatalf("password generated although ha1 was given")
	}
	if got := e.must(200, "GET", "/provisioning/device/dom.example/1002", nil).str("ha1"); got != ha1 {
		t.Fatalf("ha1 %s want %s", got, ha1)
	}
	// Extension: an installer-chosen password sets the SIP credentials.
	r = e.must(200, "PUT", "/provisioning/device/dom.example", obj2("deviceId", "1003", "authType", "credentials", "password", "chosen-pw"))
	if _, gen := r.body["password"]; gen {
		t.Fatalf("password generated although one was given: %s", r.raw)
	}
	if got := e.must(200, "GET", "/provisioning/device/dom.example/1003", nil).str("ha1"); got != HA1("1003", "dom.example", "chosen-pw") {
		t.Fatalf("ha1 of the chosen password: %s", got)
	}
	// deviceid: a whitelist entry keeps no secret.
	e.must(200, "PUT", "/provisioning/device/dom.example", obj2("deviceId", "1001", "authType", "deviceid", "ha1", ha1))
	g3 := e.must(200, "GET", "/provisioning/device/dom.example/1001", nil)
	if _, ok := g3.body["ha1"]; ok {
		t.Fatalf("deviceid device kept an ha1: %s", g3.raw)
	}
	b, _ := e.db.Get(store.Coll{Domain: "dom.example", Resource: "device"}, "1001")
	if strings.Contains(string(b), "password") {
		t.Fatalf("deviceid device kept a password in the store: %s", b)
	}
}

func TestDeviceHeartbeatIsServerOwned(t *testing.T) {
	e := newEnv(t)
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "a", "authType", "deviceid"))
	// The alarm side writes heartbeat state straight into the stored document.
	c := store.Coll{Domain: "d", Resource: "device"}
	b, _ := e.db.Get(c, "a")
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["heartbeatStatus"], m["heartbeatExpiration"] = "online", 1234
	b, _ = json.Marshal(m)
	_ = e.db.Put(c, "a", b)
	// A client cannot overwrite it, and a modify keeps it.
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "a", "authType", "deviceid", "heartbeatStatus", "offline", "heartbeatExpiration", 1))
	g := e.must(200, "GET", "/provisioning/device/d/a", nil)
	if g.body["heartbeatStatus"] != "online" || g.body["heartbeatExpiration"] != 1234.0 {
		t.Fatalf("heartbeat state overwritten by a client: %s", g.raw)
	}
}

func TestDeviceListFilterPagination(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 130; i++ {
		e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", fmt.Sprintf("site1:%03d", i), "authType", "deviceid"))
	}
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "site2:1", "authType", "deviceid"))
	r := e.must(200, "GET", "/provisioning/device/d?filter=site1:", nil)
	if n := len(r.body["devices"].([]any)); n != 100 || r.str("nextToken") == "" {
		t.Fatalf("first page %d devices, token %q", n, r.str("nextToken"))
	}
	r2 := e.must(200, "GET", "/provisioning/device/d?filter=site1:&nextToken="+r.str("nextToken"), nil)
	devs := r2.body["devices"].([]any)
	if len(devs) != 30 || r2.str("nextToken") != "" {
		t.Fatalf("second page %d devices, token %q", len(devs), r2.str("nextToken"))
	}
	if devs[29].(map[string]any)["deviceId"] != "site1:129" {
		t.Fatalf("last %v", devs[29])
	}
	r3 := e.must(200, "GET", "/provisioning/device/d?filter=site1:12&limit=5", nil)
	if n := len(r3.body["devices"].([]any)); n != 5 || r3.str("nextToken") == "" {
		t.Fatalf("limit 5: %d", n)
	}
	// Device list in another domain is empty, never null.
	r4 := e.must(200, "GET", "/provisioning/device/other", nil)
	if string(r4.raw) != `{"devices":[],"success":true}`+"\n" {
		t.Fatalf("empty list: %s", r4.raw)
	}
}

func TestDeviceDeleteAll(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", fmt.Sprint(i), "authType", "deviceid"))
	}
	e.must(200, "PUT", "/provisioning/device/keep", obj2("deviceId", "k", "authType", "deviceid"))
	for _, body := range []any{nil, obj2(), obj2("confirmDeleteAll", false)} {
		r := e.must(200, "DELETE", "/provisioning/device/d", body)
		if r.body["count"] != 3.0 || r.body["deleted"] != false || !strings.Contains(r.str("message"), "would delete 3") {
			t.Fatalf("simulation: %s", r.raw)
		}
	}
	if n, _ := e.db.Count(store.Coll{Domain: "d", Resource: "device"}, ""); n != 3 {
		t.Fatalf("simulated delete removed devices: %d left", n)
	}
	e.refused("DELETE", "/provisioning/device/d", obj2("confirmDeleteAll", "yes"), "confirmDeleteAll: must be a boolean (true or false)")
	r := e.must(200, "DELETE", "/provisioning/device/d", obj2("confirmDeleteAll", true))
	if r.body["count"] != 3.0 || r.body["deleted"] != true {
		t.Fatalf("delete all: %s", r.raw)
	}
	if n, _ := e.db.Count(store.Coll{Domain: "d", Resource: "device"}, ""); n != 0 {
		t.Fatalf("%d left", n)
	}
	e.must(200, "GET", "/provisioning/device/keep/k", nil)
	e.must(200, "DELETE", "/provisioning/device/keep/k", nil)
	e.must(404, "GET", "/provisioning/device/keep/k", nil)
	e.must(404, "DELETE", "/provisioning/device/keep/k", nil)
}

func TestDevicePatch(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "p1", "authType", "credentials", "description", "x"))
	pw := r.str("password")
	patch := func(ops string) resp {
		return e.do("PATCH", "/provisioning/device/d/p1", ops, "application/json-patch+json")
	}
	// All six operations in one patch.
	ok := patch(`[
		{"op":"add","path":"/serviceData","value":{"alarmBridge":{"emergencyDestination":"sip:arc@example.com"}}},
		{"op":"replace","path":"/description","value":"lounge"},
		{"op":"copy","from":"/description","path":"/deviceCLI"},
		{"op":"move","from":"/deviceCLI","path":"/macAddress"},
		{"op":"test","path":"/macAddress","value":"lounge"},
		{"op":"remove","path":"/macAddress"}]`)
	if ok.status != 200 {
		t.Fatalf("patch: %d %s", ok.status, ok.raw)
	}
	g := e.must(200, "GET", "/provisioning/device/d/p1", nil)
	if g.str("description") != "lounge" || g.body["serviceData"].(map[string]any)["alarmBridge"].(map[string]any)["emergencyDestination"] != "sip:arc@example.com" {
		t.Fatalf("after patch: %s", g.raw)
	}
	if _, ok := g.body["macAddress"]; ok {
		t.Fatalf("remove did not remove: %s", g.raw)
	}
	// The stored secret is still there and still not visible.
	b, _ := e.db.Get(store.Coll{Domain: "d", Resource: "device"}, "p1")
	if !strings.Contains(string(b), pw) {
		t.Fatalf("patch dropped the stored password")
	}
	before := e.dump()
	for _, c := range []struct{ ops, reason string }{
		// Atomic: the first op is fine, the second fails: nothing is applied.
		{`[{"op":"replace","path":"/description","value":"zz"},{"op":"test","path":"/description","value":"nope"}]`, "patch: testing value /description failed: test failed"},
		// A test op cannot probe the hidden password.
		{`[{"op":"test","path":"/password","value":"` + pw + `"}]`, "patch: testing value /password failed: test failed"},
		// The result is validated like a full write.
		{`[{"op":"replace","path":"/authType","value":"x"}]`, "authType: must be one of credentials, deviceid, userid"},
		{`[{"op":"remove","path":"/authType"}]`, "authType: required"},
		{`[{"op":"replace","path":"/deviceId","value":"p2"}]`, "deviceId: cannot be changed by a patch"},
		{`[{"op":"add","path":"/description","value":"` + stringsRepeat("d", 201) + `"}]`, "description: must be at most 200 characters"},
		{`[{"op":"jump","path":"/x"}]`, "[0].op: must be one of add, remove, replace, copy, move, test"},
		{`[{"op":"add"}]`, "[0].path: required"},
		{`{"op":"add"}`, "body: must be a JSON Patch: an array of operations (RFC 6902)"},
		{`[{"op":"remove","path":"/nothere"}]`, "patch: error in remove for path: '/nothere': unable to remove nonexistent key: nothere: missing value"},
	} {
		r := patch(c.ops)
		if r.status != 400 || r.str("reason") != c.reason {
			t.Errorf("%s: %d %q, want 400 %q", c.ops, r.status, r.str("reason"), c.reason)
		}
	}
	if after := e.dump(); after != before {
		t.Fatalf("a refused patch changed the store")
	}
	// Switching to credentials without ha1 through a patch generates a password.
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "p3", "authType", "deviceid"))
	r = e.must(200, "PATCH", "/provisioning/device/d/p3", `[{"op":"replace","path":"/authType","value":"credentials"}]`)
	if len(r.str("password")) < 16 {
		t.Fatalf("patch to credentials: %s", r.raw)
	}
}

func TestGrandstreamConfig(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "gw1", "authType", "credentials", "deviceType", "alarmbridgeConnect", "macAddress", "00:0B:82:12:34:56", "description", "Block <A>"))
	pw := r.str("password")
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "gw2", "authType", "deviceid", "macAddress", "00:0b:82:00:00:01"))
	dk := e.must(200, "POST", "/provisioning/apiKey/d", obj2("key", "")).str("key")
	res := e.doKey("", "GET", "/provisioning/grandstream/d/000b82123456?k="+dk, nil)
	if res.status != 200 || res.hdr.Get("Content-Type") != "application/xml" {
		t.Fatalf("config: %d %s", res.status, res.raw)
	}
	x := string(res.raw)
	for _, want := range []string{"<mac>000b82123456</mac>", "<P47>192.0.2.1:5060</P47>", "<P35>gw1</P35>", "<P34>" + pw + "</P34>", "<P3>Block &lt;A&gt;</P3>"} {
		if !strings.Contains(x, want) {
			t.Errorf("config lacks %s:\n%s", want, x)
		}
	}
	g := e.must(200, "GET", "/provisioning/device/d/gw1", nil)
	if lc, _ := g.body["lastConfigured"].(float64); lc < 1.7e12 {
		t.Fatalf("lastConfigured not set: %s", g.raw)
	}
	// Separators and the cfgMAC.xml form are accepted; unknown MACs are 404.
	if r := e.doKey("", "GET", "/provisioning/grandstream/d/cfg000b82000001.xml?k="+dk, nil); r.status != 200 || strings.Contains(string(r.raw), "<P34>") {
		t.Fatalf("cfg form: %d %s", r.status, r.raw)
	}
	if r := e.doKey("", "GET", "/provisioning/grandstream/d/000b82ffffff?k="+dk, nil); r.status != 404 {
		t.Fatalf("unknown MAC: %d", r.status)
	}
	if r := e.doKey("", "GET", "/provisioning/grandstream/d/zz?k="+dk, nil); r.status != 400 {
		t.Fatalf("bad MAC: %d", r.status)
	}
	if r := e.doKey("", "GET", "/provisioning/grandstream/d/000b82123456?k=wrong-key-000000000", nil); r.status != 401 {
		t.Fatalf("wrong k: %d", r.status)
	}
	if r := e.doKey("", "GET", "/provisioning/grandstream/other/000b82123456?k="+dk, nil); r.status != 403 {
		t.Fatalf("k of another domain: %d", r.status)
	}
}

// The SIP server of an ATA's configuration: --advertise (its port, else
// SIP's), else the SIP listen host when it is one address, else the local
// address of the interface the download came in on.
func TestGrandstreamAdvertisedAddress(t *testing.T) {
	for _, c := range []struct {
		advertise, sip, want string
	}{
		{"", "0.0.0.0:5062", "127.0.0.1:5062"},
		{"", "[::]:5062", "127.0.0.1:5062"},
		{"", "192.0.2.9:5070", "192.0.2.9:5070"},
		{"gw.example.net", "0.0.0.0:5062", "gw.example.net:5062"},
		{"198.51.100.4:6000", "0.0.0.0:5062", "198.51.100.4:6000"},
		{"2001:db8::1", "[::]:5060", "[2001:db8::1]:5060"},
	} {
		e := newEnv(t, func(cfg *Config) {
			cfg.SIPAdvertise = c.advertise
			cfg.SIPAddr = func() string { return c.sip }
		})
		e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "ata", "authType", "deviceid", "macAddress", "000b82000002"))
		x := string(e.must(200, "GET", "/provisioning/grandstream/d/000b82000002", nil).raw)
		if !strings.Contains(x, "<P47>"+c.want+"</P47>") {
			t.Errorf("advertise %q, sip %q: want P47 %s in\n%s", c.advertise, c.sip, c.want, x)
		}
	}
}
