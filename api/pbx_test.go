package api

import (
	"encoding/json"
	"testing"
)

// TestPBXUsersAndGroups: users and groups are stored when the engine can
// run them and refused, naming the field, when not: a user needs its
// device, an extension number has one owner, a group's members are users,
// a mobileNumber needs a trunk that takes it and mobileFollow 1 needs a
// mobileNumber; queueing (ringExclusive 1) is stored; both appear in
// /openapi.json as gateway extensions.
func TestPBXUsersAndGroups(t *testing.T) {
	e := newEnv(t)
	e.must(200, "POST", "/provisioning/device/d", obj2("deviceId", "warden1", "authType", "credentials", "password", "secret-secret-1"))
	e.refused("POST", "/provisioning/user/d", obj2("id", "u1", "user", "nobody", "extensionNumber", "201"),
		"user: no device \"nobody\" in domain d (provision it first)")
	e.must(200, "POST", "/provisioning/user/d", obj2("id", "u1", "user", "warden1", "extensionNumber", "201", "displayName", "Warden 1"))
	if got := e.must(200, "GET", "/provisioning/user/d/u1", nil).body["user"].(map[string]any); got["extensionNumber"] != "201" || got["user"] != "warden1" {
		t.Fatalf("user read back: %v", got)
	}
	e.refused("POST", "/provisioning/user/d", obj2("id", "u2", "user", "warden1", "extensionNumber", "201"),
		"extensionNumber: 201 is already the extension of user u1")
	e.refused("POST", "/provisioning/user/d", obj2("id", "u2", "user", "warden1", "extensionNumber", "20a"),
		"extensionNumber: must match ^[0-9*#]{1,16}$")
	mobile := obj2("id", "u2", "user", "warden1", "extensionNumber", "202", "mobileNumber", "07700900123")
	e.refused("POST", "/provisioning/user/d", mobile,
		"mobileNumber: no trunk of domain d takes 07700900123 (destinationMatch): provision the trunk first")
	e.refused("POST", "/provisioning/user/d", with(mobile, "mobileNumber", "07700-900"), "mobileNumber: must match ^\\+?[0-9]{3,20}$")
	e.refused("POST", "/provisioning/user/d", with(mobile, "mobileNumber", nil, "mobileFollow", 1), "mobileFollow: 1 needs a mobileNumber to follow to")
	e.must(200, "POST", "/provisioning/trunk/d", with(trunkBase(), "trunkId", "mobiles", "destinationMatch", "^07"))
	e.must(200, "POST", "/provisioning/user/d", with(mobile, "mobileFollow", 1, "ringSecs", 15))
	e.must(200, "DELETE", "/provisioning/user/d/u2", nil)

	group := obj2("id", "g1", "groupName", "wardens", "extensionNumber", "600", "ringStrategy", "huntLongestIdle", "ringSecs", 15, "ringAttempts", 2,
		"members", []any{obj2("userId", "u1", "ringOrder", 1)})
	e.refused("POST", "/provisioning/group/d", with(group, "extensionNumber", "201"), "extensionNumber: 201 is already the extension of user u1")
	e.refused("POST", "/provisioning/group/d", with(group, "members", []any{obj2("userId", "u9")}), "members[0].userId: no user \"u9\" in domain d")
	e.refused("POST", "/provisioning/group/d", with(group, "ringStrategy", "random"), "ringStrategy: must be one of all, huntLongestIdle")
	e.refused("POST", "/provisioning/group/d", with(group, "ringExclusive", 2), "ringExclusive: must be <= 1")
	e.refused("POST", "/provisioning/group/d", with(group, "callerNameFormat", "{nope}"), "callerNameFormat: {nope} is not {displayName}, {srcPhoneNumber} or {dgrpName}")
	e.must(200, "POST", "/provisioning/group/d", with(group, "ringExclusive", 1, "callerNameFormat", "{dgrpName}: {srcPhoneNumber}"))
	e.loadsAtRuntime() // the engine's Extension validates what REST stored
	e.refused("PATCH", "/provisioning/group/d/g1", `[{"op":"replace","path":"/extensionNumber","value":"201"}]`,
		"extensionNumber: 201 is already the extension of user u1")
	e.must(200, "PATCH", "/provisioning/group/d/g1", `[{"op":"replace","path":"/extensionNumber","value":"601"}]`)
	e.refused("DELETE", "/provisioning/user/d/u1", nil, "userId: user u1 is a member of group g1: remove it from the group first")
	e.must(200, "DELETE", "/provisioning/group/d/g1", nil)
	e.must(200, "DELETE", "/provisioning/user/d/u1", nil)
	e.must(404, "DELETE", "/provisioning/user/d/u1", nil)

	r := e.do("GET", "/openapi.json", nil)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if r.status != 200 || json.Unmarshal(r.raw, &doc) != nil {
		t.Fatalf("/openapi.json: %d", r.status)
	}
	for _, p := range []string{"/provisioning/user/{domain}", "/provisioning/group/{domain}/{groupId}"} {
		ops := doc.Paths[p]
		if len(ops) == 0 {
			t.Fatalf("/openapi.json has no %s", p)
		}
		for m, op := range ops {
			var o map[string]any
			if m == "options" || json.Unmarshal(op, &o) != nil {
				continue // CORS preflight, parameters
			}
			if _, ok := o["x-edgebridge-extension"]; !ok {
				t.Fatalf("%s %s is not marked x-edgebridge-extension", m, p)
			}
		}
	}
}

// TestCallLimitsAPI: the limits the engine enforces are stored by
// category; the categories it does not enforce are refused.
func TestCallLimitsAPI(t *testing.T) {
	e := newEnv(t)
	e.must(200, "POST", "/provisioning/limit/d", obj2("category", "voice_call_session", "quantity", 4))
	e.must(200, "PUT", "/provisioning/limit/d/call_rate_per_source", obj2("category", "call_rate_per_source", "quantity", 10))
	if got := e.must(200, "GET", "/provisioning/limit/d/voice_call_session", nil).body["limit"].(map[string]any); got["quantity"] != 4.0 {
		t.Fatalf("limit read back: %v", got)
	}
	e.refused("POST", "/provisioning/limit/d", obj2("category", "api_limit", "quantity", 4),
		"category: api_limit is not enforced by the gateway (it limits calls: voice_call_session, device_call_session, call_rate_per_source)")
	e.refused("POST", "/provisioning/limit/d", obj2("category", "calls", "quantity", 4),
		`category: "calls" is not voice_call_session, device_call_session or call_rate_per_source`)
	e.refused("POST", "/provisioning/limit/d", obj2("category", "voice_call_session", "quantity", -1), "quantity: must be >= 0")
}
