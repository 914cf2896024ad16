package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/service"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
)

// The alarm stage of the switchboard: alarmbridges take SIP and FXS calls
// whose called number fits their destinationMatch.

// alarmRoutes is the alarm stage for SIP calls: the alarmbridges of domain
// as engine routes, in provisioning order.
func (g *Gateway) alarmRoutes(domain string) []engine.Route {
	bridges, err := g.prov.AlarmBridges(domain)
	if err != nil {
		g.log.Warn("gateway: alarmbridges", "domain", domain, "err", err)
		return nil
	}
	out := make([]engine.Route, 0, len(bridges))
	var voice []engine.Route // SCAIP voice routes: after every in-band bridge, which they must not shadow
	for i := range bridges {
		b := bridges[i]
		re, err := alarm.CompileMatch(b.DestinationMatch)
		if err != nil {
			continue // the alarm router skips it too: one bad rule must not stop the rest
		}
		if b.Protocol == string(alarm.ProtoSCAIP) {
			// SCAIP units send their alarms as MESSAGE (scaip.go); the voice
			// call that follows an answer with mre >= 1 is bridged to the
			// mapper's voice destination. Without one (mre 0) the bridge
			// takes no calls.
			if _, _, ok := g.scaipVoice(domain, &b); ok {
				voice = append(voice, engine.Route{
					Name:    "alarmbridge/" + b.ID + "/voice",
					Match:   re,
					Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.scaipVoiceCall(ctx, c, &b) }),
				})
			}
			continue
		}
		switch b.Protocol {
		case string(alarm.ProtoAPI):
			continue // its events are posted over REST (PostAlarmEvent); it takes no calls
		case string(alarm.ProtoVoiceCall):
			// An ordinary call: speech, not alarm data (voicecall.go).
			out = append(out, engine.Route{
				Name:    "alarmbridge/" + b.ID,
				Match:   re,
				Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.voiceCallAlarm(ctx, c, &b) }),
			})
			continue
		}
		dtmf := ""
		if b.ToneSettings != nil {
			dtmf = b.ToneSettings.DtmfSendType
		}
		out = append(out, engine.Route{
			Name:     "alarmbridge/" + b.ID,
			Match:    re,
			Handler:  engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.alarmCall(ctx, c, &b) }),
			DTMF:     dtmf,
			DataMode: true,
		})
	}
	return append(out, voice...)
}

// alarmCall runs one alarm call: answer, receive, then voice or clear-down.
func (g *Gateway) alarmCall(ctx context.Context, c *engine.Call, b *alarm.AlarmBridge) {
	log := g.log.With("call", c.ID, "alarmbridge", b.ID)
	if b.Protocol == "deviceProvisioned" {
		db, err := g.router.DeviceProtocol(c.Domain, b, c.Caller)
		if err != nil {
			log.Warn("gateway: alarm call refused before answering", "caller", c.Caller, "err", err)
			_ = c.Reject(404, "Not Found", err.Error())
			return
		}
		b = db
	}
	if _, err := g.svc.NewReceiver(*b); err != nil {
		// Refused before answering, so the unit dials its backup number
		// instead of losing the alarm on a call answered and dropped.
		log.Warn("gateway: alarm call refused before answering", "err", err)
		_ = c.Reject(503, "Service Unavailable", err.Error())
		return
	}
	if err := c.Answer(); err != nil {
		log.Warn("gateway: answer", "err", err)
		return
	}
	g.live.Store(c.ID, c)
	g.liveClear.Store(c.ID, clearKeys(b.Protocol))
	defer g.live.Delete(c.ID)
	defer g.liveClear.Delete(c.ID)
	ac := alarm.Call{ID: c.ID, Domain: c.Domain, Caller: c.Caller, Called: c.Called}
	res, err := g.svc.Run(ctx, countFrames{c.Session(), &g.dspFrames}, ac, b)
	if err != nil {
		log.Warn("gateway: alarm call", "err", err)
	}
	if len(res.Events) > 0 {
		// multiprotocol: the unit's own protocol is known now.
		g.liveClear.Store(c.ID, clearKeys(string(res.Events[0].Protocol)))
	}
	if ctx.Err() != nil {
		return
	}
	if res.Voice == "" {
		if len(res.Events) > 0 && res.Outcome.Reason != alarm.ReasonHangup {
			ackGuard(ctx, c)
		}
		return
	}
	g.bridgeVoice(ctx, c, b, res.Voice, log)
}

// ackGuard keeps a call up after the acknowledgement that ended the
// receiver (a listen-in kissoff with no voice to follow) until the unit
// hangs up or ackGuardFor has passed: RTP and the BYE travel apart, and a
// BYE sent with the last frame of the kissoff ends the unit's call while
// its jitter buffer (an ATA's holds up to a few hundred ms), or a reader
// that a busy CPU delayed, still has the tone to play, so the unit hears
// too little of it and takes the alarm as not acknowledged.
func ackGuard(ctx context.Context, c *engine.Call) {
	t := time.NewTimer(ackGuardFor)
	defer t.Stop()
	select {
	case <-c.Session().Done():
	case <-ctx.Done():
	case <-t.C:
	}
}

// ackGuardFor is how long ackGuard waits at most.
const ackGuardFor = time.Second

// clearKeys is the clear-down signal of a protocol toward the unit: TT92 and
// TTnew clear with ## (the tt92 package's Clear), the others with the
// SS 91100 in-call key 0.
func clearKeys(protocol string) string {
	switch protocol {
	case string(alarm.ProtoTT92), "ttnew":
		return tt92.Clear
	}
	return deviceCommandDigits["clear"]
}

