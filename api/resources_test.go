package api

import (
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

func TestTrunks(t *testing.T) {
	e := newEnv(t)
	// Create with credentials: ha1 = MD5(userName:realm:password), password in the answer only.
	r := e.must(200, "POST", "/provisioning/trunk/d", with(trunkBase(), "userName", "gw", "realm", "sip.example.net", "password", "pw1"))
	id := r.str("id")
	if id == "" || r.str("password") != "pw1" {
		t.Fatalf("create: %s", r.raw)
	}
	g := e.must(200, "GET", "/provisioning/trunk/d/"+id, nil)
	tr := g.body["trunk"].(map[string]any)
	if tr["ha1"] != HA1("gw", "sip.example.net", "pw1") || tr["type"] != "trunk" {
		t.Fatalf("trunk: %s", g.raw)
	}
	if _, leak := tr["password"]; leak {
		t.Fatalf("GET shows the trunk password: %s", g.raw)
	}
	// Writing the GET document back (no password, ha1 present) is accepted and keeps the credentials.
	e.must(200, "PUT", "/provisioning/trunk/d/"+id, tr)
	// PUT /trunk/{domain} with {trunkId, serviceDestination}.
	e.must(200, "PUT", "/provisioning/trunk/d", obj2("trunkId", "named", "serviceDestination", trunkBase()))
	e.refused("PUT", "/provisioning/trunk/d", obj2("trunkId", "x"), "serviceDestination: required")
	e.refused("PUT", "/provisioning/trunk/d", obj2("serviceDestination", with(trunkBase(), "destinationMatch", "(")), "serviceDestination.destinationMatch: must be a valid regular expression: missing closing ): `(`")
	l := e.must(200, "GET", "/provisioning/trunk/d", nil)
	trunks := l.body["trunks"].([]any)
	if len(trunks) != 2 {
		t.Fatalf("list: %s", l.raw)
	}
	for _, x := range trunks {
		m := x.(map[string]any)
		if m["trunkId"] == nil || m["serviceDestination"] == nil {
			t.Fatalf("list item shape: %v", m)
		}
	}
	// Patch: regex rules hold after the patch too.
	e.refused("PATCH", "/provisioning/trunk/d/named", `[{"op":"add","path":"/blacklistPattern","value":"a**"}]`, "blacklistPattern: must be a valid regular expression: invalid nested repetition operator: `**`")
	p := e.must(200, "PATCH", "/provisioning/trunk/d/named", `[{"op":"add","path":"/userName","value":"u"},{"op":"add","path":"/realm","value":"r"},{"op":"add","path":"/password","value":"p"}]`)
	if _, leak := p.body["password"]; leak {
		t.Fatalf("patch with credentials answers the password: %s", p.raw)
	}
	// One source network as a plain string is stored in the list form the engine reads.
	e.must(200, "PUT", "/provisioning/trunk/d/single", with(trunkBase(), "sourceNetworks", "192.0.2.0/24"))
	sn := e.must(200, "GET", "/provisioning/trunk/d/single", nil).body["trunk"].(map[string]any)["sourceNetworks"]
	if l, ok := sn.([]any); !ok || len(l) != 1 || l[0] != "192.0.2.0/24" {
		t.Fatalf("sourceNetworks stored as %v", sn)
	}
	// Integers are stored in plain form, whatever JSON spelling they came in.
	e.must(200, "PUT", "/provisioning/trunk/d/ints", `{"destinationTarget":"x","destinationTransport":"udp","destinationMatch":"^1","registerInterval":6e2,"concurrency":4.0}`)
	raw, _ := e.db.Get(store.Coll{Domain: "d", Resource: "trunk"}, "ints")
	if !strings.Contains(string(raw), `"registerInterval":600`) || !strings.Contains(string(raw), `"concurrency":4,`) {
		t.Fatalf("integers not normalised: %s", raw)
	}
	e.must(200, "DELETE", "/provisioning/trunk/d/named", nil)
	e.must(404, "GET", "/provisioning/trunk/d/named", nil)
}

func TestProvisoryCopiesApart(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		res, one string
		body     map[string]any
	}{
		{"alarmbridge", "alarmbridge", obj2("protocol", "contactid", "protocolMode", "dtmf", "destinationMatch", ".*", "name", "w")},
		{"alarmeventmapper", "alarmeventmapper", with(mapperBase(), "name", "w")},
	} {
		base := "/provisioning/" + c.res + "/d"
		e.must(200, "PUT", base+"/x1", c.body)
		e.must(200, "PUT", base+"/x1?provisory=true", with(c.body, "name", "p"))
		w := e.must(200, "GET", base+"/x1", nil).body[c.one].(map[string]any)
		p := e.must(200, "GET", base+"/x1?provisory=true", nil).body[c.one].(map[string]any)
		if w["name"] != "w" || p["name"] != "p" {
			t.Fatalf("%s: working %v provisory %v", c.res, w["name"], p["name"])
		}
		lp := e.must(200, "GET", base+"?provisory=true", nil).body[c.res+"s"].([]any)
		if len(lp) != 1 || lp[0].(map[string]any)["name"] != "p" {
			t.Fatalf("%s provisory list: %v", c.res, lp)
		}
		e.must(200, "PATCH", base+"/x1?provisory=true", `[{"op":"replace","path":"/name","value":"p2"}]`)
		e.must(200, "DELETE", base+"/x1?provisory=true", nil)
		e.must(404, "GET", base+"/x1?provisory=true", nil)
		if got := e.must(200, "GET", base+"/x1", nil).body[c.one].(map[string]any)["name"]; got != "w" {
			t.Fatalf("%s: provisory write touched the working copy: %v", c.res, got)
		}
		// POST without an id creates one; with an id uses it.
		id := e.must(200, "POST", base, c.body).str("id")
		if len(id) != 32 {
			t.Fatalf("%s: generated id %q", c.res, id)
		}
		e.must(200, "GET", base+"/"+id, nil)
		if e.must(200, "POST", base, with(c.body, "id", "chosen")).str("id") != "chosen" {
			t.Fatalf("%s: chosen id not used", c.res)
		}
	}
}

