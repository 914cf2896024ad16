package api

import (
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/store"
)

// Nested secrets (restAuthentication secrets, the mapper's SIP passwords)
// are never returned, and a GET document written back, or a patch of
// another field, keeps them.
func TestNestedSecretsNeverReturned(t *testing.T) {
	e := newEnv(t)
	key := rsaKeyPEM(t)
	auth := []any{map[string]any{"type": "RS256", "secret": key, "sub": "gw"}}
	bridge := obj2("protocol", "contactid", "protocolMode", "dtmf", "destinationMatch", "^5551$", "name", "AB",
		"callbackBaseUrl", "https://arc.example.com", "restAuthentication", auth)
	mapper := with(mapperBase(), "targetEndpoint.sipAuthUser", "gw", "targetEndpoint.sipAuthPassword", "sip-secret-1",
		"targetEndpoint.backupEndpoint", map[string]any{"backupDestAddr": "sip:arc2@example.com", "backupSipAuthPassword": "sip-secret-2"})
	e.must(200, "PUT", "/provisioning/alarmbridge/d/b1", bridge)
	e.must(200, "PUT", "/provisioning/alarmeventmapper/d/m1", mapper)
	e.must(200, "PUT", "/provisioning/notificationsettings/d", obj2("alarmEventsRestEndpoint", "https://ev.example.com", "restAuthentication", auth))
	secrets := []string{"PRIVATE KEY", "sip-secret-1", "sip-secret-2"}
	views := map[string]string{
		"/provisioning/alarmbridge/d/b1":       "alarmbridge",
		"/provisioning/alarmbridge/d":          "",
		"/provisioning/alarmeventmapper/d/m1":  "alarmeventmapper",
		"/provisioning/alarmeventmapper/d":     "",
		"/provisioning/notificationsettings/d": "",
	}
	for path := range views {
		raw := string(e.must(200, "GET", path, nil).raw)
		for _, s := range secrets {
			if strings.Contains(raw, s) {
				t.Fatalf("GET %s shows a secret (%s): %s", path, s, raw)
			}
		}
	}
	stored := func(res, id string) string {
		b, _ := e.db.Get(store.Coll{Domain: "d", Resource: res}, id)
		return string(b)
	}
	// Written back as GET shows them: accepted, secrets kept.
	b := e.must(200, "GET", "/provisioning/alarmbridge/d/b1", nil).body["alarmbridge"]
	e.must(200, "PUT", "/provisioning/alarmbridge/d/b1", b)
	m := e.must(200, "GET", "/provisioning/alarmeventmapper/d/m1", nil).body["alarmeventmapper"]
	e.must(200, "PUT", "/provisioning/alarmeventmapper/d/m1", m)
	ns := e.must(200, "GET", "/provisioning/notificationsettings/d", nil).body
	delete(ns, "success")
	e.must(200, "PUT", "/provisioning/notificationsettings/d", ns)
	// A patch of another field: the same.
	e.must(200, "PATCH", "/provisioning/alarmbridge/d/b1", `[{"op":"replace","path":"/name","value":"AB2"}]`)
	if s := stored("alarmbridge", "b1"); !strings.Contains(s, "PRIVATE KEY") || !strings.Contains(s, `"AB2"`) {
		t.Fatalf("bridge secret lost: %s", s)
	}
	if s := stored("alarmeventmapper", "m1"); !strings.Contains(s, "sip-secret-1") || !strings.Contains(s, "sip-secret-2") {
		t.Fatalf("mapper passwords lost: %s", s)
	}
	if s := stored("notificationsettings", "settings"); !strings.Contains(s, "PRIVATE KEY") {
		t.Fatalf("notification secret lost: %s", s)
	}
	e.loadsAtRuntime()
	// A new secret replaces the stored one.
	e.must(200, "PUT", "/provisioning/alarmeventmapper/d/m1", with(mapper, "targetEndpoint.sipAuthPassword", "sip-secret-3"))
	if s := stored("alarmeventmapper", "m1"); !strings.Contains(s, "sip-secret-3") || strings.Contains(s, "sip-secret-1") {
		t.Fatalf("new password not stored: %s", s)
	}
}
