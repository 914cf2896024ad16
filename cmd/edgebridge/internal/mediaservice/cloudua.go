package mediaservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/sdp"
)

// The cloud SIP user agent (/cloudsipua documents): SIP calls whose media
// the integrator's own RTP endpoint handles. The gateway terminates the SIP
// leg and its media (SRTP included, as for any call of the engine) and
// relays the audio, transcoded if need be, to and from the endpoint the
// application names (receiveIp, receivePort), over SRTP when the
// application gives crypto. See doc.go for the callbacks and commands.

// DefaultRemoteAnswerTimeout is how long an inbound call announced by
// newRemoteCall waits for answerremotecall (or hangupcall).
const DefaultRemoteAnswerTimeout = 60 * time.Second

// placeRingTime bounds the ringing of a call placeremotecall makes (the
// media service API gives that command no maxRingTime).
const placeRingTime = 60 * time.Second

// CloudUA is the part of a /cloudsipua document the runtime reads.
type CloudUA struct {
	ID                 string              `json:"id"`
	DestinationMatch   string              `json:"destinationMatch"`
	CallbackBaseURL    string              `json:"callbackBaseUrl"`
	RestAuthentication []delivery.RestAuth `json:"restAuthentication"`
	CallbackTimeout    int64               `json:"callbackTimeout"` // ms, retries included
	raw                string
	match              *regexp.Regexp
}

// Validate is the runtime's check of a cloud SIP UA document: the API runs
// it on every write (CheckDocument), and the loader skips a stored
// document failing it.
func (d *CloudUA) Validate() error {
	re, err := alarm.CompileMatch(d.DestinationMatch)
	if err != nil {
		return fmt.Errorf("destinationMatch: %w", err)
	}
	d.match = re
	if err := checkBaseURL(d.CallbackBaseURL); err != nil {
		return errors.New(baseURLRule(err))
	}
	if err := delivery.CheckRestAuth(d.RestAuthentication); err != nil {
		return err
	}
	if d.CallbackTimeout < 0 {
		return errors.New("callbackTimeout: must not be negative")
	}
	return nil
}

// CheckDocument is the runtime's check of a provisioned document the API
// is about to store (api.DocumentChecker): what the API stores, the loader
// loads.
func (s *Service) CheckDocument(resource string, doc []byte) error {
	if resource != "cloudsipua" {
		return nil
	}
	var d CloudUA
	if err := json.Unmarshal(doc, &d); err != nil {
		return err
	}
	return d.Validate()
}

// baseURLRule is checkBaseURL's error as "callbackBaseUrl: rule".
func baseURLRule(err error) string {
	_, rule, _ := strings.Cut(err.Error(), "\": ")
	return "callbackBaseUrl: " + rule
}

// cloudUAs reads the domain's cloud SIP UAs in provisioning order.
func (s *Service) cloudUAs(domain string) []*CloudUA {
	return loadDocs[CloudUA](s, domain, "cloudsipua")
}

func (d *CloudUA) loaded(id, raw string) {
	if d.ID == "" {
		d.ID = id
	}
	d.raw = raw
}

func (d *CloudUA) source() string { return d.raw }

// RemoteRoutes is the cloud SIP UA stage of the switchboard (after the
// media services): the domain's cloud SIP UAs as engine routes.
func (s *Service) RemoteRoutes(domain string) []engine.Route {
	uas := s.cloudUAs(domain)
	out := make([]engine.Route, 0, len(uas))
	for _, d := range uas {
		d := d
		out = append(out, engine.Route{
			Name:    "cloudsipua/" + d.ID,
			Match:   d.match,
			Handler: engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { s.serveRemote(ctx, c, domain, d) }),
		})
	}
	return out
}

// uaHook is the callback sender of a cloud SIP UA (base: its
// callbackBaseUrl, or the one placeremotecall gave).
func (s *Service) uaHook(domain string, d *CloudUA, base string) (*hook, error) {
	if base == "" || base == d.CallbackBaseURL {
		// The media service's cache, under a key no media service id can take.
		return s.hookFor(domain, &Document{ID: "cloudsipua\x00" + d.ID, CallbackBaseURL: d.CallbackBaseURL,
			RestAuthentication: d.RestAuthentication, CallbackTimeout: d.CallbackTimeout, raw: d.raw})
	}
	return newHook(base, d.RestAuthentication, d.CallbackTimeout, s.tls)
}

