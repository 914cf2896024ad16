package api

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

// FuzzPatch: a JSON Patch on a device either succeeds, leaving a document
// that passes the full-write validation with the same deviceId, or is refused
// with a 4xx leaving the stored bytes exactly as they were.
func FuzzPatch(f *testing.F) {
	f.Add(`[{"op":"replace","path":"/description","value":"x"}]`)
	f.Add(`[{"op":"add","path":"/serviceData/alarmBridge","value":{"heartbeatInterval":1}}]`)
	f.Add(`[{"op":"move","from":"/ha1","path":"/deviceCLI"}]`)
	f.Add(`[{"op":"copy","from":"/deviceId","path":"/description"},{"op":"test","path":"/description","value":"fz"}]`)
	f.Add(`[{"op":"remove","path":"/authType"}]`)
	f.Add(`[{"op":"add","path":"/authorized","value":{"invite":"(("}}]`)
	f.Add(`[{"op":"add","path":"/-","value":1}]`)
	e := newEnv(f)
	coll := store.Coll{Domain: "d", Resource: "device"}
	schema := deviceSchema()
	f.Fuzz(func(t *testing.T, patch string) {
		e.t = t
		reset := e.do("PUT", "/provisioning/device/d", obj2("deviceId", "fz", "authType", "credentials", "ha1", strings.Repeat("a", 32), "description", "seed"))
		if reset.status != 200 {
			t.Fatalf("reset: %s", reset.raw)
		}
		before, _ := e.db.Get(coll, "fz")
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PATCH", "/provisioning/device/d/fz", strings.NewReader(patch))
		req.Header.Set("Content-Type", "application/json-patch+json")
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		e.s.ServeHTTP(rec, req)
		after, err := e.db.Get(coll, "fz")
		if err != nil {
			t.Fatalf("device gone after a patch: %v", err)
		}
		switch {
		case rec.Code == 200:
			m, err := decodeDoc(after)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := schema.validate("", m); err != nil {
				t.Fatalf("patched device breaks the schema: %v\n%s", err, after)
			}
			if m["deviceId"] != "fz" {
				t.Fatalf("deviceId changed: %v", m["deviceId"])
			}
		case rec.Code >= 400 && rec.Code < 500:
			if !bytes.Equal(before, after) {
				t.Fatalf("refused patch (%d %s) changed the device:\n%s\n%s", rec.Code, rec.Body, before, after)
			}
			if !strings.Contains(rec.Body.String(), `"success":false`) {
				t.Fatalf("error without success:false: %s", rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
