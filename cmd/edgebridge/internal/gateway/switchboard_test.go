package gateway

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/edgebridge/edgebridge/engine"
)

// The switchboard offers a call to its stages in order: SIP routes come
// stage by stage, and an FXS call goes to the first stage that takes it.
func TestSwitchboardOffersInStageOrder(t *testing.T) {
	var served []string
	route := func(name string) engine.Route {
		return engine.Route{Name: name, Match: regexp.MustCompile(".*")}
	}
	takes := func(name, prefix string) func(string, string, *slog.Logger) fxsHandler {
		return func(_, number string, _ *slog.Logger) fxsHandler {
			if !strings.HasPrefix(number, prefix) {
				return nil
			}
			return func(context.Context, *FXSCall) { served = append(served, name) }
		}
	}
	g := &Gateway{switchboard: []stage{
		{name: "alarm", sip: func(string) []engine.Route { return []engine.Route{route("alarmbridge/a"), route("alarmbridge/b")} }, fxs: takes("alarm", "55")},
		{name: "sip only", sip: func(string) []engine.Route { return []engine.Route{route("mediaservice/m")} }},
		{name: "fxs only", fxs: takes("line", "5")},
	}}
	var names []string
	for _, r := range g.routes("local") {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "alarmbridge/a alarmbridge/b mediaservice/m" {
		t.Fatalf("SIP routes %q, want the stages' routes in stage order", got)
	}
	call := func(number string) bool {
		return g.offerFXS(context.Background(), &FXSCall{ID: "fxs-1", Domain: "local", Number: number, Log: slog.New(slog.DiscardHandler)})
	}
	if !call("5551") || !call("5999") || call("1234") {
		t.Fatal("offerFXS: want 5551 and 5999 taken, 1234 not")
	}
	if got := strings.Join(served, " "); got != "alarm line" {
		t.Fatalf("served by %q, want 5551 by the alarm stage (first), 5999 by the next that takes it", got)
	}
}
