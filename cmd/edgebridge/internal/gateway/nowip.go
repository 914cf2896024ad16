package gateway

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/nowip"
	"github.com/edgebridge/edgebridge/alarm/service"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
)

// BS 8521-2 (NOW-IP) over the engine's SIP MESSAGE, both ways, and the
// ARC's call back to a unit of a group scheme (alarm/nowip has the facts
// and the gateway's interpretation):
//
//   - in: a unit's (or a group-scheme controller's) text/plain <ATM>
//     MESSAGE goes to the first alarmbridge of protocol nowip or
//     nowipcontroller whose destinationMatch fits its Request-URI user. An
//     alarm is mapped and queued like a call's events and only then
//     answered 200; a heartbeat feeds supervision; either is then
//     acknowledged with an <ATM> of type A, sent to where the MESSAGE came
//     from. Malformed: 400; unknown device: 403 (no acknowledgement, as
//     for every protocol); not queued: 503.
//   - out: an <ATM> of type 2 (a command) from the ARC side (a sender
//     that is no provisioned device: a trusted network or digest) to a
//     unit's number (a command from a provisioned device, or sent to the
//     number of a nowip bridge, comes from a unit and is refused 403) is
//     relayed unchanged to the unit (nowipRoute); the
//     ARC's MESSAGE is answered 200 once the unit acknowledged it with
//     type A, 504 when the unit took it but sent no acknowledgement within
//     nowipAckWait, the unit's own status when it refused it, 404 when the
//     unit cannot be found.
//   - voice: a unit's call to its nowip bridge's number (the speech path
//     after its alarm) is bridged to the mapper's voice destination, or
//     its backup, like a SCAIP unit's (alarmRoutes, scaipVoiceCall); it is
//     refused before answering when the mapper asks for no speech.
//   - call back: a call to a number that a nowipcontroller bridge's
//     destinationMatch fits is the ARC calling a unit of a group scheme
//     back: it goes to the registration of the unit's controller, with the
//     unit's 12-digit BS 8521 identity (controller GGGGGGGG, unit RRRR) as
//     the Request-URI user, so that the controller connects that unit; the
//     ARC is answered only once the controller answers (404 before
//     answering when the unit or its controller is unknown or not
//     registered, the controller's refusal otherwise).
type nowipWiring struct {
	wg sync.WaitGroup
	mu sync.Mutex
	// acks: the data of a command relayed to a unit -> who waits for the
	// unit's type A.
	acks map[string]chan struct{}
}

// nowipAckWait bounds the wait for a unit's acknowledgement of a command,
// well inside the ARC's MESSAGE transaction (32 s).
const nowipAckWait = 8 * time.Second

// nowipMux puts NOW-IP (text/plain) before the SCAIP MESSAGE handler.
func (g *Gateway) nowipMux(next engine.MessageHandler) engine.MessageHandler {
	g.nowip = &nowipWiring{acks: map[string]chan struct{}{}}
	return func(ctx context.Context, domain, from, contentType string, body []byte) int {
		if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != nowip.ContentType {
			return next(ctx, domain, from, contentType, body)
		}
		return g.nowipMessage(ctx, domain, from, body)
	}
}

// nowipMessage answers one <ATM> MESSAGE.
func (g *Gateway) nowipMessage(ctx context.Context, domain, from string, body []byte) int {
	log := g.log.With("component", "nowip", "from", from)
	m, err := nowip.Parse(body)
	if err != nil {
		log.Warn("nowip: message refused", "err", err)
		return 400
	}
	if engine.MessageIsAnswer(ctx) {
		return 403 // let in without credentials as a SCAIP ARC's answer: no <ATM>
	}
	if m.Type == nowip.TypeAck {
		g.nowip.acked(m.Data) // a unit acknowledges a command relayed to it
		return 200
	}
	if g.svc == nil {
		return 404
	}
	called := engine.MessageCalled(ctx)
	b, err := g.svc.BridgeFor(domain, "nowip", called)
	if err == nil && b == nil && m.Type == nowip.TypeCommand {
		// Not to a unit's alarm number but to a unit: the ARC's command
		// (a nowipcontroller bridge's numbers are the units' own).
		return g.nowipCommand(ctx, domain, from, body, m)
	}
	if err == nil && b == nil {
		b, err = g.svc.BridgeFor(domain, "nowipcontroller", called)
	}
	if err != nil || b == nil {
		log.Warn("nowip: no alarmbridge of protocol nowip or nowipcontroller takes it", "called", called, "err", err)
		return 404
	}
	h := &nowip.Handler{
		Queue:       g.svc.QueueFor(domain, b),
		OnHeartbeat: func(ctx context.Context, ev alarm.Event) error { return g.svc.Heartbeat(ctx, domain, b, ev) },
		Refused: func(err error) int {
			if errors.Is(err, service.ErrUnknownDevice) {
				return 403
			}
			return 503
		},
		Log: log,
	}
	res := h.Handle(ctx, body, alarm.Call{ID: "nowip:" + from, Domain: domain, Caller: from, Called: called})
	if res.Ack != nil {
		g.nowip.wg.Add(1)
		go func() {
			// SendMessage on this ctx waits for the 200 of the MESSAGE.
			defer g.nowip.wg.Done()
			if err := g.nowipReply(ctx, domain, from, res.Ack); err != nil {
				log.Warn("nowip: acknowledgement not sent", "err", err)
			}
		}()
	}
	return res.Code
}

