package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/scaip"
	"github.com/edgebridge/edgebridge/engine"
)

// SCAIP (SS 91100) both ways over the engine's SIP MESSAGE:
//
//   - out: an event mapper whose targetEndpoint (or backupEndpoint) has
//     protocol "scaip" gets its events as <mrq> MESSAGEs to destAddr; the
//     ARC's 200 and then its own MESSAGE with the <mrs> (matched by ref in
//     scaip.Replies) acknowledge the event;
//   - in: an alarm unit's <mrq> MESSAGE goes to the domain's first
//     alarmbridge of protocol "scaip" whose destinationMatch fits the
//     MESSAGE's Request-URI user, is mapped and queued like a call's
//     events, and the <mrs> goes back to the unit as a MESSAGE once the 200
//     of its request is out, with mre 1 when the bridge's mapper asks for
//     speech; the unit's voice call then goes to the mapper's voice
//     destination (scaipVoiceCall).
//
// The ARC has no credentials at the gateway: its <mrs> MESSAGE is let in
// without digest when it comes from an address the gateway sent an <mrq>
// to within the last minute (engine.OutMessage.AwaitAnswer), and is then
// taken only as an <mrs>.
type scaipWiring struct {
	replies *scaip.Replies
	in      *scaip.Inbound
}

// scaipClient is the engine as scaip's MessageClient.
type scaipClient struct{ g *Gateway }

// SendMessage implements scaip.MessageClient.
func (c scaipClient) SendMessage(ctx context.Context, m scaip.OutMessage) (int, error) {
	if c.g.eng == nil {
		return 0, fmt.Errorf("scaip: SIP engine not started")
	}
	return c.g.eng.SendMessage(ctx, engine.OutMessage{
		To: m.To, From: m.From, ContentType: m.ContentType, Body: m.Body,
		Username: m.AuthUser, Password: m.AuthPassword,
		AwaitAnswer: true, // the ARC's <mrs> comes without credentials
	})
}

// scaipOptions builds the SCAIP wiring: the engine's MESSAGE handler and
// the delivery sender for protocol "scaip". The engine and the alarm
// service are read when a message flows, so they may be built afterwards.
func (g *Gateway) scaipOptions() (engine.Option, delivery.Option) {
	log := g.log.With("component", "scaip")
	w := &scaipWiring{replies: &scaip.Replies{}}
	w.in = &scaip.Inbound{
		Replies: w.replies,
		Handler: g.scaipHandler(log),
		Reply:   g.scaipReply,
		Log:     log,
	}
	g.scaip = w
	return engine.WithMessageHandler(g.nowipMux(w.handleMessage)), // NOW-IP (text/plain) first: nowip.go
		delivery.WithSender("scaip", delivery.SCAIPFactory(scaipClient{g}, w.replies, "", log))
}

// handleMessage is the engine's MESSAGE handler. A MESSAGE the engine let
// in unauthenticated as the awaited answer of an ARC may only be an <mrs>:
// an <mrq> from there would be an alarm from an unknown unit.
func (w *scaipWiring) handleMessage(ctx context.Context, domain, from, contentType string, body []byte) int {
	if !engine.MessageIsAnswer(ctx) {
		return w.in.HandleMessage(ctx, domain, from, contentType, body)
	}
	if !strings.HasPrefix(contentType, scaip.ContentType) {
		return 403
	}
	if _, err := scaip.ParseResponse(body); err != nil {
		return 403
	}
	w.replies.Deliver(body) // false: late or repeated, still taken
	return 200
}

// scaipHandler gives the handler of a domain's SCAIP alarmbridge, nil when
// the domain has none (the unit gets 404).
func (g *Gateway) scaipHandler(log *slog.Logger) func(ctx context.Context, domain string) *scaip.Handler {
	return func(ctx context.Context, domain string) *scaip.Handler {
		if g.svc == nil {
			return nil // outbound only (tests build the sender side alone)
		}
		b, err := g.svc.BridgeFor(domain, string(alarm.ProtoSCAIP), engine.MessageCalled(ctx))
		if err != nil {
			log.Warn("scaip: alarmbridges", "domain", domain, "err", err)
			return nil
		}
		if b == nil {
			return nil
		}
		h := &scaip.Handler{
			Queue: g.svc.QueueFor(domain, b),
			OnHeartbeat: func(ctx context.Context, ev alarm.Event) error {
				return g.svc.Heartbeat(ctx, domain, b, ev)
			},
			Log: log,
		}
		if _, _, ok := g.scaipVoice(domain, b); ok {
			// SS 91100 mre 1: duplex speech follows; the unit calls and
			// scaipVoiceCall bridges it to the mapper's voice destination.
			h.Mre = 1
		}
		h.CallbackMinutes = g.scaipCallbackMinutes(domain, b)
		if ms := b.DefaultHeartbeatInterval; ms > 0 {
			// hbi is in whole minutes (SS 91100): round down (at least 1),
			// so the unit never beats less often than supervision expects.
			h.HeartbeatMinutes = max(1, int(ms/60000))
		}
		return h
	}
}