// remote call states.
const (
	rcPending   = iota // announced by newRemoteCall, or being dialled
	rcAnswering        // answerremotecall is answering it
	rcAnswered
	rcEnded
)

// remoteCall is one call of a cloud SIP UA: the SIP leg (the engine's
// call) and the leg to the application's RTP endpoint (app).
type remoteCall struct {
	svc     *Service
	log     *slog.Logger
	id      string // sessionId
	trace   string
	domain  string
	hook    *hook
	inbound bool
	start   time.Time
	app     *media.Session
	offered *sdp.Crypto // inbound: our key offered to the application in newRemoteCall
	codec   string      // inbound: the codec offered to the application
	partID  string      // the SIP party's participantId
	connID  string

	mu      sync.Mutex
	state   int
	call    *engine.Call
	ref     json.RawMessage
	decided chan struct{}      // inbound: closed once answerremotecall answered it or hangupcall refused it
	cancel  context.CancelFunc // outbound: stops the dialling
	why     string             // the reason hangupcall gave
}

func (s *Service) newRemoteCall(domain string, h *hook, inbound bool, log *slog.Logger) (*remoteCall, error) {
	if s.cfg.MediaSession == nil {
		return nil, errors.New("no media engine for the cloud SIP UA's RTP relay")
	}
	app, err := s.cfg.MediaSession(media.SessionConfig{RTPTimeout: -1})
	if err != nil {
		return nil, err
	}
	rc := &remoteCall{svc: s, id: newID(), trace: newID(), domain: domain, hook: h, inbound: inbound, start: time.Now(),
		app: app, partID: newID(), connID: newID(), decided: make(chan struct{})}
	rc.log = log.With("session", rc.id)
	s.remote.Store(rc.id, rc)
	return rc, nil
}

func (rc *remoteCall) replyID() string { return rc.svc.tokens.issue(rc.domain, rc.id) }

func (rc *remoteCall) sessionRef() json.RawMessage {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.ref
}

func (rc *remoteCall) setRef(r json.RawMessage) {
	if len(r) == 0 || string(r) == "null" {
		return
	}
	rc.mu.Lock()
	rc.ref = append(json.RawMessage(nil), r...)
	rc.mu.Unlock()
}

func (rc *remoteCall) alarm(typ, errText string, details map[string]any) {
	rc.log.Warn("cloudsipua: service alarm", "type", typ, "error", errText, "details", details)
	if rc.svc.cfg.Alarm != nil {
		rc.svc.cfg.Alarm(Alarm{Type: typ, Domain: rc.domain, SessionID: rc.id, Error: errText, ErrorDetails: details})
	}
}

func (rc *remoteCall) notify(name string, body map[string]any) {
	if r := rc.sessionRef(); r != nil {
		body["sessionReferenceId"] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), rc.hook.total)
	defer cancel()
	if _, err := rc.hook.post(ctx, name, body); err != nil {
		rc.log.Warn("cloudsipua: callback", "callback", name, "err", err)
	}
}

// complete ends the call: its relay leg closes, sessionCompleted is sent
// and the replyId dies.
func (rc *remoteCall) complete(reason string) {
	rc.mu.Lock()
	rc.state = rcEnded
	rc.mu.Unlock()
	rc.app.Close()
	rc.svc.remote.Delete(rc.id)
	rc.notify("sessionCompleted", map[string]any{
		"sessionId": rc.id, "domain": rc.domain, "sessionDuration": strconv.FormatFloat(time.Since(rc.start).Seconds(), 'f', 1, 64),
		"reason": reason, "ivrServer": rc.svc.cfg.IVRServer, "traceId": rc.trace, "httpTransactionId": newID(),
	})
}

