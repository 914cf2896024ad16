package gateway

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/edgebridge/edgebridge/api/console"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/hal"
)

// The FXS line as a destination (switchboard stage 3): a SIP call to the
// line's number (Config.FXSNumber, serve --fxs-number) rings the unit with
// the national cadence (Config.RingCadence) and, once it goes off hook (a
// social alarm unit auto-answers its ARC's call back), is answered and
// bridged to the line until either side hangs up.

// maxLineRing is how long the line rings before the call is refused (480):
// an unanswered unit is not left ringing for ever.
const maxLineRing = 60 * time.Second

var errNoAnswer = errors.New("the unit on the FXS line did not answer within 60 s")

// afterFunc runs f after d unless stopped, as time.AfterFunc: the clock of
// the ring limit, which a test replaces so as not to wait 60 s.
type afterFunc func(d time.Duration, f func()) (stop func() bool)

// lineRoutes is stage 3 for SIP calls: the FXS line's number, when set and
// the board has a line.
func (g *Gateway) lineRoutes(domain string) []engine.Route {
	if g.lineMatch == nil || domain != g.cfg.Domain || g.board == nil || g.board.Line == nil {
		return nil
	}
	return []engine.Route{{Name: "fxs-line", Match: g.lineMatch, Handler: engine.CallHandlerFunc(g.lineCall)}}
}

// claimLine makes the caller the line's owner; false when a call (from the
// unit or to it) has it, or the unit is off hook.
func (g *Gateway) claimLine(line hal.Line) bool {
	g.lineMu.Lock()
	defer g.lineMu.Unlock()
	if g.lineBusy || line.OffHook() {
		return false
	}
	g.lineBusy = true
	return true
}

func (g *Gateway) releaseLine() {
	g.lineMu.Lock()
	g.lineBusy = false
	g.lineMu.Unlock()
}

// lineCall rings the unit and bridges the call once it answers. The SIP
// call is answered only then: a unit that is busy or does not answer is
// refused (486, 480) before anything is answered.
func (g *Gateway) lineCall(ctx context.Context, c *engine.Call) {
	line := g.board.Line
	log := g.log.With("call", c.ID, "route", "fxs-line")
	if !g.claimLine(line) {
		_ = c.Reject(486, "Busy Here", "the FXS line is in a call")
		return
	}
	defer g.releaseLine()
	// Listed with the calls in progress, and ended by the console's
	// `calls hangup ID` (refused 480 while ringing, hung up once bridged).
	ctx, end := context.WithCancelCause(ctx)
	defer end(nil)
	cb := &lineCallback{id: c.ID, domain: c.Domain, from: c.Caller, to: g.cfg.FXSNumber, start: time.Now(), end: end}
	g.lineCallback.Store(cb)
	defer g.lineCallback.CompareAndSwap(cb, nil)
	_ = c.Ring()
	rctx, cancel := context.WithCancelCause(ctx)
	limit := g.lineRingLimit
	if limit == nil {
		limit = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	stop := limit(maxLineRing, func() { cancel(errNoAnswer) })
	err := hal.RingUntilAnswered(rctx, line, g.cadence)
	stop()
	cancel(nil)
	if err != nil {
		log.Info("fxs: unit not answering", "err", err)
		reason := "the unit on the FXS line did not answer"
		if errors.Is(context.Cause(ctx), errHangupRequested) {
			reason = "hung up by the installer while ringing"
		}
		_ = c.Reject(480, "Temporarily Unavailable", reason)
		return
	}
	lc, err := line.Answer()
	if err != nil {
		log.Warn("fxs: line", "err", err)
		_ = c.Reject(480, "Temporarily Unavailable", "the FXS line: "+err.Error())
		return
	}
	defer lc.Hangup()
	if err := c.Answer(); err != nil {
		log.Warn("gateway: answer", "err", err)
		return
	}
	defer c.Hangup()
	cb.answered.Store(true)
	log.Info("fxs: unit answered, bridged", "caller", c.Caller)
	if err := media.BridgeLeg(ctx, c.Session(), lc); err != nil && !errors.Is(err, context.Canceled) {
		log.Info("fxs: bridge ended", "err", err)
	}
}

// lineCallback is the call to the FXS line in progress (the ARC calling
// the unit back) as the call lists see it.
type lineCallback struct {
	id, domain, from, to string
	start                time.Time
	answered             atomic.Bool
	end                  context.CancelCauseFunc // ends it (the console's hangup)
}

func (cb *lineCallback) info() console.CallInfo {
	state := "callback ringing the FXS line"
	if cb.answered.Load() {
		state = "callback on the FXS line"
	}
	return console.CallInfo{ID: cb.id, Domain: cb.domain, From: cb.from, To: cb.to, State: state, Started: cb.start}
}

// lineInCall reports whether the FXS line carries a call: the unit is off
// hook in a call from it or to it (the line is owned).
func (g *Gateway) lineInCall() bool {
	if g.board == nil || g.board.Line == nil {
		return false
	}
	g.lineMu.Lock()
	busy := g.lineBusy
	g.lineMu.Unlock()
	return busy && g.board.Line.OffHook()
}

// callsInProgress counts the legs in progress, as edgebridge_calls_active
// and the status report them: the engine's SIP legs and the FXS line's.
func (g *Gateway) callsInProgress() int {
	n := g.activeCalls()
	if g.lineInCall() {
		n++
	}
	return n
}

// lineNumberMatch is the destinationMatch of the line's number: exactly it.
func lineNumberMatch(number string) (*regexp.Regexp, error) {
	return regexp.Compile("^" + regexp.QuoteMeta(number) + "$")
}

// claimLineOffHook makes the unit's own call (it went off hook) the line's
// owner; false when a call to the unit owns it already.
func (g *Gateway) claimLineOffHook() bool {
	g.lineMu.Lock()
	defer g.lineMu.Unlock()
	if g.lineBusy {
		return false
	}
	g.lineBusy = true
	return true
}