// nowipReply sends the acknowledgement to where the unit's MESSAGE came
// from (crossing its NAT), else to its registration.
func (g *Gateway) nowipReply(ctx context.Context, domain, from string, body []byte) error {
	to := from
	if u, ok := engine.MessageReplyURI(ctx); ok {
		to = u
	}
	code, err := g.eng.SendMessage(ctx, engine.OutMessage{To: to, Domain: domain, ContentType: nowip.ContentType, Body: body})
	if err != nil {
		return err
	}
	if code < 200 || code >= 300 {
		return fmt.Errorf("nowip: unit %s answered %d to the acknowledgement", to, code)
	}
	return nil
}

// nowipCommand relays an ARC's command to the unit it is addressed to and
// answers with the unit's acknowledgement.
func (g *Gateway) nowipCommand(ctx context.Context, domain, from string, body []byte, m nowip.Message) int {
	log := g.log.With("component", "nowip", "from", from)
	if g.isDevice(domain, from) {
		log.Warn("nowip: command from an alarm unit refused")
		return 403
	}
	called := engine.MessageCalled(ctx)
	to, err := g.nowipRoute(domain, called)
	if err != nil {
		log.Warn("nowip: command not relayed", "to", called, "err", err)
		return 404
	}
	wait := g.nowip.await(m.Data)
	defer g.nowip.forget(m.Data, wait)
	sctx, cancel := context.WithTimeout(ctx, nowipAckWait)
	defer cancel()
	// Not AwaitAnswer: the unit's type A is authenticated like any of its
	// MESSAGEs, so an alarm it sends meanwhile is not taken for an answer.
	code, err := g.eng.SendMessage(sctx, engine.OutMessage{To: to, Domain: domain, ContentType: nowip.ContentType, Body: body})
	if err != nil {
		log.Warn("nowip: command not delivered", "to", to, "err", err)
		return 480
	}
	if code < 200 || code >= 300 {
		return code
	}
	select {
	case <-wait:
		log.Info("nowip: command acknowledged", "to", to, "data", m.Data)
		return 200
	case <-sctx.Done():
		log.Warn("nowip: command taken but not acknowledged", "to", to, "data", m.Data)
		return 504
	}
}

func (w *nowipWiring) await(data string) chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	w.acks[data] = ch
	w.mu.Unlock()
	return ch
}

func (w *nowipWiring) forget(data string, ch chan struct{}) {
	w.mu.Lock()
	if w.acks[data] == ch {
		delete(w.acks, data)
	}
	w.mu.Unlock()
}

func (w *nowipWiring) acked(data string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.acks[data]; ok {
		close(ch)
		delete(w.acks, data)
	}
}

// isDevice says whether user is a provisioned device of domain (by id or
// CLI): an alarm unit, which may not send commands to others.
func (g *Gateway) isDevice(domain, user string) bool {
	devs, err := g.prov.Devices(domain)
	if err != nil {
		return true // unsure: refuse
	}
	for _, d := range devs {
		if user != "" && (d.DeviceID == user || d.DeviceCLI == user) {
			return true
		}
	}
	return false
}

