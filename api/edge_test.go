package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// The REST holes of an attacker holding one domain's key (or none).

// domainKey makes an API key for domain and returns it.
func (e *env) domainKey(domain string) string {
	e.t.Helper()
	return e.must(200, "POST", "/provisioning/apiKey/"+domain, obj2("key", "")).str("key")
}

// TestPatchNeverReturnsTrunkPassword: an empty patch (or any patch) does not
// echo the stored trunk password, to any key; nor does a device's generated
// password come back after the write that created it (the bulk import's
// passwords: TestBulkCredentialsPasswordsOnceToTheStarter).
func TestPatchNeverReturnsTrunkPassword(t *testing.T) {
	e := newEnv(t)
	e.must(200, "PUT", "/provisioning/trunk/d/t1", with(trunkBase(), "userName", "gw", "realm", "sip.example.net", "password", "secret-trunk-pw"))
	k := e.domainKey("d")
	for _, body := range []string{`[]`, `[{"op":"add","path":"/description","value":"x"}]`} {
		r := e.doKey(k, "PATCH", "/provisioning/trunk/d/t1", body)
		if r.status != 200 || strings.Contains(string(r.raw), "secret-trunk-pw") {
			t.Fatalf("PATCH %s: %d %s", body, r.status, r.raw)
		}
	}
	pw := e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "c9", "authType", "credentials")).str("password")
	if len(pw) < 16 {
		t.Fatal("no generated password at creation")
	}
	for _, r := range []resp{
		e.doKey(k, "PATCH", "/provisioning/device/d/c9", `[]`),
		e.doKey(k, "GET", "/provisioning/device/d/c9", nil),
		e.doKey(k, "PUT", "/provisioning/device/d", obj2("deviceId", "c9", "authType", "credentials")),
		e.doKey(k, "GET", "/provisioning/device/d", nil),
	} {
		if r.status != 200 || strings.Contains(string(r.raw), pw) {
			t.Fatalf("device password after creation: %d %s", r.status, r.raw)
		}
	}
	// Nor does a PUT over the existing trunk.
	r := e.doKey(k, "PUT", "/provisioning/trunk/d/t1", with(trunkBase(), "userName", "gw", "realm", "sip.example.net", "password", "secret-trunk-pw"))
	if r.status != 200 || strings.Contains(string(r.raw), "secret-trunk-pw") {
		t.Fatalf("PUT over the trunk: %d %s", r.status, r.raw)
	}
}

// TestIDsObeyOnePattern: path ids and body ids are held to the same
// pattern and length on every write, so nothing is stored that cannot be
// fetched or deleted.
func TestIDsObeyOnePattern(t *testing.T) {
	e := newEnv(t)
	before := e.dump()
	bad := map[string]string{"a%00b": "a\x00b", "..%2Fetc": "../etc", "%F0%9F%98%80": "\U0001F600", "%3Cscript%3E": "<script>",
		strings.Repeat("a", 129): strings.Repeat("a", 129), "..": "..", ".": "."}
	for inPath, inBody := range bad {
		if strings.Trim(inPath, ".") == "" {
			inPath += "x%00" // a bare . or .. is resolved by HTTP clients before it is sent
		}
		for _, path := range []string{"/provisioning/trunk/d/" + inPath, "/provisioning/alarmbridge/d/" + inPath, "/provisioning/trustednetwork/d/" + inPath} {
			body := trunkBase()
			if strings.Contains(path, "alarmbridge") {
				body = obj2("name", "n", "protocol", "contactid", "destinationMatch", "^1$")
			} else if strings.Contains(path, "trustednetwork") {
				body = obj2("network", "10.0.0.0/8")
			}
			if r := e.do("PUT", path, body); r.status != 400 {
				t.Fatalf("PUT %s: %d %s", path, r.status, r.raw)
			}
		}
		if r := e.do("PUT", "/provisioning/device/d", obj2("deviceId", inBody, "authType", "deviceid")); r.status != 400 {
			t.Fatalf("device id %q: %d %s", inBody, r.status, r.raw)
		}
	}
	for _, n := range []int{129, 10 << 10, 40 << 10} {
		r := e.do("POST", "/provisioning/device/d", obj2("deviceId", strings.Repeat("7", n), "authType", "deviceid"))
		if r.status != 400 || !strings.Contains(r.str("reason"), "deviceId") {
			t.Fatalf("deviceId of %d characters: %d %s", n, r.status, r.raw)
		}
	}
	if r := e.do("POST", "/provisioning/alarmbridge/d", obj2("id", "<script>", "name", "n", "protocol", "contactid", "destinationMatch", "^1$")); r.status != 400 {
		t.Fatalf("alarmbridge id <script>: %d %s", r.status, r.raw)
	}
	if e.dump() != before {
		t.Fatal("a refused write changed the store")
	}
	// 128 characters is the limit, both ways, and such a device can be
	// fetched and deleted.
	id := strings.Repeat("d", 128)
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", id, "authType", "deviceid"))
	e.must(200, "GET", "/provisioning/device/d/"+id, nil)
	e.must(200, "DELETE", "/provisioning/device/d/"+id, nil)
}

