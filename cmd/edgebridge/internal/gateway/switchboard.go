package gateway

import (
	"context"
	"log/slog"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/hal"
)

// stage is one kind of service on the switchboard. Each new call is offered
// to the stages in order (doc.go gives the order and why); the first stage
// that takes it serves it.
type stage struct {
	name string
	// sip lists the stage's routes for SIP calls to domain, in provisioning
	// order; nil when the stage takes no SIP calls. It is read per INVITE,
	// so a change made over REST applies to the next call without a restart.
	sip func(domain string) []engine.Route
	// fxs returns the stage's handler for a call from the FXS line to
	// number, nil when the stage does not take it; nil when the stage takes
	// no FXS calls.
	fxs func(domain, number string, log *slog.Logger) fxsHandler
}

// fxsHandler serves one call from the FXS line; the line is off hook and
// the unit has dialled. Hanging up is the caller's.
type fxsHandler func(ctx context.Context, c *FXSCall)

// FXSCall is a call from the unit on the FXS port once it has dialled.
type FXSCall struct {
	ID     string // "fxs-<start>-N", in logs and call lists
	Domain string // Config.Domain: the line belongs to the gateway's own tenant
	Number string // the digits dialled ("" for a hotline)
	Line   *hal.Call
	Log    *slog.Logger
}

// newSwitchboard lists the stages in the order every new call is offered to
// them. Stages still to come plug in at the marked places; the engine's own
// stages (trunks, then registered devices) follow all of these for SIP calls.
func (g *Gateway) newSwitchboard() []stage {
	return []stage{
		{name: "alarm", sip: g.alarmRoutes, fxs: g.alarmFXS}, // alarmcall.go
		{name: "mediaservice", sip: g.media.Routes},          // mediaservice package: IVR webhooks
		{name: "cloudsipua", sip: g.media.RemoteRoutes},      // mediaservice package (cloudua.go): newRemoteCall
		{name: "fxs-line", sip: g.lineRoutes},                // linecall.go: the FXS line as a SIP destination (an ARC calling the unit back)
	}
}

// routes is the switchboard for SIP calls (the engine's RouteSource): the
// routes of every stage, stage by stage. The engine tries them in this
// order, then its trunks, then the devices registered here, and answers 404
// when nothing takes the call.
func (g *Gateway) routes(domain string) []engine.Route {
	var out []engine.Route
	for _, s := range g.switchboard {
		if s.sip != nil {
			out = append(out, s.sip(domain)...)
		}
	}
	return out
}

// offerFXS offers a call from the FXS line to the stages in order and
// serves it with the first that takes it; false when none does.
func (g *Gateway) offerFXS(ctx context.Context, c *FXSCall) bool {
	for _, s := range g.switchboard {
		if s.fxs == nil {
			continue
		}
		if h := s.fxs(c.Domain, c.Number, c.Log); h != nil {
			h(ctx, c)
			return true
		}
	}
	return false
}