// offerOf is what newRemoteCall tells of the caller's SDP offer: the codec
// (its first of PCMA and PCMU), its telephone-event payload type, and
// whether it asks for SRTP (RTP/SAVP or a=crypto lines).
func offerOf(body []byte) (codec string, eventPT int, srtp bool, err error) {
	if len(body) == 0 {
		return sdp.PCMA, -1, false, nil // no offer: ours will be PCMA first
	}
	sd, err := sdp.Parse(body)
	if err != nil {
		return "", -1, false, err
	}
	eventPT = -1
	for _, m := range sd.Media {
		if m.Type != "audio" || m.Port == 0 {
			continue
		}
		for _, f := range m.Formats {
			switch f {
			case "8":
				codec = cmpOr(codec, sdp.PCMA)
			case "0":
				codec = cmpOr(codec, sdp.PCMU)
			}
		}
		for _, r := range m.RTPMaps {
			if strings.EqualFold(r.Name, sdp.TelephoneEvent) {
				eventPT = int(r.PT)
			}
		}
		srtp = len(m.Crypto) > 0 || strings.Contains(m.Proto, "SAVP")
		break
	}
	if codec == "" {
		return "", -1, false, errors.New("the offer has no PCMA or PCMU audio stream")
	}
	return codec, eventPT, srtp, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// serveRemote runs an inbound call matched by a cloud SIP UA: newRemoteCall,
// then it waits for answerremotecall, hangupcall or the answer timeout.
func (s *Service) serveRemote(ctx context.Context, c *engine.Call, domain string, d *CloudUA) {
	log := s.log.With("call", c.ID, "cloudsipua", d.ID)
	codec, eventPT, srtp, err := offerOf(c.Request().Body())
	if err != nil {
		log.Info("cloudsipua: offer refused", "err", err)
		_ = c.Reject(488, "Not Acceptable Here", err.Error())
		return
	}
	h, err := s.uaHook(domain, d, "")
	if err != nil {
		_ = c.Reject(503, "Service Unavailable", err.Error())
		return
	}
	rc, err := s.newRemoteCall(domain, h, true, log)
	if err != nil {
		log.Warn("cloudsipua: call refused before answering", "err", err)
		_ = c.Reject(503, "Service Unavailable", err.Error())
		return
	}
	rc.call, rc.codec = c, codec
	reason := "callingPartyDrop"
	defer func() { rc.complete(reason) }()
	body := map[string]any{
		"httpTransactionId": newID(), "sessionId": rc.id, "replyId": rc.replyID(), "traceId": rc.trace, "domain": domain,
		"ivrServer": s.cfg.IVRServer, "callId": c.ID, "codec": codec, "destinationUri": c.Request().Recipient.String(),
		"sourceUser": c.Caller, "remoteRtpIp": rc.app.LocalAddr().Addr().String(), "remoteRtpPort": rc.app.LocalAddr().Port(),
	}
	if eventPT >= 0 {
		body["telephoneEventPayloadType"] = eventPT
	}
	if srtp {
		// The caller protects its media: so is the relay's, with a key of ours.
		k, err := newKey(sdp.SuiteAES128SHA1_80, 1)
		if err != nil {
			_ = c.Reject(500, "Server Internal Error", err.Error())
			reason = "newRemoteCallFailed"
			return
		}
		rc.offered = &k
		body["crypto"] = []any{cryptoJSON(k)}
	}
	ans, err := h.post(ctx, "newRemoteCall", body)
	if err != nil {
		rc.alarm("newCallEventError", "newCall request failed", map[string]any{"callback": "newRemoteCall", "reason": err.Error()})
		_ = c.Reject(503, "Service Unavailable", "cloud SIP UA application did not answer newRemoteCall")
		reason = "newRemoteCallFailed"
		return
	}
	ref, err := parseRemoteAnswer(ans)
	if err != nil {
		rc.alarm("newCallEventError", "newCall response empty", map[string]any{"callback": "newRemoteCall", "reason": err.Error()})
		_ = c.Reject(500, "Server Internal Error", "cloud SIP UA: "+err.Error())
		reason = "newRemoteCallFailed"
		return
	}
	rc.setRef(ref)
	timeout := s.cfg.RemoteAnswerTimeout
	if timeout <= 0 {
		timeout = DefaultRemoteAnswerTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-rc.decided:
		if rc.hungUpWhy("") == "hangupcall" && c.Answered().IsZero() {
			_ = c.Reject(486, "Busy Here", "hangupcall")
			reason = "hangupcall"
			return
		}
	case <-c.Done():
		return
	case <-t.C:
		rc.mu.Lock()
		expired := rc.state == rcPending
		if expired {
			rc.state = rcEnded
		}
		rc.mu.Unlock()
		if expired {
			rc.alarm("sessionError", "sessionExpired", map[string]any{"reason": "no answerremotecall within " + timeout.String()})
			_ = c.Reject(480, "Temporarily Unavailable", "the application did not answer the call")
			reason = "sessionExpired"
			return
		}
		<-rc.decided // answerremotecall is answering it just now
	}
	reason = rc.relay(c)
}

// relay bridges an answered call's media with the application's endpoint
// until either ends; the reason for sessionCompleted.
func (rc *remoteCall) relay(c *engine.Call) string {
	rc.mu.Lock()
	state := rc.state
	rc.mu.Unlock()
	if state != rcAnswered {
		return rc.hungUpWhy("failed")
	}
	err := media.Bridge(c.Context(), c.Session(), rc.app)
	_ = c.Hangup()
	<-c.Done()
	if why := rc.hungUpWhy(""); why != "" {
		return why
	}
	event := "callingPartyDrop"
	if !rc.inbound {
		event = "calledPartyDrop"
	}
	rc.log.Debug("cloudsipua: relay ended", "err", err, "cause", c.Cause())
	rc.notify("callEvent", map[string]any{
		"connectionId": rc.connID, "domain": rc.domain, "event": event, "ivrServer": rc.svc.cfg.IVRServer,
		"participantId": rc.partID, "user": c.Caller, "sessionId": rc.id, "replyId": rc.replyID(),
	})
	return event
}

func (rc *remoteCall) hungUpWhy(def string) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.why != "" {
		return rc.why
	}
	return def
}

