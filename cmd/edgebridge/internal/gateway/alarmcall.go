package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/service"
	"github.com/edgebridge/edgebridge/alarm/tt92"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/mediaservice"
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
		if b.Protocol == string(alarm.ProtoSCAIP) || b.Protocol == "nowip" {
			// SCAIP and NOW-IP units send their alarms as MESSAGE (scaip.go,
			// nowip.go); the voice call that follows (SCAIP: an answer with
			// mre >= 1) is bridged to the mapper's voice destination.
			// Without one (SCAIP: mre 0) the bridge takes no calls.
			if _, _, ok := g.scaipVoice(domain, &b); ok {
				voice = append(voice, engine.Route{
					Name:    "alarmbridge/" + b.ID + "/voice",
					Match:   re,
					Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.scaipVoiceCall(ctx, c, &b) }),
					DTMF:    legDTMF(&b, false),
				})
			}
			continue
		}
		switch b.Protocol {
		case string(alarm.ProtoAPI):
			continue // its events are posted over REST (PostAlarmEvent); it takes no calls
		case "nowipcontroller":
			// The ARC calls a unit of a group scheme back (nowip.go).
			out = append(out, engine.Route{Name: "alarmbridge/" + b.ID + "/callback", Match: re, DTMF: legDTMF(&b, false),
				Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.nowipCallBack(ctx, c, &b) })})
			continue
		case string(alarm.ProtoVoiceCall):
			// An ordinary call: speech, not alarm data (voicecall.go).
			out = append(out, engine.Route{
				Name:    "alarmbridge/" + b.ID,
				Match:   re,
				Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.voiceCallAlarm(ctx, c, &b) }),
				DTMF:    legDTMF(&b, false),
			})
			continue
		}
		out = append(out, engine.Route{
			Name:     "alarmbridge/" + b.ID,
			Match:    re,
			Handler:  engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { g.alarmCall(ctx, c, &b) }),
			DTMF:     legDTMF(&b, false),
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
	// maxSessionDuration bounds the whole session: the alarm and the voice
	// bridge that follows it.
	sctx, stop := g.sessionLimit(ctx, c.Domain, b)
	defer stop()
	// An operator's clear-down (hangupalarmcall with clear, devicecommand
	// clear) ends the session the same way: whatever writes to the unit's
	// leg stops, then this goroutine alone sends the clear-down (in single
	// tones for an sdmf unit, which a key queued on the leg cannot be).
	sctx, clearNow := context.WithCancelCause(sctx)
	defer clearNow(nil)
	live := &liveAlarm{id: c.ID, domain: c.Domain, from: c.Caller, to: c.Called, start: c.Start,
		clear: clearOf(b, b.Protocol), bridge: b, clearNow: clearNow, done: make(chan struct{}),
		hangup: c.Hangup,
		drop:   func() { _ = c.Hangup() },
		keys:   func(ctx context.Context, keys string) error { return sendKeys(ctx, c.Session(), keys) }}
	g.live.Store(c.ID, live)
	defer close(live.done)
	defer g.live.Delete(c.ID)
	// The call is a session of the media service commands too
	// (startrecording, stoprecording, splitconnection by its callbacks'
	// replyId): its audio passes through it to be recorded.
	as := g.media.StartAlarmSession(c.Domain, c.ID, c.Caller, func() *delivery.Endpoint { return g.alarmCallback(c.Domain, b) })
	defer as.End()
	ac := alarm.Call{ID: c.ID, Domain: c.Domain, Caller: c.Caller, Called: c.Called}
	res, err := g.svc.Run(sctx, countFrames{as.Channel(c.Session()), &g.dspFrames}, ac, b)
	if err != nil {
		log.Warn("gateway: alarm call", "err", err)
	}
	if len(res.Events) > 0 {
		// multiprotocol: the unit's own protocol is known now.
		live.clear = clearOf(b, string(res.Events[0].Protocol))
	}
	if ctx.Err() != nil {
		return
	}
	switch {
	case sctx.Err() != nil: // the session limit or an operator's clear: cleared down below
	case res.Voice == "":
		if len(res.Events) > 0 && res.Outcome.Reason != alarm.ReasonHangup {
			ackGuard(sctx, c)
		}
	default:
		g.bridgeVoice(sctx, c, b, res.Voice, live.clear, as, log)
	}
	if cause := context.Cause(sctx); ctx.Err() == nil && (errors.Is(cause, errSessionTooLong) || errors.Is(cause, errClearRequested)) {
		// The voice leg (if any) has been hung up by bridgeVoice; the unit
		// hears its protocol's clear-down before its own call ends.
		log.Info("gateway: alarm session cleared down", "reason", cause)
		g.clearDown(ctx, c, live.clear, log)
		_ = c.Hangup()
	}
}