func TestSettingsAndProfile(t *testing.T) {
	e := newEnv(t)
	g := e.must(200, "GET", "/provisioning/notificationsettings/d", nil)
	if string(g.raw) != `{"success":true}`+"\n" {
		t.Fatalf("empty settings: %s", g.raw)
	}
	e.must(200, "PUT", "/provisioning/notificationsettings/d", obj2("useHttpEvents", true, "alarmbridgeCallbackEndpoint", "https://arc.example.com/cb", "httpTimeout", 5000))
	g = e.must(200, "GET", "/provisioning/notificationsettings/d", nil)
	if g.body["useHttpEvents"] != true || g.str("alarmbridgeCallbackEndpoint") != "https://arc.example.com/cb" {
		t.Fatalf("settings: %s", g.raw)
	}
	if e.must(200, "GET", "/provisioning/siprecservice/d", nil).body["useHttpEvents"] != nil {
		t.Fatalf("siprec shares notification settings")
	}
	e.must(200, "POST", "/provisioning/currentuser/profile", obj2("firstName", "Ada", "termsAgreed", 1700000000, "company", "X"))
	e.must(200, "PATCH", "/provisioning/currentuser/profile", obj2("lastName", "Lovelace"))
	p := e.must(200, "GET", "/provisioning/currentuser/profile", nil).body["profile"].(map[string]any)
	if p["firstName"] != "Ada" || p["lastName"] != "Lovelace" || p["termsAgreed"] != 1700000000.0 {
		t.Fatalf("profile: %v", p)
	}
	e.must(200, "PUT", "/provisioning/currentuser/profile", obj2("firstName", "B"))
	p = e.must(200, "GET", "/provisioning/currentuser/profile", nil).body["profile"].(map[string]any)
	if p["firstName"] != "B" || p["lastName"] != nil || p["termsAgreed"] != 1700000000.0 {
		t.Fatalf("PUT should replace the editable fields and keep sign-up ones: %v", p)
	}
}