// relayTo is the application's side of the relay: where it receives, the
// codec, telephone-event, and the SRTP keys.
type relayTo struct {
	addr    netip.AddrPort
	codec   string
	eventPT int // -1: no telephone-event
	keys    *sdp.SRTPKeys
}

// start points the relay leg at the application's endpoint and starts it.
func (rc *remoteCall) startApp(to relayTo) error {
	pt := sdp.PTPCMA
	if to.codec == sdp.PCMU {
		pt = sdp.PTPCMU
	}
	n := sdp.Negotiated{Remote: to.addr, RemoteRTCP: netip.AddrPortFrom(to.addr.Addr(), to.addr.Port()+1),
		Codec: to.codec, PT: pt, Direction: sdp.SendRecv, SRTP: to.keys}
	if to.eventPT >= 0 {
		n.Events, n.EventPT = true, uint8(to.eventPT)
	}
	if err := rc.app.Apply(n); err != nil {
		return err
	}
	return rc.app.Start()
}

// remoteCommands are the cloud SIP UA's own commands.
func isRemoteCommand(base string) bool {
	return base == "placeremotecall" || base == "answerremotecall" || base == "sendremotecallringback"
}

// remoteCall finds the live cloud SIP UA call a replyId names in domain.
func (s *Service) remoteCall(domain, replyID string) (*remoteCall, error) {
	d, id, err := s.tokens.check(replyID)
	if err != nil {
		return nil, err
	}
	v, ok := s.remote.Load(id)
	if !ok || d != domain {
		return nil, ErrNoSession
	}
	return v.(*remoteCall), nil
}