// scaipReply sends the <mrs> to the unit: to the address its MESSAGE came
// from (crossing its NAT), else to its registration.
func (g *Gateway) scaipReply(ctx context.Context, domain, from string, body []byte) error {
	to := from
	if u, ok := engine.MessageReplyURI(ctx); ok {
		to = u
	}
	code, err := g.eng.SendMessage(ctx, engine.OutMessage{To: to, Domain: domain, ContentType: scaip.ContentType, Body: body})
	if err != nil {
		return err
	}
	if code < 200 || code >= 300 {
		return fmt.Errorf("scaip: unit %s answered %d to the <mrs>", to, code)
	}
	return nil
}

// scaipVoice is where a SCAIP unit's voice call goes: the mapper's
// defaultVoiceDestination and backupDefaultVoiceDestination, when its
// alarmHandling calls for speech (callEmergencyCenter,
// usePredefinedDestination) and useVoiceBridge is not off. ok false: the
// unit is answered mre 0 and a voice call from it is refused.
func (g *Gateway) scaipVoice(domain string, b *alarm.AlarmBridge) (dest, backup string, ok bool) {
	if b.AlarmEventMapperID == "" {
		return "", "", false
	}
	m, err := g.prov.EventMapper(domain, b.AlarmEventMapperID)
	if err != nil || m == nil {
		return "", "", false
	}
	switch {
	case m.AlarmHandling != alarm.HandlingCallEmergencyCenter && m.AlarmHandling != alarm.HandlingUsePredefinedDestination,
		m.UseVoiceBridge != nil && !*m.UseVoiceBridge,
		m.TargetEndpoint.DefaultVoiceDestination == "":
		return "", "", false
	}
	return m.TargetEndpoint.DefaultVoiceDestination, g.backupVoice(domain, b), true
}

// scaipVoiceCall bridges a SCAIP unit's voice call to the ARC's speech
// line, the backup destination when the first cannot be reached. The ARC
// is called first and the unit answered only once it has, so a unit that
// cannot be served is refused before the answer and may use its backup.
func (g *Gateway) scaipVoiceCall(ctx context.Context, c *engine.Call, b *alarm.AlarmBridge) {
	log := g.log.With("call", c.ID, "alarmbridge", b.ID)
	dest, backup, ok := g.scaipVoice(c.Domain, b)
	if !ok {
		log.Warn("scaip: voice call refused: the event mapper asks for no speech path")
		_ = c.Reject(404, "Not Found", "no voice destination for alarmbridge "+b.ID)
		return
	}
	out := g.dialVoice(ctx, c.Caller, c.Domain, dest, backup, legDTMF(b, true), log)
	if out == nil {
		_ = c.Reject(503, "Service Unavailable", "voice destination unreachable")
		return
	}
	defer out.Hangup()
	// The unit's alarm events name it by its user ("scaip:"+user,
	// "nowip:"+user: their sessionId, the Call-ID a MESSAGE's event takes):
	// while its voice call lasts, their replyId names this call as its
	// alarm session, which hangupalarmcall ends (its in-call commands
	// travel in messages, so devicecommand is refused).
	g.answerVoiceSession(ctx, c, b, out, b.Protocol+":"+c.Caller,
		"the voice call of a "+b.Protocol+" unit, whose in-call commands travel in its protocol's messages, not as keys", log)
}

// scaipCallbackMinutes is the cre of a SCAIP bridge's answers: its mapper's
// waitForCallback (minutes, rounded up) when alarmHandling is
// requestCallback (the ARC calls the unit back rather than take a voice
// call from it), else 0 (no cre).
func (g *Gateway) scaipCallbackMinutes(domain string, b *alarm.AlarmBridge) int {
	if b.AlarmEventMapperID == "" {
		return 0
	}
	m, err := g.prov.EventMapper(domain, b.AlarmEventMapperID)
	if err != nil || m == nil || m.AlarmHandling != alarm.HandlingRequestCallback || m.WaitForCallback <= 0 {
		return 0
	}
	return int(math.Ceil(m.WaitForCallback))
}