func TestControlRoutesWithoutEngine(t *testing.T) {
	e := newEnv(t)
	r := e.must(503, "POST", "/mediaservice/d/hangupcall", obj2("replyId", "x"))
	if !strings.Contains(r.str("reason"), "no SIP engine") {
		t.Fatalf("503 reason: %s", r.raw)
	}
	e.must(503, "POST", "/alarmbridge/d/hangupalarmcall", obj2("callId", "c"))
	e.must(503, "POST", "/alarmbridge/d/devicecommand", obj2("callId", "c", "command", "listen"))
	// Validation comes first: bad input is 400 even with nothing wired.
	e.refused("POST", "/alarmbridge/d/devicecommand", obj2("callId", "c", "command", "explode"), "command: must be one of clear, keepAlive, listen, speak, talk, sendTones, volume")
	e.refused("POST", "/alarmbridge/d/devicecommand", obj2("callId", "c", "command", "sendTones"), "tones: required when command is sendTones")
	e.refused("POST", "/alarmbridge/d/devicecommand", obj2("callId", "c", "command", "sendTones", "tones", "12X"), "tones: must match ^[0-9A-Da-d*#]{1,32}$")
	e.refused("POST", "/alarmbridge/d/hangupalarmcall", obj2(), "callId: required")
	e.refused("POST", "/mediaservice/d/placeivrcall", `[]`, "body: must be a JSON object")
	e.refused("POST", "/mediaservice/d/answerremotecall", obj2("codec", "G729"), "codec: must be one of PCMA, PCMU")
	e.refused("POST", "/mediaservice/d/placeremotecalljwt", obj2("telephoneEventPayloadType", 200), "telephoneEventPayloadType: must be <= 127")
	e.refused("POST", "/mediaservice/d/placeivrcall", obj2("callerPrivacy", "yes"), "callerPrivacy: must be a boolean (true or false)")
	// /metrics without a handler is 404.
	e.must(404, "GET", "/metrics", nil)
}

// fakeControl records what the API asked of the engine and alarm side.
type fakeControl struct {
	got []string
	err error
}

func (f *fakeControl) MediaCommand(_ contextT, domain, command string, body map[string]any) (map[string]any, error) {
	f.got = append(f.got, domain+"/"+command+"/"+body["replyId"].(string))
	return map[string]any{"echo": command}, f.err
}
func (f *fakeControl) HangupAlarmCall(_ contextT, domain string, req AlarmHangup) error {
	f.got = append(f.got, domain+"/hangup/"+req.CallID+"/"+map[bool]string{true: "clear", false: "noclear"}[req.Clear])
	return f.err
}
func (f *fakeControl) DeviceCommand(_ contextT, domain string, req DeviceCommand) error {
	f.got = append(f.got, domain+"/"+req.Command+"/"+req.Tones)
	return f.err
}

func TestControlRoutesWired(t *testing.T) {
	f := &fakeControl{}
	e := newEnv(t, func(c *Config) { c.Calls, c.Alarms = f, f })
	r := e.must(200, "POST", "/mediaservice/d/hangupcall", obj2("replyId", "r1"))
	if r.str("echo") != "hangupcall" {
		t.Fatalf("extra fields: %s", r.raw)
	}
	e.must(200, "POST", "/alarmbridge/d/hangupalarmcall", obj2("callId", "c1"))
	e.must(200, "POST", "/alarmbridge/d/hangupalarmcall", obj2("callId", "c2", "clear", false))
	e.must(200, "POST", "/alarmbridge/d/devicecommand", obj2("callId", "c1", "command", "sendTones", "tones", "1*#"))
	want := "d/hangupcall/r1 d/hangup/c1/clear d/hangup/c2/noclear d/sendTones/1*#"
	if got := strings.Join(f.got, " "); got != want {
		t.Fatalf("calls %q want %q", got, want)
	}
	f.err = wrapErr(ErrNoSuchCall)
	e.must(404, "POST", "/alarmbridge/d/hangupalarmcall", obj2("callId", "zz"))
	f.err = wrapErr(ErrBadState)
	e.must(409, "POST", "/mediaservice/d/hangupcall", obj2("replyId", "r1"))
}