// liveAlarm is a live alarm call as the in-call commands and the console
// see it, a SIP call or one on the FXS line: how to hang it up, how to
// send it keys, and its protocol's clear-down.
type liveAlarm struct {
	id, domain string // the call's id (Call-ID, or fxs-...) and domain
	from, to   string // the unit's user (or the line's number), the number it called
	start      time.Time
	// hangup ends the call without a clear-down; keys sends in-call keys
	// to the unit (RFC 4733 or in band as its leg negotiated; in band on
	// the FXS line) and returns once they have gone out.
	hangup func() error
	keys   func(ctx context.Context, keys string) error
	// drop ends the call's audio at once, from any goroutine: a clear-down
	// the unit does not take in time (requestClear) ends without it.
	drop func()
	// clear is the clear-down of the call's protocol (multiprotocol: known
	// once the unit has been identified); read and written only by the
	// call's own goroutine.
	clear    clearSignal
	bridge   *alarm.AlarmBridge
	clearNow context.CancelCauseFunc // ends the session with errClearRequested: the call's goroutine clears down
	done     chan struct{}           // closed when the call's goroutine has returned
	// noKeys, when set, is why the call takes no in-call keys
	// (devicecommand, hangupalarmcall with clear answer 409 with it).
	noKeys string
}

// errClearRequested ends an alarm session that an operator cleared down.
var errClearRequested = errors.New("clear-down requested")

// errSessionTooLong ends an alarm session that outlived its mapper's
// maxSessionDuration.
var errSessionTooLong = errors.New("maxSessionDuration reached")

// sessionLimit is ctx bounded by the maxSessionDuration (seconds; 0 or
// absent: the session lasts as long as the call) of the bridge's event
// mapper.
func (g *Gateway) sessionLimit(ctx context.Context, domain string, b *alarm.AlarmBridge) (context.Context, context.CancelFunc) {
	if b.AlarmEventMapperID != "" {
		if m, err := g.prov.EventMapper(domain, b.AlarmEventMapperID); err == nil && m != nil && m.MaxSessionDuration > 0 {
			d := time.Duration(m.MaxSessionDuration * float64(time.Second))
			return context.WithTimeoutCause(ctx, d, fmt.Errorf("%w (%v, alarmeventmapper %s)", errSessionTooLong, d, m.ID))
		}
	}
	return context.WithCancel(ctx)
}

// clearDown sends the unit its protocol's clear-down sig when nothing else
// writes to its leg (the alarm receiver and the voice bridge are done). Keys
// ride a silent stream; single tones (sdmf) are the frames themselves,
// written by the TT92 receiver's own sender. Either way the BYE waits, as
// after a kissoff, until the unit hangs up or ackGuardFor has passed: the
// signal's last frames may still sit in the unit's jitter buffer (or have
// been written in a burst by a reader catching up), and a BYE sent with
// them ends the unit's call before it has heard the clear-down.
func (g *Gateway) clearDown(ctx context.Context, c *engine.Call, sig clearSignal, log *slog.Logger) {
	if c.DirectMediaOn() {
		// The unit's media went straight to the ARC (controlCommandsEnabled
		// false): the gateway takes it back to play the clear-down, as the
		// ARC operator who hung up expects the unit cleared.
		if err := c.Reanchor(); err != nil {
			log.Warn("gateway: no clear-down: the unit's media could not be brought back", "err", err)
			return
		}
	}
	if sig.stmf {
		if err := clearSTMF(ctx, c.Session()); err != nil {
			log.Warn("gateway: clear-down", "err", err)
		}
		ackGuard(ctx, c)
		return
	}
	kctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); writeSilence(kctx, c.Session()) }()
	if err := sendKeys(ctx, c.Session(), sig.keys); err != nil {
		log.Warn("gateway: clear-down key", "err", err)
	}
	ackGuard(ctx, c)
	stop()
	<-done
}