// nowipRoute is where a unit's number is reached: the unit's own
// registration, or else its group-scheme controller's, with the unit's
// 12-digit identity as the user. The unit is the provisioned device whose
// deviceId or deviceCLI is the number (deviceId controllerId:unitId, maybe
// after a customerSiteId), or the number itself when it is the 12-digit
// BS 8521 identity GGGGGGGGRRRR; the controller is registered under its
// controllerId.
func (g *Gateway) nowipRoute(domain, number string) (string, error) {
	if number == "" {
		return "", errors.New("no unit number")
	}
	if len(g.eng.Bindings(domain, number)) > 0 {
		return number, nil
	}
	controller, unit := "", ""
	if devs, err := g.prov.Devices(domain); err == nil {
		for _, d := range devs {
			if d.DeviceID != number && d.DeviceCLI != number {
				continue
			}
			if len(g.eng.Bindings(domain, d.DeviceID)) > 0 {
				return d.DeviceID, nil
			}
			if parts := strings.Split(d.DeviceID, ":"); len(parts) >= 2 {
				controller, unit = parts[len(parts)-2], parts[len(parts)-1]
			}
			break
		}
	}
	if controller == "" && len(number) == 12 && strings.Trim(number, "0123456789") == "" {
		controller, unit = number[:8], number[8:]
	}
	if controller == "" {
		return "", fmt.Errorf("%s is no registered unit, no provisioned unit of a group scheme and no 12-digit BS 8521 identity", number)
	}
	bs := g.eng.Bindings(domain, controller)
	if len(bs) == 0 {
		return "", fmt.Errorf("controller %s of unit %s is not registered", controller, unit)
	}
	b := bs[0]
	for _, x := range bs[1:] {
		if x.Expires.After(b.Expires) {
			b = x
		}
	}
	hostport, err := bindingTarget(b.Contact, b.Source, b.Transport)
	if err != nil {
		return "", fmt.Errorf("controller %s: %w", controller, err)
	}
	uri := "sip:" + controller + unit + "@" + hostport
	if t := strings.ToLower(b.Transport); t == "tcp" || t == "tls" {
		uri += ";transport=" + t
	}
	return uri, nil
}

// bindingTarget is where a registration is reached, as the engine dials a
// device: its Contact's host:port when the REGISTER came from that host,
// else the address it came from (the Contact is behind a NAT).
func bindingTarget(contact, source, transport string) (string, error) {
	srcHost, _, err := net.SplitHostPort(source)
	if err != nil {
		return "", fmt.Errorf("binding source %q: %w", source, err)
	}
	c := strings.Trim(strings.TrimSpace(contact), "<>")
	if i := strings.IndexByte(c, '@'); i >= 0 {
		c = c[i+1:]
	} else if i := strings.IndexByte(c, ':'); i >= 0 {
		c = c[i+1:] // sip:host:port
	}
	if i := strings.IndexAny(c, ";>?"); i >= 0 {
		c = c[:i]
	}
	host, port, err := net.SplitHostPort(c)
	if err != nil {
		host, port = c, "5060"
		if strings.EqualFold(transport, "tls") {
			port = "5061"
		}
	}
	if strings.Trim(host, "[]") != srcHost {
		return source, nil
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port), nil
}

// nowipCallBack puts the ARC's call to a unit of a group scheme through to
// the unit's controller (a nowipcontroller bridge's route). The ARC is
// answered once the controller answers, then both legs are bridged.
func (g *Gateway) nowipCallBack(ctx context.Context, c *engine.Call, b *alarm.AlarmBridge) {
	log := g.log.With("call", c.ID, "alarmbridge", b.ID, "unit", c.Called)
	to, err := g.nowipRoute(c.Domain, c.Called)
	if err != nil {
		log.Warn("nowip: call back refused before answering", "err", err)
		_ = c.Reject(404, "Not Found", err.Error())
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	out, err := g.eng.Dial(dctx, engine.DialOptions{To: to, From: c.Caller, Domain: c.Domain, Media: engine.MediaOptions{DTMF: legDTMF(b, true)}})
	cancel()
	if err != nil {
		code, reason := 480, "Temporarily Unavailable"
		var de *engine.DialError
		if errors.As(err, &de) && de.Code >= 400 {
			code, reason = de.Code, de.Reason
		}
		log.Warn("nowip: call back not put through", "to", to, "err", err)
		_ = c.Reject(code, reason, "controller: "+err.Error())
		return
	}
	defer out.Hangup()
	if err := c.Answer(); err != nil {
		log.Warn("nowip: answer call back", "err", err)
		return
	}
	log.Info("nowip: call back put through", "to", to)
	sctx, stop := g.sessionLimit(ctx, c.Domain, b)
	defer stop()
	if err := media.Bridge(sctx, c.Session(), out.Session()); err != nil {
		log.Info("nowip: call back ended", "err", err)
	}
}

// nowipWait waits for acknowledgements still being sent.
func (g *Gateway) nowipWait() {
	if g.nowip != nil {
		g.nowip.wg.Wait()
	}
}