// TestJSONTricksRefused: a patch cannot move a document to another domain;
// deeply nested JSON and duplicate keys are refused, and nothing changes.
func TestJSONTricksRefused(t *testing.T) {
	e := newEnv(t)
	e.must(200, "PUT", "/provisioning/device/d", obj2("deviceId", "1234", "domain", "d", "authType", "deviceid"))
	before := e.dump()
	r := e.do("PATCH", "/provisioning/device/d/1234", `[{"op":"replace","path":"/domain","value":"other"}]`)
	if r.status != 400 || !strings.HasPrefix(r.str("reason"), "domain:") {
		t.Fatalf("PATCH replace /domain: %d %s", r.status, r.raw)
	}
	if r := e.do("PUT", "/provisioning/device/d", obj2("deviceId", "1234", "domain", "other", "authType", "deviceid")); r.status != 400 {
		t.Fatalf("PUT with another domain in the body: %d %s", r.status, r.raw)
	}
	deep := `{"deviceId":"1234","authType":"deviceid","description":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`
	if r := e.do("PUT", "/provisioning/device/d", deep); r.status != 400 || !strings.Contains(r.str("reason"), "deep") {
		t.Fatalf("JSON nested 9000 deep: %d %.200s", r.status, r.raw)
	}
	dup := `{"deviceId":"1234","authType":"credentials","authType":"deviceid"}`
	if r := e.do("PUT", "/provisioning/device/d", dup); r.status != 400 || !strings.Contains(r.str("reason"), "authType") {
		t.Fatalf("duplicate key: %d %s", r.status, r.raw)
	}
	nestedDup := `[{"op":"add","path":"/description","value":{"a":1,"a":2}}]`
	if r := e.do("PATCH", "/provisioning/device/d/1234", nestedDup); r.status != 400 {
		t.Fatalf("duplicate key in a patch: %d %s", r.status, r.raw)
	}
	if e.dump() != before {
		t.Fatal("a refused write changed the store")
	}
}

// TestGatewayWideNeedsAdmin: the one profile, the metrics of every tenant
// and the choice of a token (whose refusal told whether another tenant uses
// it) belong to the admin key.
func TestGatewayWideNeedsAdmin(t *testing.T) {
	e := newEnv(t)
	e.must(200, "PUT", "/provisioning/trunk/other/secret-trunk-name", trunkBase())
	e.must(200, "POST", "/provisioning/apiKey/other", obj2("key", "other-tenants-token-1"))
	k := e.domainKey("d")
	before := e.dump()
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/provisioning/currentuser/profile", `{"firstName":"Mallory"}`},
		{"POST", "/provisioning/currentuser/profile", `{"firstName":"Mallory","email":"m@example.com"}`},
		{"PATCH", "/provisioning/currentuser/profile", `{"firstName":"Mallory"}`},
		{"GET", "/metrics", ""},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		if r := e.doKey(k, c.method, c.path, body); r.status != 403 || strings.Contains(string(r.raw), "secret-trunk-name") {
			t.Fatalf("%s %s with a domain key: %d %.300s", c.method, c.path, r.status, r.raw)
		}
	}
	// The oracle: a domain key may not choose its token at all.
	r := e.doKey(k, "POST", "/provisioning/apiKey/d", `{"key":"other-tenants-token-1"}`)
	if r.status != 403 || strings.Contains(r.str("reason"), "in use") {
		t.Fatalf("choosing a token with a domain key: %d %s", r.status, r.raw)
	}
	if e.dump() != before {
		t.Fatal("a refused request changed the store")
	}
	// A random token or an RS256 key is still the domain key's to make.
	if r := e.doKey(k, "POST", "/provisioning/apiKey/d", `{"key":""}`); r.status != 200 {
		t.Fatalf("random token with a domain key: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/metrics", nil); r.status == 403 {
		t.Fatalf("/metrics with the admin key: %d", r.status)
	}
}

// FuzzStrictJSON: any body is judged without panicking; what it lets
// through nests at most maxJSONDepth deep and has no repeated key, which
// decoding into a map (last key wins) and counting would show.
func FuzzStrictJSON(f *testing.F) {
	f.Add(`{"a":1,"b":[{"c":2}]}`)
	f.Add(`{"a":1,"a":2}`)
	f.Add(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`)
	f.Add(`{"a":{"b":{"b":1,"c":{"d":1,"d":2}}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		err := strictJSON([]byte(s))
		if err != nil || !json.Valid([]byte(s)) {
			return
		}
		depth, maxDepth := 0, 0
		inStr, esc := false, false
		for _, c := range []byte(s) {
			switch {
			case esc:
				esc = false
			case inStr && c == '\\':
				esc = true
			case c == '"':
				inStr = !inStr
			case !inStr && (c == '[' || c == '{'):
				depth++
				maxDepth = max(maxDepth, depth)
			case !inStr && (c == ']' || c == '}'):
				depth--
			}
		}
		if maxDepth > maxJSONDepth {
			t.Fatalf("depth %d let through: %q", maxDepth, s)
		}
	})
}
