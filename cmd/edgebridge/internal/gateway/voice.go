package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
)

// bridgeVoice calls the voice destination (the ARC's speech line) and
// bridges the alarm unit to it until either side hangs up.
func (g *Gateway) bridgeVoice(ctx context.Context, c *engine.Call, dest string, log *slog.Logger) {
	out := g.dialVoice(ctx, c.Caller, c.Domain, dest, log)
	if out == nil {
		return
	}
	defer out.Hangup()
	if err := media.Bridge(ctx, c.Session(), out.Session()); err != nil {
		log.Info("gateway: voice bridge ended", "err", err)
	}
}

// dialVoice places the voice call that follows an alarm; nil when it
// cannot be made (logged).
func (g *Gateway) dialVoice(ctx context.Context, caller, domain, dest string, log *slog.Logger) *engine.Call {
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second) // SCAIP: voice within 60 s
	defer cancel()
	out, err := g.eng.Dial(dctx, engine.DialOptions{To: dest, From: caller, Domain: domain})
	if err != nil {
		log.Warn("gateway: voice call", "to", dest, "err", err)
		return nil
	}
	log.Info("gateway: voice bridged", "to", dest)
	return out
}