// remoteCommand runs placeremotecall, answerremotecall and
// sendremotecallringback.
func (s *Service) remoteCommand(ctx context.Context, domain, base string, body map[string]any) (map[string]any, error) {
	if base == "placeremotecall" {
		return nil, s.placeRemoteCall(domain, body)
	}
	replyID, _ := body["replyId"].(string)
	if replyID == "" {
		return nil, refuse(http.StatusBadRequest, "replyId: required (the replyId of the newRemoteCall callback)")
	}
	rc, err := s.remoteCall(domain, replyID)
	switch {
	case errors.Is(err, ErrBadReplyID):
		return nil, refuse(http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNoSession):
		if _, e := s.session(domain, replyID); e == nil {
			return nil, refuse(http.StatusConflict, "replyId: a media service session, not a call of the cloud SIP UA")
		}
		return nil, refuse(http.StatusNotFound, "replyId: no session of domain "+domain+" with this replyId is waiting (cloud SIP UA)")
	case err != nil:
		return nil, err
	}
	if !rc.inbound {
		return nil, refuse(http.StatusConflict, "replyId: a call placed by placeremotecall, not one announced by newRemoteCall")
	}
	if base == "sendremotecallringback" {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.state != rcPending {
			return nil, refuse(http.StatusConflict, "replyId: the call is answered or ended already")
		}
		if err := rc.call.Ring(); err != nil {
			return nil, refuse(http.StatusConflict, "replyId: "+err.Error())
		}
		return nil, nil
	}
	return nil, rc.answer(body)
}

// answer is answerremotecall: the application's endpoint, then 200 OK to
// the caller.
func (rc *remoteCall) answer(body map[string]any) error {
	to, err := parseRelayTo(body, rc.codec, []string{sdp.PCMA, sdp.PCMU})
	if err != nil {
		return err
	}
	list, err := parseCryptoList(body["crypto"])
	if err != nil {
		return err
	}
	switch {
	case rc.offered == nil && len(list) > 0:
		return refuse(http.StatusBadRequest, "crypto: newRemoteCall offered none (the call is plain RTP)")
	case rc.offered != nil && len(list) != 1:
		return refuse(http.StatusBadRequest, fmt.Sprintf("crypto: the call is SRTP: answer the offer of newRemoteCall with one entry of id %d and suite %s", rc.offered.Tag, rc.offered.Suite))
	case rc.offered != nil && (list[0].Tag != rc.offered.Tag || list[0].Suite != rc.offered.Suite):
		return refuse(http.StatusBadRequest, fmt.Sprintf("crypto[0]: id %d suite %s answers no offer (newRemoteCall offered id %d suite %s)", list[0].Tag, list[0].Suite, rc.offered.Tag, rc.offered.Suite))
	}
	if rc.offered != nil {
		to.keys = &sdp.SRTPKeys{Tag: rc.offered.Tag, Suite: rc.offered.Suite, LocalKey: rc.offered.Key, RemoteKey: list[0].Key}
	}
	rc.mu.Lock()
	if rc.state != rcPending {
		rc.mu.Unlock()
		return refuse(http.StatusConflict, "replyId: the call is answered or ended already")
	}
	rc.state = rcAnswering
	rc.mu.Unlock()
	setRefFrom(rc, body)
	err = rc.startApp(to)
	if err == nil {
		err = rc.call.Answer()
	}
	rc.mu.Lock()
	if err != nil {
		rc.state = rcEnded
		rc.why = "answerFailed"
	} else {
		rc.state = rcAnswered
	}
	rc.mu.Unlock()
	close(rc.decided)
	if err != nil {
		_ = rc.call.Reject(500, "Server Internal Error", err.Error())
		return refuse(http.StatusConflict, "the call could not be answered: "+err.Error())
	}
	return nil
}

func setRefFrom(rc *remoteCall, body map[string]any) {
	if v, ok := body["sessionReferenceId"]; ok {
		b, _ := json.Marshal(v)
		rc.setRef(b)
	}
}

// hangup is hangupcall on a cloud SIP UA call: busy before the answer, BYE after.
func (rc *remoteCall) hangup() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.state == rcEnded {
		return refuse(http.StatusNotFound, "replyId: the call has ended")
	}
	rc.why = "hangupcall"
	switch {
	case rc.state == rcPending && rc.inbound:
		// serveRemote sends the busy: the response waits for its ACK.
		rc.state = rcEnded
		close(rc.decided)
	case rc.state == rcPending:
		rc.cancel()
	case rc.call != nil:
		_ = rc.call.Hangup()
	}
	return nil
}