// clearSTMF sends ## in single tones on ch with the tones, timing and
// trailing silence of the sdmf TT92 receiver's own clear-down.
func clearSTMF(ctx context.Context, ch alarm.Channel) error {
	r, err := tt92.NewReceiver(tt92.Config{Mode: "sdmf"})
	if err != nil {
		return err
	}
	return r.Clear(ctx, ch)
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

// clearSignal is how a protocol clears its unit down.
type clearSignal struct {
	keys string // DTMF keys
	stmf bool   // the keys go in single tones (TT92/TTnew protocolMode sdmf)
}

// clearOf is the clear-down of a protocol toward the unit of bridge b: TT92
// and TTnew clear with ## (the tt92 package's Clear), in single tones when
// the bridge's protocolMode is sdmf, the others with the SS 91100 in-call
// key 0.
func clearOf(b *alarm.AlarmBridge, protocol string) clearSignal {
	switch protocol {
	case string(alarm.ProtoTT92), "ttnew":
		return clearSignal{keys: tt92.Clear, stmf: b.ProtocolMode == "sdmf"}
	}
	return clearSignal{keys: deviceCommandDigits["clear"]}
}

// clearDownLimit bounds a clear-down an operator asked for
// (hangupalarmcall with clear, devicecommand clear): the longest takes
// about 2 s (## and its guard, or the voice leg hung up first), so a unit
// still not done after this has stopped taking audio (it neither reads nor
// answers its frames), and the request is not left waiting on it.
const clearDownLimit = 10 * time.Second

// requestClear has the goroutine running the alarm call clear the unit
// down and hang up (alarmCall, alarmLineCall), and waits until it has. A
// clear-down not done within limit (0: clearDownLimit) ends the call
// without it (drop): the answer is then a 504 refusal saying so.
func (la *liveAlarm) requestClear(ctx context.Context, limit time.Duration) error {
	if limit <= 0 {
		limit = clearDownLimit
	}
	dropped := make(chan struct{})
	// Bounded whether or not the request waits that long.
	time.AfterFunc(limit, func() {
		select {
		case <-la.done:
		default:
			close(dropped)
			if la.drop != nil {
				la.drop()
			}
		}
	})
	la.clearNow(errClearRequested)
	select {
	case <-la.done:
	case <-ctx.Done():
		return fmt.Errorf("callId %q: clear-down not finished: %w", la.id, ctx.Err())
	case <-dropped:
	}
	select {
	case <-dropped: // the call ends because it was dropped
	default:
		return nil
	}
	ended := "the call has ended"
	select {
	case <-la.done:
	case <-ctx.Done():
		ended = "the call is ending"
	case <-time.After(2 * time.Second):
		ended = "the call is ending"
	}
	return &api.Refusal{Status: http.StatusGatewayTimeout,
		Reason: fmt.Sprintf("callId %q: the unit did not take its clear-down within %v (it stopped taking audio): hung up without it, %s", la.id, limit, ended)}
}

// controlRefused is the refusal of an in-call command to a call whose
// alarmbridge has controlCommandsEnabled false, or that takes no keys;
// nil when commands are on.
func (la *liveAlarm) controlRefused() error {
	if la.noKeys != "" {
		return &api.Refusal{Status: http.StatusConflict, Reason: "callId: " + la.noKeys + " (devicecommand and hangupalarmcall with clear send keys; hangupalarmcall without clear ends the call)"}
	}
	b := la.bridge
	if b.ControlCommandsEnabled == nil || *b.ControlCommandsEnabled {
		return nil
	}
	return &api.Refusal{Status: http.StatusConflict,
		Reason: "alarmbridge " + b.ID + " has controlCommandsEnabled false: in-call commands to its calls are off (devicecommand, hangupalarmcall with clear)"}
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
	// The unit on the line calls from the line's own number (serve
	// --fxs-number), as an exchange would present it: that is how
	// voicecall and deviceProvisioned find its device.
	caller := g.cfg.FXSNumber
	switch b.Protocol {
	case string(alarm.ProtoAPI):
		log.Warn("fxs: alarmbridge takes no calls (protocol api: events are posted over REST)", "alarmbridge", b.ID)
		return nil
	case string(alarm.ProtoVoiceCall), "deviceProvisioned":
		if caller == "" {
			log.Warn("fxs: alarm call refused: the line has no number (serve --fxs-number) to find the calling device by", "alarmbridge", b.ID, "protocol", b.Protocol)
			return nil
		}
		if b.Protocol == string(alarm.ProtoVoiceCall) {
			return func(ctx context.Context, c *FXSCall) { g.lineVoiceCall(ctx, c, b) }
		}
		db, err := g.router.DeviceProtocol(domain, b, caller)
		if err != nil {
			log.Warn("fxs: alarm call refused", "alarmbridge", b.ID, "caller", caller, "err", err)
			return nil
		}
		b = db
	}
	if _, err := g.svc.NewReceiver(*b); err != nil {
		log.Warn("fxs: alarm call refused before answering", "alarmbridge", b.ID, "err", err)
		return nil
	}
	return func(ctx context.Context, c *FXSCall) { g.alarmLineCall(ctx, c, b) }
}

// alarmLineCall runs one alarm call from the FXS line: receive, then
// voice. It is a live alarm call like a SIP one: hangupalarmcall ends it
// (with the protocol's clear-down played on the line unless clear is
// false), devicecommand plays its keys on the line.
func (g *Gateway) alarmLineCall(ctx context.Context, c *FXSCall, b *alarm.AlarmBridge) {
	log := c.Log
	log.Info("fxs: alarm call", "number", c.Number, "alarmbridge", b.ID)
	sctx, stop := g.sessionLimit(ctx, c.Domain, b) // maxSessionDuration, as for SIP
	defer stop()
	// An operator's hangup or clear-down ends the session; a clear-down
	// is then played on the line by this goroutine alone, as for SIP.
	sctx, endNow := context.WithCancelCause(sctx)
	defer endNow(nil)
	// An alarm session like a SIP alarm call's: the line's audio passes
	// through it to be recorded, both ways, keys played on the line too.
	as := g.media.StartAlarmSession(c.Domain, c.ID, g.cfg.FXSNumber, func() *delivery.Endpoint { return g.alarmCallback(c.Domain, b) })
	defer as.End()
	line := newKeyLine(as.Channel(c.Line))
	live := g.liveLine(c, b, line, endNow, "")
	defer close(live.done)
	defer g.live.Delete(c.ID)
	res, err := g.svc.Run(sctx, countFrames{line, &g.dspFrames}, alarm.Call{ID: c.ID, Domain: c.Domain, Caller: g.cfg.FXSNumber, Called: c.Number}, b)
	if err != nil {
		log.Warn("fxs: alarm call", "err", err)
	}
	if len(res.Events) > 0 {
		live.clear = clearOf(b, string(res.Events[0].Protocol)) // multiprotocol: the unit's own
	}
	if res.Voice != "" && sctx.Err() == nil {
		g.lineVoice(sctx, c, line, b, res.Voice, live.clear, as, log)
	}
	if cause := context.Cause(sctx); ctx.Err() == nil && (errors.Is(cause, errSessionTooLong) || errors.Is(cause, errClearRequested)) {
		log.Info("fxs: alarm session cleared down", "reason", cause)
		lineClear(ctx, line, live.clear, log)
	}
}

// liveLine registers the FXS line call c as a live alarm call: its hangup
// ends the session (endNow) and the line is released; keys are played in
// band on line. noKeys, when set, is why it takes none. The caller
// unregisters it and closes its done.
func (g *Gateway) liveLine(c *FXSCall, b *alarm.AlarmBridge, line *keyLine, endNow context.CancelCauseFunc, noKeys string) *liveAlarm {
	live := &liveAlarm{id: c.ID, domain: c.Domain, from: g.cfg.FXSNumber, to: c.Number, start: time.Now(),
		clear: clearOf(b, b.Protocol), bridge: b, clearNow: endNow, done: make(chan struct{}), noKeys: noKeys,
		// The gateway cannot put the unit's handset down: it drops the
		// line's audio path (FXS.call, once the session has ended).
		hangup: func() error { endNow(errHangupRequested); return nil },
		// The line's audio path closed: a read or write the unit left
		// hanging returns.
		drop: func() { _ = c.Line.Hangup() },
		keys: func(ctx context.Context, keys string) error { return sendKeys(ctx, line, keys) }}
	g.live.Store(c.ID, live)
	return live
}

// errHangupRequested ends an alarm session an operator hung up without a
// clear-down (the FXS line: SIP calls are hung up at once).
var errHangupRequested = errors.New("hangup requested")

// lineVoice is the speech path to the ARC, as for a SIP alarm call: the
// line's audio and the ARC's in-call keys (played in band) until either
// hangs up.
func (g *Gateway) lineVoice(ctx context.Context, c *FXSCall, line *keyLine, b *alarm.AlarmBridge, dest string, keys clearSignal, as *mediaservice.AlarmSession, log *slog.Logger) {
	out := g.dialVoice(ctx, g.cfg.FXSNumber, c.Domain, dest, g.backupVoice(c.Domain, b), legDTMF(b, true), log)
	if out == nil {
		// Neither answered: cleared down, as in bridgeVoice.
		if ctx.Err() == nil {
			log.Info("fxs: no voice destination answered: unit cleared down")
			lineClear(ctx, line, keys, log)
		}
		return
	}
	defer out.Hangup()
	if alarmSessionBridge(ctx, as, out, func(bctx context.Context) error {
		return media.BridgeLeg(bctx, out.Session(), line)
	}, log) {
		_ = out.Hangup()
		lineClear(ctx, line, keys, log) // the line is released when the call returns
		return
	}
	// arcDisconnectClearsCall, as for SIP (voice.go).
	if ctx.Err() != nil || b.ArcDisconnectClearsCall != nil && !*b.ArcDisconnectClearsCall {
		return
	}
	select {
	case <-out.Session().Done():
		lineClear(ctx, line, keys, log)
	default:
	}
}

// lineClear plays the clear-down in band on the line, when nothing else
// reads or writes it: single tones for an sdmf unit, else the keys, each
// followed by a pause as long (## must be heard as two), carried by
// silence, the last pause followed by clearGuard so that the unit's
// receiver sees it end before the line is released.
func lineClear(ctx context.Context, line *keyLine, sig clearSignal, log *slog.Logger) {
	if sig.stmf {
		if err := clearSTMF(ctx, line); err != nil {
			log.Info("fxs: clear-down", "err", err)
		}
		return
	}
	if sig.keys == "" {
		return
	}
	for i := 0; i < len(sig.keys); i++ {
		if err := line.SendDigit(sig.keys[i], keyMs); err != nil {
			log.Info("fxs: clear-down key", "err", err)
			return
		}
	}
	// Frame for frame with the unit: the line's clock paces the keys, and
	// a unit that hangs up ends them. Written first: what the unit sent
	// last may have been read already (by the receiver or the bridge).
	frame := make([]int16, media.FrameSamples)
	for guard := clearGuard / (20 * time.Millisecond); guard > 0 && ctx.Err() == nil; {
		if !line.DigitsPending() {
			guard--
		}
		clear(frame)
		if line.WriteFrame(frame) != nil || line.ReadFrame(frame) != nil {
			return
		}
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

// alarmReplyID is the replyId of an alarm event's callbacks: for an event
// of a call, the media service's signed token naming the call (the media
// service commands and hangupalarmcall/devicecommand take it), else the
// event id.
func (g *Gateway) alarmReplyID(ev alarm.Event) string {
	if ev.CallID == "" {
		return ev.ID
	}
	return g.media.AlarmReplyID(ev.Domain, ev.CallID)
}

// alarmCallback is where an alarmbridge's events go over HTTP (its
// callback, else its mapper's http target): an alarm session's
// recordingReady and callEvent go there too. nil when there is none.
func (g *Gateway) alarmCallback(domain string, b *alarm.AlarmBridge) *delivery.Endpoint {
	res := delivery.StoreResolver{DB: g.db, Prov: g.prov}
	routes, err := res.Resolve(alarm.Event{Domain: domain, AlarmBridgeID: b.ID, MapperID: b.AlarmEventMapperID})
	if err != nil {
		g.log.Warn("gateway: alarm session callbacks", "alarmbridge", b.ID, "err", err)
	}
	var ep *delivery.Endpoint
	for _, r := range routes {
		if r.Primary.Protocol == delivery.ProtoHTTP {
			ep = &r.Primary
		}
	}
	return ep
}

// liveCall finds an alarm call in progress (SIP or FXS line) by its id or
// the replyId of its callbacks; domain "" takes any domain (the console is
// the admin's), else the call must belong to it.
func (g *Gateway) liveCall(domain, id string) (*liveAlarm, error) {
	if callID, ok := g.media.AlarmCallID(domain, id); ok {
		id = callID
	}
	v, ok := g.live.Load(id)
	if !ok || (domain != "" && v.(*liveAlarm).domain != domain) {
		return nil, fmt.Errorf("callId %q: %w", id, api.ErrNoSuchCall)
	}
	return v.(*liveAlarm), nil
}

// keyMs is how long each in-call key is held (SS 91100: 100-500 ms).
const keyMs = 200

// clearGuard separates the clear-down key from the BYE: longer than a
// unit's jitter buffer holds a packet.
const clearGuard = 250 * time.Millisecond

// keyLeg is a call leg that queues keys to go out with the frames written
// to it: an RTP session (media.Session), the FXS line (keyLine).
type keyLeg interface {
	SendDigit(key byte, durationMs int) error
	DigitsPending() bool
}

// sendKeys sends keys to the unit and waits until they have gone out: a
// leg sends queued keys with the frames written to it (by the receiver or
// the voice bridge), so hanging up at once would drop them.
func sendKeys(ctx context.Context, s keyLeg, keys string) error {
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
	la, err := g.liveCall(domain, req.CallID)
	if err != nil {
		return err
	}
	if req.Clear {
		if err := la.controlRefused(); err != nil {
			return err
		}
		return la.requestClear(ctx, g.clearLimit)
	}
	return la.hangup()
}

// DeviceCommand implements api.AlarmControl.
func (g *Gateway) DeviceCommand(ctx context.Context, domain string, req api.DeviceCommand) error {
	la, err := g.liveCall(domain, req.CallID)
	if err != nil {
		return err
	}
	if err := la.controlRefused(); err != nil {
		return err
	}
	keys := deviceCommandDigits[req.Command]
	switch req.Command {
	case "clear":
		// The unit hangs up on its clear-down: the call ends with it.
		return la.requestClear(ctx, g.clearLimit)
	case "sendTones":
		keys = req.Tones
	case "volume":
		keys = strings.Repeat("3", max(req.Volume, 0)) + strings.Repeat("1", max(-req.Volume, 0))
	}
	return la.keys(ctx, keys)
}