// clearKeysOf is the clear-down signal of a live alarm call.
func (g *Gateway) clearKeysOf(callID string) string {
	if v, ok := g.liveClear.Load(callID); ok {
		return v.(string)
	}
	return deviceCommandDigits["clear"]
}

// alarmFXS is the alarm stage for FXS calls: the alarmbridge whose
// destinationMatch fits the dialled number takes the call.
func (g *Gateway) alarmFXS(domain, number string, log *slog.Logger) fxsHandler {
	b, err := g.svc.Route(domain, number)
	if err != nil {
		if !errors.Is(err, service.ErrNoBridge) {
			log.Warn("fxs: alarmbridges", "err", err)
		}
		return nil
	}
	if _, err := g.svc.NewReceiver(*b); err != nil {
		log.Warn("fxs: alarm call refused before answering", "alarmbridge", b.ID, "err", err)
		return nil
	}
	return func(ctx context.Context, c *FXSCall) { g.alarmLineCall(ctx, c, b) }
}

// alarmLineCall runs one alarm call from the FXS line: receive, then voice.
func (g *Gateway) alarmLineCall(ctx context.Context, c *FXSCall, b *alarm.AlarmBridge) {
	log := c.Log
	log.Info("fxs: alarm call", "number", c.Number, "alarmbridge", b.ID)
	res, err := g.svc.Run(ctx, countFrames{c.Line, &g.dspFrames}, alarm.Call{ID: c.ID, Domain: c.Domain, Called: c.Number}, b)
	if err != nil {
		log.Warn("fxs: alarm call", "err", err)
	}
	if res.Voice == "" || ctx.Err() != nil {
		return
	}
	// The speech path to the ARC, as for a SIP alarm call: the line's audio
	// and the ARC's in-call keys (played in band) until either hangs up.
	out := g.dialVoice(ctx, "", c.Domain, res.Voice, log)
	if out == nil {
		return
	}
	defer out.Hangup()
	if err := media.BridgeLeg(ctx, out.Session(), c.Line); err != nil {
		log.Info("fxs: voice bridge ended", "err", err)
	}
	// arcDisconnectClearsCall, as for SIP (voice.go): the ARC hung up first,
	// so the unit hears the clear-down key, played in band on the line, and
	// then silence (clearGuard) so that its receiver sees the key end.
	if ctx.Err() != nil || b.ArcDisconnectClearsCall != nil && !*b.ArcDisconnectClearsCall {
		return
	}
	select {
	case <-out.Session().Done():
		if err := c.Line.SendDigit(deviceCommandDigits["clear"][0], keyMs); err != nil {
			log.Info("fxs: clear-down key after the ARC hung up", "err", err)
			return
		}
		silence := make([]int16, media.FrameSamples)
		for range clearGuard / (20 * time.Millisecond) {
			if c.Line.WriteFrame(silence) != nil {
				return
			}
		}
	default:
	}
}

// In-call commands toward a social alarm unit (SS 91100):
// DTMF 0 clears down, 1/3 volume down/up, 4 duplex, 7/8 simplex.
var deviceCommandDigits = map[string]string{
	"clear":     "0",
	"listen":    "7",
	"speak":     "8",
	"talk":      "4",
	"keepAlive": "",
}

// liveCall finds an alarm call in progress; domain "" takes any domain
// (the console is the admin's), else the call must belong to it.
func (g *Gateway) liveCall(domain, id string) (*engine.Call, error) {
	v, ok := g.live.Load(id)
	if !ok || (domain != "" && v.(*engine.Call).Domain != domain) {
		return nil, fmt.Errorf("callId %q: %w", id, api.ErrNoSuchCall)
	}
	return v.(*engine.Call), nil
}

// keyMs is how long each in-call key is held (SS 91100: 100-500 ms).
const keyMs = 200

// clearGuard separates the clear-down key from the BYE: longer than a
// unit's jitter buffer holds a packet.
const clearGuard = 250 * time.Millisecond

// sendKeys sends keys to the unit and waits until they have gone out: a
// session sends queued keys with the frames written to it (by the receiver
// or the voice bridge), so hanging up at once would drop them.
func sendKeys(ctx context.Context, c *engine.Call, keys string) error {
	s := c.Session()
	for i := 0; i < len(keys); i++ {
		if err := s.SendDigit(keys[i], keyMs); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(keys)+2)*2*keyMs*time.Millisecond)
	defer cancel()
	for s.DigitsPending() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("keys %q not sent: %w", keys, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// HangupAlarmCall implements api.AlarmControl.
func (g *Gateway) HangupAlarmCall(ctx context.Context, domain string, req api.AlarmHangup) error {
	c, err := g.liveCall(domain, req.CallID)
	if err != nil {
		return err
	}
	if req.Clear {
		if err := sendKeys(ctx, c, g.clearKeysOf(c.ID)); err != nil {
			g.log.Warn("gateway: clear-down key", "call", c.ID, "err", err)
		}
		// The key's last packet is out; let the unit's jitter buffer play
		// it before the BYE ends the call under it.
		time.Sleep(clearGuard)
	}
	return c.Hangup()
}

// DeviceCommand implements api.AlarmControl.
func (g *Gateway) DeviceCommand(ctx context.Context, domain string, req api.DeviceCommand) error {
	c, err := g.liveCall(domain, req.CallID)
	if err != nil {
		return err
	}
	keys := deviceCommandDigits[req.Command]
	switch req.Command {
	case "clear":
		keys = g.clearKeysOf(c.ID)
	case "sendTones":
		keys = req.Tones
	case "volume":
		keys = strings.Repeat("3", max(req.Volume, 0)) + strings.Repeat("1", max(-req.Volume, 0))
	}
	return sendKeys(ctx, c, keys)
}