// parseRelayTo reads receiveIp, receivePort, codec and
// telephoneEventPayloadType of a command.
func parseRelayTo(body map[string]any, defCodec string, codecs []string) (relayTo, error) {
	to := relayTo{codec: defCodec, eventPT: -1}
	ipS, _ := body["receiveIp"].(string)
	if ipS == "" {
		return to, refuse(http.StatusBadRequest, "receiveIp: required (the IP address of the application's RTP endpoint)")
	}
	ip, err := netip.ParseAddr(ipS)
	if err != nil || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
		return to, refuse(http.StatusBadRequest, "receiveIp: want a unicast IP address, got "+strconv.Quote(clipS(ipS)))
	}
	port, ok := intOf(body["receivePort"])
	if !ok || port < 1 || port > 65534 {
		return to, refuse(http.StatusBadRequest, "receivePort: required, 1-65534 (RTCP goes to the port above)")
	}
	to.addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	if c, _ := body["codec"].(string); c != "" {
		ok := false
		for _, x := range codecs {
			ok = ok || c == x
		}
		if !ok {
			return to, refuse(http.StatusBadRequest, "codec: "+strconv.Quote(clipS(c))+" is not supported here (want "+strings.Join(codecs, " or ")+")")
		}
		to.codec = c
	}
	if v, present := body["telephoneEventPayloadType"]; present {
		pt, ok := intOf(v)
		if !ok || pt < 96 || pt > 127 {
			return to, refuse(http.StatusBadRequest, "telephoneEventPayloadType: want a dynamic payload type 96-127")
		}
		to.eventPT = pt
	}
	return to, nil
}

// intOf reads a whole JSON number (json.Number or float64).
func intOf(v any) (int, bool) {
	var f float64
	switch n := v.(type) {
	case int:
		f = float64(n)
	case json.Number:
		x, err := n.Float64()
		if err != nil {
			return 0, false
		}
		f = x
	case float64:
		f = n
	default:
		return 0, false
	}
	if f != float64(int(f)) || f < -1e9 || f > 1e9 {
		return 0, false
	}
	return int(f), true
}

func clipS(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// placeRemoteCall is placeremotecall: a call from the cloud SIP UA to
// destinationUri, its media relayed to the application's endpoint.
func (s *Service) placeRemoteCall(domain string, body map[string]any) error {
	dest, _ := body["destinationUri"].(string)
	if dest == "" {
		return refuse(http.StatusBadRequest, "destinationUri: required (the SIP URI to call)")
	}
	if !validDest(dest) {
		return refuse(http.StatusBadRequest, "destinationUri: want a SIP URI or a number, without spaces, quotes, < or >")
	}
	src, _ := body["sourceUser"].(string)
	if src != "" && !safeUser(src) {
		return refuse(http.StatusBadRequest, "sourceUser: want a SIP user part (no spaces, quotes, <, >, @ or control characters)")
	}
	if body["codec"] == "GSM" {
		return refuse(http.StatusBadRequest, "codec: GSM is not supported by this gateway (PCMA or PCMU)")
	}
	to, err := parseRelayTo(body, sdp.PCMA, []string{sdp.PCMA, sdp.PCMU})
	if err != nil {
		return err
	}
	list, err := parseCryptoList(body["crypto"])
	if err != nil {
		return err
	}
	uas := s.cloudUAs(domain)
	if len(uas) == 0 {
		return refuse(http.StatusNotFound, "no cloud SIP UA in domain "+domain+" (provision /provisioning/cloudsipua/"+domain+")")
	}
	base, _ := body["callbackBaseUrl"].(string)
	if base != "" {
		if err := checkBaseURL(base); err != nil {
			return refuse(http.StatusBadRequest, baseURLRule(err))
		}
	}
	h, err := s.uaHook(domain, uas[0], base)
	if err != nil {
		return refuse(http.StatusConflict, "cloud SIP UA "+uas[0].ID+": "+err.Error())
	}
	var ours *sdp.Crypto
	if len(list) > 0 {
		// The application's first line is its choice (RFC 4568 offerer's
		// order); our key for the same suite goes back in callAnswered.
		k, err := newKey(list[0].Suite, list[0].Tag)
		if err != nil {
			return err
		}
		ours = &k
		to.keys = &sdp.SRTPKeys{Tag: k.Tag, Suite: k.Suite, LocalKey: k.Key, RemoteKey: list[0].Key}
	}
	rc, err := s.newRemoteCall(domain, h, false, s.log.With("cloudsipua", uas[0].ID, "placeremotecall", dest))
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "placeremotecall: "+err.Error())
	}
	setRefFrom(rc, body)
	ctx, cancel := context.WithTimeout(context.Background(), placeRingTime)
	rc.cancel = cancel
	o := engine.DialOptions{To: dest, From: src, Domain: domain, Media: engine.MediaOptions{Codecs: []string{to.codec}}, SRTP: ours != nil}
	if to.eventPT < 0 {
		o.Media.DTMF = "inaudio"
	}
	var ringing sync.Once
	o.OnProgress = func(code int, _, callID string) {
		if code != 180 && code != 183 {
			return
		}
		// The replyId (a gateway extension here) lets the application
		// hang up a call still ringing: placeremotecall answers success only.
		ringing.Do(func() {
			go rc.notify("callNotify", map[string]any{"event": "ringing", "participantId": rc.partID, "sessionId": rc.id,
				"user": cmpOr(src, "edgebridge"), "remoteUser": userOf(dest), "ivrServer": s.cfg.IVRServer, "traceId": rc.trace,
				"sipCallId": callID, "replyId": rc.replyID()})
		})
	}
	go rc.place(ctx, o, to, ours)
	return nil
}

