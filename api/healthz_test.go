package api

import (
	"errors"
	"strings"
	"testing"
)

// /healthz answers what Config.Health says (the daemon's one health check),
// 503 with its reason while it fails.
func TestHealthzAsksConfigHealth(t *testing.T) {
	var down error
	e := newEnv(t, func(c *Config) { c.Health = func() error { return down } })
	if r := e.doKey("", "GET", "/healthz", nil); r.status != 200 || r.body["success"] != true {
		t.Fatalf("healthy: %d %s", r.status, r.raw)
	}
	down = errors.New("sip not listening on 127.0.0.1:5060")
	if r := e.doKey("", "GET", "/healthz", nil); r.status != 503 || !strings.Contains(r.str("reason"), "sip not listening") {
		t.Fatalf("unhealthy: %d %s, want 503 naming the failed check", r.status, r.raw)
	}
}
