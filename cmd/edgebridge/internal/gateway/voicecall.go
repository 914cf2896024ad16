package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/service"
	"github.com/edgebridge/edgebridge/engine"
)

// voiceCallAlarm serves a call to an alarmbridge of protocol voicecall: the
// call itself is the alarm. Its event (the calling number as the account)
// is queued durably first, like a received alarm, then the ARC's voice
// destination is called and the caller is answered only once it answers,
// so a call the gateway cannot serve is refused before it is answered: an
// unknown caller with 404, no voice call to make (alarmHandling drop) with
// 480 once the event is queued, the voice destination (and its backup)
// unreachable with 503.
func (g *Gateway) voiceCallAlarm(ctx context.Context, c *engine.Call, b *alarm.AlarmBridge) {
	log := g.log.With("call", c.ID, "alarmbridge", b.ID)
	if c.Caller == "" {
		_ = c.Reject(404, "Not Found", "voicecall: no calling number to identify the device")
		log.Warn("gateway: voicecall refused before answering: no calling number")
		return
	}
	raw := fmt.Sprintf("voicecall %s to %s", c.Caller, c.Called)
	ev := alarm.Event{
		ID:       alarm.EventID(c.Domain, c.ID, alarm.ProtoVoiceCall, raw),
		Protocol: alarm.ProtoVoiceCall,
		Received: time.Now(),
		Raw:      raw,
		// The device is the caller: its deviceId, else its deviceCLI.
		ControllerID: c.Caller,
		CallerID:     c.Caller,
		CallID:       c.ID,
		CalledNumber: c.Called,
	}
	queued, err := g.svc.Raise(ctx, c.Domain, b, ev)
	if err != nil {
		log.Warn("gateway: voicecall refused before answering", "caller", c.Caller, "err", err)
		if errors.Is(err, service.ErrUnknownDevice) {
			_ = c.Reject(404, "Not Found", "voicecall: no provisioned device calls from "+c.Caller)
		} else {
			_ = c.Reject(503, "Service Unavailable", "voicecall: alarm event not queued")
		}
		return
	}
	dest := service.VoiceOf(queued)
	if dest == "" {
		_ = c.Reject(480, "Temporarily Unavailable", "voicecall: alarm event queued; alarmHandling "+queued.Handling+" makes no voice call")
		log.Info("gateway: voicecall event queued, no voice call", "event", queued.ID, "handling", queued.Handling)
		return
	}
	_ = c.Ring()
	out := g.dialVoice(ctx, c.Caller, c.Domain, dest, g.backupVoice(c.Domain, b), legDTMF(b, true), log)
	if out == nil {
		_ = c.Reject(503, "Service Unavailable", "voicecall: alarm event queued; the voice destination does not answer")
		return
	}
	defer out.Hangup()
	// The call is an alarm session (its event's replyId names it): the
	// media service commands record and split it, hangupalarmcall ends it;
	// devicecommand is refused, a phone is no social alarm unit.
	g.answerVoiceSession(ctx, c, b, out, c.ID, voiceCallNoKeys, log)
}

// voiceCallNoKeys is why devicecommand is refused on a voicecall.
const voiceCallNoKeys = "the caller of a voicecall alarmbridge is a telephone, not an alarm unit that takes in-call keys"

// answerVoiceSession answers the unit's voice call once its voice leg out
// is up and bridges the two as an alarm session named sessionID (the name
// its event's replyId resolves to) until either hangs up or the mapper's
// maxSessionDuration ends it. noKeys says why the call takes no in-call
// keys (devicecommand answers 409 with it).
func (g *Gateway) answerVoiceSession(ctx context.Context, c *engine.Call, b *alarm.AlarmBridge, out *engine.Call, sessionID, noKeys string, log *slog.Logger) {
	live := &liveAlarm{id: c.ID, domain: c.Domain, from: c.Caller, to: c.Called, start: c.Start, bridge: b, noKeys: noKeys, hangup: c.Hangup}
	g.live.Store(sessionID, live)
	defer g.live.CompareAndDelete(sessionID, live)
	as := g.media.StartAlarmSession(c.Domain, sessionID, c.Caller, func() *delivery.Endpoint { return g.alarmCallback(c.Domain, b) })
	defer as.End()
	if err := c.Answer(); err != nil {
		log.Warn("gateway: answer voice call", "err", err)
		return
	}
	sctx, stop := g.sessionLimit(ctx, c.Domain, b)
	defer stop()
	if alarmSessionBridge(sctx, as, out, voiceBridge(b, c, out, as, log), log) {
		_ = out.Hangup()
		_ = c.Hangup()
	}
	if ctx.Err() == nil && sctx.Err() != nil {
		log.Info("gateway: voice call ended", "reason", context.Cause(sctx))
	}
}

// lineVoiceCall is voicecall for the unit on the FXS line, which calls from
// the line's number (serve --fxs-number; alarmFXS refuses the call without
// one): the event is queued first, as for SIP, then the line is bridged to
// the voice destination (or its backup) until either side hangs up. The
// line has no answer to withhold: a unit whose event is not queued, or
// that has no voice call to make, hears the line released.
func (g *Gateway) lineVoiceCall(ctx context.Context, c *FXSCall, b *alarm.AlarmBridge) {
	log := c.Log.With("alarmbridge", b.ID)
	caller := g.cfg.FXSNumber
	raw := fmt.Sprintf("voicecall %s to %s", caller, c.Number)
	ev := alarm.Event{
		ID:           alarm.EventID(c.Domain, c.ID, alarm.ProtoVoiceCall, raw),
		Protocol:     alarm.ProtoVoiceCall,
		Received:     time.Now(),
		Raw:          raw,
		ControllerID: caller,
		CallerID:     caller,
		CallID:       c.ID,
		CalledNumber: c.Number,
	}
	queued, err := g.svc.Raise(ctx, c.Domain, b, ev)
	if err != nil {
		log.Warn("fxs: voicecall not served", "caller", caller, "err", err)
		return
	}
	dest := service.VoiceOf(queued)
	if dest == "" {
		log.Info("fxs: voicecall event queued, no voice call", "event", queued.ID, "handling", queued.Handling)
		return
	}
	log.Info("fxs: voicecall event queued", "event", queued.ID)
	sctx, stop := g.sessionLimit(ctx, c.Domain, b)
	defer stop()
	sctx, endNow := context.WithCancelCause(sctx)
	defer endNow(nil)
	as := g.media.StartAlarmSession(c.Domain, c.ID, caller, func() *delivery.Endpoint { return g.alarmCallback(c.Domain, b) })
	defer as.End()
	// A live alarm call hangupalarmcall ends; devicecommand is refused, as
	// for a SIP voicecall.
	line := newKeyLine(as.Channel(c.Line))
	live := g.liveLine(c, b, line, endNow, voiceCallNoKeys)
	defer close(live.done)
	defer g.live.Delete(c.ID)
	g.lineVoice(sctx, c, line, b, dest, clearSignal{}, as, log) // a voice call has no clear-down signal
}