// place dials, then relays until the call ends.
func (rc *remoteCall) place(ctx context.Context, o engine.DialOptions, to relayTo, ours *sdp.Crypto) {
	reason := "calledPartyFailure"
	defer func() { rc.complete(reason) }()
	c, err := rc.svc.cfg.Dial(ctx, o)
	rc.cancel()
	if err == nil {
		err = rc.startApp(to)
		if err != nil {
			_ = c.Hangup()
		}
	}
	if err != nil {
		code, descr := 500, err.Error()
		if de, ok := errors.AsType[*engine.DialError](err); ok {
			code, descr = de.Code, de.Reason
		} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			code, descr = 487, "Request Terminated"
		}
		rc.mu.Lock()
		rc.state = rcEnded
		rc.mu.Unlock()
		if why := rc.hungUpWhy(""); why != "" {
			reason = why
		}
		rc.notify("callEvent", map[string]any{
			"connectionId": rc.connID, "domain": rc.domain, "event": "calledPartyFailure", "ivrServer": rc.svc.cfg.IVRServer,
			"participantId": rc.partID, "remoteUser": userOf(o.To), "sessionId": rc.id, "replyId": rc.replyID(),
			"sipResponseCode": code, "errorDescr": descr,
		})
		return
	}
	rc.mu.Lock()
	rc.call = c
	hungUp := rc.state == rcEnded || rc.why != ""
	rc.state = rcAnswered
	rc.mu.Unlock()
	if hungUp { // hangupcall came while the answer did
		_ = c.Hangup()
	}
	ans := map[string]any{
		"callingPartyNumber": cmpOr(o.From, "edgebridge"), "callerParticipantId": rc.id, "calleeParticipantId": rc.partID,
		"remotePartyNumber": userOf(o.To), "connectionId": rc.connID, "codec": to.codec,
		"remoteRtpIp": rc.app.LocalAddr().Addr().String(), "remoteRtpPort": rc.app.LocalAddr().Port(),
		"replyId": rc.replyID(), "traceId": rc.trace, "httpTransactionId": newID(),
	}
	if ours != nil {
		ans["crypto"] = []any{cryptoJSON(*ours)}
	}
	go rc.notify("callAnswered", ans)
	reason = rc.relay(c)
}

// parseRemoteAnswer reads newRemoteCall's answer: {sessionReferenceId}.
// An empty answer is fine (the call waits for answerremotecall).
func parseRemoteAnswer(b []byte) (json.RawMessage, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, nil
	}
	var a struct {
		SessionRef json.RawMessage `json:"sessionReferenceId"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("newRemoteCall response: not a JSON object: %v", err)
	}
	return a.SessionRef, nil
}
