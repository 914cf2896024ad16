package mediaservice

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
)

// participant is one call leg of a session.
type participant struct {
	id   string
	user string // SIP user part
	call *engine.Call
}

// session is one media service session: the inbound call (or the call
// placed by placeivrcall) and what it is connected to.
type session struct {
	svc    *Service
	log    *slog.Logger
	id     string
	trace  string
	domain string
	msID   string
	hook   *hook
	start  time.Time

	mu         sync.Mutex
	ref        json.RawMessage // sessionReferenceId, copied into every callback
	caller     *participant
	callee     *participant // while connected
	connID     string       // the current connection (IVR or two participants)
	rec        recSlot      // the current connection's recording
	interrupt  chan struct{}
	hangup     chan string   // hangupcall and friends: why
	splitReq   chan struct{} // splitconnection
	ended      bool
	ivrConn    string // the connection to the IVR while its loop runs
	called     string // calledParty of getCallIdentifier
	identified bool   // getCallIdentifier has been asked (once per session)
}

func (s *session) sessionRef() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ref
}

func (s *session) setRef(r json.RawMessage) {
	if len(r) == 0 || string(r) == "null" {
		return
	}
	s.mu.Lock()
	s.ref = append(json.RawMessage(nil), r...)
	s.mu.Unlock()
}

// replyID is the session's token for the REST commands.
func (s *session) replyID() string { return s.svc.tokens.issue(s.domain, s.id) }

// alarm raises a service alarm of the media service API (type, error) for this session.
func (s *session) alarm(typ, errText string, details map[string]any) {
	s.log.Warn("mediaservice: service alarm", "type", typ, "error", errText, "details", details)
	if s.svc.cfg.Alarm != nil {
		s.svc.cfg.Alarm(Alarm{Type: typ, Domain: s.domain, SessionID: s.id, Error: errText, ErrorDetails: details})
	}
}

// notify posts a callback whose answer carries nothing to act on; a
// failure is logged.
func (s *session) notify(ctx context.Context, name string, body any) {
	if _, err := s.hook.post(ctx, name, body); err != nil {
		s.log.Warn("mediaservice: callback", "callback", name, "err", err)
	}
}

// serve runs an inbound call matched by the media service's
// destinationMatch, from newCall to sessionCompleted.
func (s *session) serve(ctx context.Context, c *engine.Call) {
	// ctx ends with the inbound call, but the session may outlive it (a
	// callee left to the IVR, callEvent and sessionCompleted after the
	// caller hung up): each participant's own call bounds its part, and
	// each callback its callbackTimeout.
	ctx = context.WithoutCancel(ctx)
	s.caller = &participant{id: newID(), user: c.Caller, call: c}
	s.called = c.Called
	reason := "callingPartyDrop"
	defer func() {
		if c.Cause() == engine.CauseRTPTimeout {
			// The media service API: a participant silent for rtpTimeout is
			// disconnected and a service alarm raised.
			s.alarm("sessionError", "RTP media timeout", map[string]any{"participantId": s.caller.id})
			reason = "RTP media timeout"
		}
		s.complete(reason)
	}()
	ans, err := s.hook.post(ctx, "newCall", s.newCallBody(c))
	if err != nil {
		s.alarm("newCallEventError", "newCall request failed", map[string]any{"reason": err.Error()})
		_ = c.Reject(503, "Service Unavailable", "media service application did not answer newCall")
		reason = "newCallFailed"
		return
	}
	act, err := parseAction(ans, "newCall")
	if err != nil {
		s.alarm("newCallEventError", alarmError(err), map[string]any{"reason": err.Error()})
		_ = c.Reject(500, "Server Internal Error", "media service: "+err.Error())
		reason = "newCallFailed"
		return
	}
	s.setRef(act.SessionRef)
	reason = s.apply(ctx, s.caller, act, false)
}

// placed runs a call placeivrcall made: dial, then the IVR.
func (s *session) placed(act *callAction) {
	ctx := context.Background()
	reason := "calledPartyFailure"
	defer func() { s.complete(reason) }()
	d := act.DestAddr[0]
	dctx, cancel := context.WithTimeout(ctx, d.MaxRingTime.dur(act.MaxRingTime.dur(defaultRingTime)))
	out, err := s.svc.cfg.Dial(dctx, s.dialOptions(nil, act, d.DestAddr, true))
	cancel()
	if err != nil {
		code, descr := 480, err.Error()
		var de *engine.DialError
		if errors.As(err, &de) {
			code, descr = de.Code, de.Reason
		}
		body := map[string]any{"domain": s.domain, "event": "calledPartyFailure", "ivrServer": s.svc.cfg.IVRServer,
			"sessionId": s.id, "user": userOf(d.DestAddr), "sipResponseCode": code, "errorDescr": descr}
		if r := s.sessionRef(); r != nil {
			body["sessionReferenceId"] = r
		}
		s.notify(ctx, "callEvent", body)
		return
	}
	p := &participant{id: newID(), user: userOf(d.DestAddr), call: out}
	s.mu.Lock()
	s.caller = p
	s.called = p.user
	s.mu.Unlock()
	reason = s.runIVR(ctx, p)
	_ = out.Hangup()
}

// identify asks the application for the session's call identifier
// (getCallIdentifier {sessionId, calledParty}) the first time the session
// reaches the IVR, when neither newCall's answer nor placeivrcall gave it a
// sessionReferenceId: the answer's sessionReferenceId is then copied into
// every later callback. An application that does not answer (or answers
// 4xx) leaves the session without one; an answer naming another session
// is not taken, and a sessionError alarm says so.
func (s *session) identify(ctx context.Context) {
	s.mu.Lock()
	skip := s.identified || s.ref != nil
	s.identified = true
	called := s.called
	s.mu.Unlock()
	if skip {
		return
	}
	ans, err := s.hook.post(ctx, "getCallIdentifier", map[string]any{"sessionId": s.id, "calledParty": called})
	if err != nil {
		s.log.Info("mediaservice: getCallIdentifier not answered: the session goes on without a sessionReferenceId", "err", err)
		return
	}
	ref, err := parseCallIdentifier(ans, s.id)
	if err != nil {
		s.alarm("sessionError", "IVR command failed", map[string]any{"reason": err.Error()})
		return
	}
	s.setRef(ref)
}

// parseCallIdentifier reads a getCallIdentifier answer for session id: its
// sessionReferenceId (nil for none). An answer naming another session is
// an error.
func parseCallIdentifier(b []byte, id string) (json.RawMessage, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var ans struct {
		SessionID  flexStr         `json:"sessionId"`
		SessionRef json.RawMessage `json:"sessionReferenceId"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return nil, fmt.Errorf("getCallIdentifier response: %v", err)
	}
	if ans.SessionID != "" && string(ans.SessionID) != id {
		return nil, fmt.Errorf("getCallIdentifier response names session %q, not this one", string(ans.SessionID))
	}
	return ans.SessionRef, nil
}

// alarmError is the media service API's error text for err: its own message up to the
// first colon (the media service API's enum), else all of it.
func alarmError(err error) string {
	msg := err.Error()
	for _, known := range []string{"newCall response empty", "newCall response without action", "newCall response with unknown action",
		"callEvent response with unknown action", "No action provided in callEvent response", "Empty body in getIvrCommand response"} {
		if strings.HasPrefix(msg, known) {
			return known
		}
	}
	if strings.HasPrefix(msg, "Invalid sip address") {
		return msg
	}
	if strings.HasPrefix(msg, "getIvrCommand") {
		return "IVR command failed"
	}
	return msg
}

// apply carries out act for p (answered tells whether its call is up) and
// returns the session's end reason.
func (s *session) apply(ctx context.Context, p *participant, act *callAction, answered bool) string {
	switch act.Action {
	case actionDrop:
		code := dropCodes[act.DropCode]
		if act.DropCode == "" {
			code = dropCodes["dropNoMsg"]
		}
		if !answered {
			_ = p.call.Reject(code.code, code.reason, "dropCode "+act.DropCode)
		} else {
			_ = p.call.Hangup()
		}
		return "drop"
	case actionIVR:
		if !answered {
			if err := p.call.Answer(); err != nil {
				return "answerFailed"
			}
		}
		return s.runIVR(ctx, p)
	case actionCall:
		return s.connect(ctx, p, act, answered, 0)
	}
	// httpcall and connect need a cloud SIP UA leg or a second participant
	// this gateway does not keep: refused, not half done.
	s.alarm("sessionError", "IVR command failed", map[string]any{"reason": "action " + act.Action + " is not supported by this gateway's media service"})
	if !answered {
		_ = p.call.Reject(501, "Not Implemented", "action "+act.Action+" is not supported here")
	} else {
		_ = p.call.Hangup()
	}
	return "unsupportedAction"
}

// newCallBody is the newCall request (the media service API's fields).
func (s *session) newCallBody(c *engine.Call) map[string]any {
	req := c.Request()
	body := map[string]any{
		"sessionId": s.id, "sipCallId": c.ID, "ivrServer": s.svc.cfg.IVRServer,
		"callingParty": c.Caller, "fromUser": c.Caller, "calledParty": c.Called,
		"callingPartyPrivacy": "public", "srcAddr": hostOf(c.Source),
	}
	if c.CallerName != "" {
		body["displayName"] = c.CallerName
	}
	x, p := map[string]any{}, map[string]any{}
	if req != nil {
		for _, h := range req.Headers() {
			name := strings.ToLower(h.Name())
			v := h.Value()
			switch {
			case name == "p-asserted-identity":
				if u := uriUser(v); u != "" {
					body["callingParty"], body["paiNumber"] = u, u
				}
				if d := displayOf(v); d != "" {
					body["displayName"] = d
				}
				addHeader(p, name, v)
			case name == "privacy":
				if strings.Contains(strings.ToLower(v), "id") || strings.Contains(strings.ToLower(v), "user") {
					body["callingPartyPrivacy"] = "secret"
				}
			case name == "diversion":
				if old, ok := body["diversionHeaders"].(string); ok {
					v = old + ", " + v
				}
				body["diversionHeaders"] = v
			case name == "referred-by":
				body["referredBy"] = v
			case name == "subject":
				body["subject"] = v
			case strings.HasPrefix(name, "x-"):
				addHeader(x, name, v)
			case strings.HasPrefix(name, "p-"):
				addHeader(p, name, v)
			}
		}
	}
	body["xHeaders"], body["pHeaders"] = x, p
	return body
}

// addHeader puts a header value in the media service API's object form: a string, or
// an array of strings for a header given more than once.
func addHeader(m map[string]any, name, v string) {
	switch old := m[name].(type) {
	case nil:
		m[name] = v
	case string:
		m[name] = []string{old, v}
	case []string:
		m[name] = append(old, v)
	}
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

func uriUser(v string) string {
	i := strings.Index(v, "sip:")
	if i < 0 {
		i = strings.Index(v, "tel:")
	}
	if i < 0 {
		return ""
	}
	rest := v[i+4:]
	if j := strings.IndexAny(rest, "@>;"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func displayOf(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i > 0 {
		return strings.Trim(strings.TrimSpace(v[:i]), `"`)
	}
	return ""
}

// dtmfParams is getIvrCommand's dtmfParams.
type dtmfParams struct {
	DTMFMatch       string `json:"dtmfMatch,omitempty"`
	Reason          string `json:"reason"`
	MatchedTermKey  string `json:"matchedTerminationKey,omitempty"`
	Encryption      any    `json:"encryption,omitempty"`
	encryptedBuffer string
}

// Why the collection of digits ended (dtmfParams.reason).
const (
	reasonMaxDigits   = "maxDigits"
	reasonTermKey     = "terminationKey"
	reasonFirstTO     = "firstTimeout"
	reasonBetweenTO   = "betweenTimeout"
	reasonInterrupted = "interrupted"
)

// Defaults when the dtmf object leaves them out.
const (
	defaultFirstTimeout   = 10 * time.Second
	defaultBetweenTimeout = 3 * time.Second
)

var errSessionEnded = errors.New("session ended")

// errSplit: splitconnection of the IVR connection ended the command.
var errSplit = errors.New("connection split")

// splitIVR carries out splitconnection of p's connection to the IVR, the
// media service API's way out of the IVR: callEvent callerConnectionSplit
// for p (the IVR is no participant), and its answer applied to p: "call"
// transfers it, "ivr" starts a new IVR connection, "drop" hangs it up.
func (s *session) splitIVR(ctx context.Context, p *participant) string {
	act := s.callEvent(ctx, p, nil, "callerConnectionSplit", nil)
	return s.apply(ctx, p, act, true)
}

// runIVR runs the IVR on p: getIvrCommand, play, collect, again, until a
// command hangs up or hands the call on, or the participant hangs up.
func (s *session) runIVR(ctx context.Context, p *participant) string {
	sess := p.call.Session()
	if sess == nil {
		return "noMedia"
	}
	select {
	case <-s.splitReq: // asked of an earlier connection
	default:
	}
	s.mu.Lock()
	s.connID = newID()
	connID := s.connID
	s.ivrConn = connID // splitconnection may name it from now on
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.ivrConn == connID {
			s.ivrConn = ""
		}
		s.mu.Unlock()
	}()
	loop := newMediaLoop(sess, s.svc.prompts, s.domain, &s.rec, func(what string, err error) {
		s.alarm("ivrCommandError", what, map[string]any{"reason": err.Error()})
	})
	stop := make(chan struct{})
	loopDone := make(chan struct{}) // closed when the loop has stopped
	go func() { _ = loop.run(stop); close(loopDone) }()
	var once sync.Once
	stopLoop := func() {
		once.Do(func() {
			close(stop)
			<-loopDone
			loop.close()
			s.finishRecording(context.WithoutCancel(ctx))
		})
	}
	defer stopLoop()
	s.identify(ctx)
	// Before the first getIvrCommand, so the application knows the
	// connection (to record it, say) before the IVR plays anything.
	s.notify(ctx, "callAnswered", s.answeredBody(p, nil, connID))

	var params *dtmfParams
	var buf []byte
	for {
		body := map[string]any{"sessionId": s.id, "ivrServer": s.svc.cfg.IVRServer, "replyId": s.replyID()}
		if r := s.sessionRef(); r != nil {
			body["sessionReferenceId"] = r
		}
		if params != nil {
			body["dtmfParams"] = params
			if params.encryptedBuffer != "" {
				body["dtmfBuffer"] = params.encryptedBuffer
			} else if len(buf) > 0 {
				body["dtmfBuffer"] = string(buf)
			}
			buf = buf[:0]
		}
		params = nil
		ans, err := s.hook.post(ctx, "getIvrCommand", body)
		if err != nil {
			if ctx.Err() != nil {
				return "callingPartyDrop"
			}
			s.alarm("ivrCommandError", "getIvrCommand request error", map[string]any{"reason": err.Error()})
			_ = p.call.Hangup()
			return "ivrCommandError"
		}
		cmd, err := parseCommand(ans)
		if err != nil {
			s.alarm("ivrCommandError", alarmError(err), map[string]any{"reason": err.Error()})
			_ = p.call.Hangup()
			return "ivrCommandError"
		}
		s.setRef(cmd.SessionRef)
		if cmd.callAction != nil {
			stopLoop()
			return s.apply(ctx, p, cmd.callAction, true)
		}
		if len(cmd.Phrases) == 0 && cmd.DTMF == nil && !cmd.Hangup && !cmd.After.Set {
			// Nothing to play, collect or wait for: asking again at once
			// would loop on the application as fast as it answers.
			s.alarm("ivrCommandError", "IVR command failed", map[string]any{"reason": "the command has no phrases, dtmf, hangup or getIVRCommandAfter"})
			_ = p.call.Hangup()
			return "ivrCommandError"
		}
		loop.setBackground(cmd.Background)
		done := loop.play(cmd.Phrases)
		params, buf, err = s.collect(ctx, p, loop, cmd, done, buf, loopDone)
		if errors.Is(err, errSplit) {
			stopLoop()
			return s.splitIVR(ctx, p)
		}
		if err != nil {
			return "callingPartyDrop"
		}
		if cmd.Hangup {
			select {
			case <-done:
			case <-p.call.Done():
			}
			_ = p.call.Hangup()
			return "hangup"
		}
		if cmd.After.Set && cmd.DTMF == nil {
			t := time.NewTimer(cmd.After.dur(0))
			select {
			case <-t.C:
			case <-s.interrupt:
			case <-s.splitReq:
				t.Stop()
				stopLoop()
				return s.splitIVR(ctx, p)
			case <-p.call.Done():
				t.Stop()
				return "callingPartyDrop"
			case why := <-s.hangup:
				t.Stop()
				_ = p.call.Hangup()
				return why
			}
		}
	}
}

func drain(c chan byte) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// collect plays the command's phrases and collects its digits; it returns
// the next request's dtmfParams (nil when the command asked for none) and
// the buffer.
func (s *session) collect(ctx context.Context, p *participant, loop *mediaLoop, cmd *ivrCommand, done <-chan struct{}, buf []byte, loopDone <-chan struct{}) (*dtmfParams, []byte, error) {
	d := cmd.DTMF
	if d != nil && d.Flush {
		buf = buf[:0] // keys typed ahead of this command do not count
		drain(loop.keys)
	}
	barge := string(cmd.BargeIn)
	var timer *time.Timer
	var timeout <-chan time.Time
	firstReason := reasonFirstTO
	arm := func(dur time.Duration, why string) {
		if timer != nil {
			timer.Stop()
		}
		timer = time.NewTimer(dur)
		timeout = timer.C
		firstReason = why
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	result := func(reason, term string) *dtmfParams {
		out := &dtmfParams{Reason: reason, MatchedTermKey: term, DTMFMatch: string(buf)}
		if d != nil && d.Encryption != nil && d.Encryption.Type == "md5" {
			sum := md5.Sum([]byte(d.Encryption.Salt + string(buf)))
			out.DTMFMatch = hex.EncodeToString(sum[:])
			out.encryptedBuffer = out.DTMFMatch
			out.Encryption = map[string]string{"type": "md5"}
		}
		return out
	}
	playing := true
	for {
		select {
		case <-done:
			if playing {
				playing = false
				done = nil
				if d == nil {
					return nil, buf, nil
				}
				if len(buf) == 0 {
					arm(d.FirstTO.dur(defaultFirstTimeout), reasonFirstTO)
				} else {
					arm(d.BetweenTO.dur(defaultBetweenTimeout), reasonBetweenTO)
				}
			}
		case k := <-loop.keys:
			if playing && (barge == "current" || barge == "all") {
				loop.stopPhrase(barge == "all")
			}
			if d == nil {
				buf = append(buf, k)
				continue
			}
			if d.TermKey != "" && k == d.TermKey[0] {
				loop.stopPhrase(true)
				return result(reasonTermKey, d.TermKey), buf, nil
			}
			buf = append(buf, k)
			if d.MaxDigits.Set && d.MaxDigits.V > 0 && len(buf) >= int(d.MaxDigits.V) {
				loop.stopPhrase(true)
				return result(reasonMaxDigits, ""), buf, nil
			}
			if !playing {
				arm(d.BetweenTO.dur(defaultBetweenTimeout), reasonBetweenTO)
			}
		case <-timeout:
			return result(firstReason, ""), buf, nil
		case <-s.interrupt:
			loop.stopPhrase(true)
			return result(reasonInterrupted, ""), buf, nil
		case <-s.splitReq:
			return nil, buf, errSplit
		case why := <-s.hangup:
			_ = p.call.Hangup()
			return nil, buf, fmt.Errorf("%w: %s", errSessionEnded, why)
		case <-p.call.Done():
			return nil, buf, errSessionEnded
		case <-loopDone:
			return nil, buf, errSessionEnded
		case <-ctx.Done():
			return nil, buf, errSessionEnded
		}
	}
}

// answeredBody is callAnswered for a connection of a and b (b nil: a is
// connected to the IVR).
func (s *session) answeredBody(a, b *participant, connID string) map[string]any {
	body := map[string]any{
		"callingPartyNumber": a.user, "callerParticipantId": a.id, "connectionId": connID,
		"monitoringParticipant": false, "replyId": s.replyID(), "traceId": s.trace, "httpTransactionId": newID(),
	}
	if b != nil {
		body["calleeParticipantId"], body["remotePartyNumber"] = b.id, b.user
	} else {
		body["calleeParticipantId"], body["remotePartyNumber"] = s.id, "ivr"
	}
	if r := s.sessionRef(); r != nil {
		body["sessionReferenceId"] = r
	}
	return body
}

// maxTransfers bounds how often callEvent answers may hand a call on.
const maxTransfers = 8

// defaultRingTime is how long a destination rings when no maxRingTime is set.
const defaultRingTime = 60 * time.Second

// connect calls act's destinations in turn and connects p to the first
// that answers, until one side hangs up; then callEvent asks what to do
// with the other.
func (s *session) connect(ctx context.Context, p *participant, act *callAction, answered bool, depth int) string {
	if depth > maxTransfers {
		_ = p.call.Hangup()
		return "tooManyTransfers"
	}
	var out *engine.Call
	var lastErr error
	stopRing := func() {}
	if sess := p.call.Session(); answered && sess != nil && (act.RingbackTone == "" || act.RingbackTone == "default") {
		stop, done := make(chan struct{}), make(chan struct{})
		go func() { defer close(done); ringback(sess, stop) }()
		var once sync.Once
		// Stopped once the dialling is over: the greeting or the bridge
		// reads and writes the caller's leg next.
		stopRing = func() { once.Do(func() { close(stop); <-done }) }
		defer stopRing()
	}
	for _, d := range act.DestAddr {
		ring := d.MaxRingTime.dur(act.MaxRingTime.dur(defaultRingTime))
		dctx, cancel := context.WithTimeout(ctx, ring)
		c, err := s.svc.cfg.Dial(dctx, s.dialOptions(p, act, d.DestAddr, answered))
		cancel()
		if err == nil {
			out = c
			break
		}
		lastErr = err
		s.log.Info("mediaservice: destination did not answer", "to", d.DestAddr, "err", err)
		if ctx.Err() != nil || p.call.Context().Err() != nil {
			return "callingPartyDrop"
		}
	}
	if out == nil {
		code, descr := 480, "no answer"
		var de *engine.DialError
		if errors.As(lastErr, &de) {
			code, descr = de.Code, de.Reason
		} else if lastErr != nil {
			descr = lastErr.Error()
		}
		next := s.callEvent(ctx, p, nil, "calledPartyFailure", map[string]any{"sipResponseCode": code, "errorDescr": descr})
		if next.Action == actionDrop && !answered {
			dc := dropCodes[next.DropCode]
			if next.DropCode == "" {
				dc.code, dc.reason = code, descr
				if code < 400 {
					dc.code, dc.reason = 480, "Temporarily Unavailable"
				}
			}
			_ = p.call.Reject(dc.code, dc.reason, "destination failed: "+descr)
			return "calledPartyFailure"
		}
		return s.apply(ctx, p, next, answered)
	}
	defer out.Hangup()
	stopRing()
	if !answered {
		if err := p.call.Answer(); err != nil {
			return "answerFailed"
		}
	}
	callee := &participant{id: newID(), user: out.Called, call: out}
	select {
	case <-s.splitReq: // asked of an earlier connection, before this one has an id
	default:
	}
	if act.Greeting != nil {
		// A party that hangs up meanwhile ends the greeting; the bridge
		// below then reports it as for any connection.
		s.greet(p, callee, act.Greeting)
	}
	s.mu.Lock()
	s.callee = callee
	s.connID = newID()
	connID := s.connID
	s.mu.Unlock()
	if act.CallRecording {
		name := act.RecordingName
		if name == "" {
			name = connID + ".wav"
		}
		if err := s.startRecording(name, connID); err != nil {
			s.recordingFailed(ctx, name, connID, err)
		}
	}
	tap := &duplexTap{slot: &s.rec}
	stopMonitor := func() {}
	if act.MonitorDestAddr != "" {
		stopMonitor = s.monitor(ctx, p, act, connID, tap)
	}
	s.notify(ctx, "callAnswered", s.answeredBody(p, callee, connID))
	callerLeft, split := s.bridge(ctx, p, callee, tap)
	stopMonitor()
	s.finishRecording(context.WithoutCancel(ctx))
	s.mu.Lock()
	s.callee = nil
	s.mu.Unlock()
	if ctx.Err() != nil {
		return "shutdown"
	}
	if split {
		return s.split(ctx, p, callee)
	}
	if callerLeft {
		next := s.callEvent(ctx, callee, p, "callingPartyDrop", nil)
		if next.Action == actionCall || next.Action == actionIVR {
			// The callee stays on: it is the session's participant now.
			return s.apply(ctx, callee, next, true)
		}
		return "callingPartyDrop"
	}
	next := s.callEvent(ctx, p, callee, "calledPartyDrop", nil)
	if next.Action == actionCall {
		return s.connect(ctx, p, next, true, depth+1)
	}
	return s.apply(ctx, p, next, true)
}

// split carries out splitconnection: a callEvent per participant, each
// answer applied to its own participant. The callee may only be dropped
// or put in the IVR on its own (the session follows one connection at a
// time); the caller's answer may be anything.
func (s *session) split(ctx context.Context, caller, callee *participant) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		act := s.callEvent(ctx, callee, nil, "calleeConnectionSplit", nil)
		switch act.Action {
		case actionIVR:
			s.runIVR(ctx, callee)
		case actionDrop:
		default:
			s.alarm("callEventError", "callEvent response with unknown action",
				map[string]any{"reason": "after a split the callee can be dropped or put in the IVR here, not " + act.Action})
		}
		_ = callee.call.Hangup()
	}()
	act := s.callEvent(ctx, caller, nil, "callerConnectionSplit", nil)
	reason := s.apply(ctx, caller, act, true)
	<-done
	return reason
}

// monitor places the monitoring call of a connection (monitorDestAddr):
// once it answers, callAnswered (monitoringParticipant true) tells the
// application, and it hears both parties mixed (through tap) until the
// returned stop is called at the end of the connection, which also cancels
// it while it rings. What the monitor sends is dropped. A monitoring call
// that fails or hangs up leaves the connection as it is (logged).
func (s *session) monitor(ctx context.Context, p *participant, act *callAction, connID string, tap *duplexTap) (stop func()) {
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The API gives a monitoring leg callNotify and callAnswered, each
		// with monitoringParticipant true.
		m := &participant{id: newID(), user: userOf(act.MonitorDestAddr)}
		o := s.monitorOptions(p, act)
		var ringing sync.Once
		o.OnProgress = func(code int, _, callID string) {
			if code != 180 {
				return
			}
			ringing.Do(func() {
				body := map[string]any{"event": "ringing", "monitoringParticipant": true, "sessionId": s.id, "user": m.user,
					"remoteUser": p.user, "participantId": m.id, "remoteParticipantId": p.id, "sipCallId": callID,
					"ivrServer": s.svc.cfg.IVRServer, "traceId": s.trace}
				if r := s.sessionRef(); r != nil {
					body["sessionReferenceId"] = r
				}
				go s.notify(context.WithoutCancel(ctx), "callNotify", body)
			})
		}
		dctx, dcancel := context.WithTimeout(mctx, act.MaxRingTime.dur(defaultRingTime))
		out, err := s.svc.cfg.Dial(dctx, o)
		dcancel()
		if err != nil {
			s.log.Info("mediaservice: monitoring call not answered", "to", act.MonitorDestAddr, "err", err)
			return
		}
		defer out.Hangup()
		sess := out.Session()
		if sess == nil {
			return
		}
		m.call = out
		body := s.answeredBody(p, m, connID)
		body["monitoringParticipant"] = true
		go s.notify(context.WithoutCancel(ctx), "callAnswered", body)
		tap.setMonitor(sess)
		defer tap.setMonitor(nil)
		frame := make([]int16, frameSamples)
		for mctx.Err() == nil && sess.ReadFrame(frame) == nil {
		}
	}()
	return func() { cancel(); <-done }
}

// monitorOptions is the monitoring call: From (and P-Asserted-Identity)
// monitorSipFrom, else the monitored caller's user; the X- and P- headers
// of the monitored call's INVITE, with monitorXHeaders and monitorPHeaders
// replacing (or, null, removing) those of their names and adding the rest.
func (s *session) monitorOptions(p *participant, act *callAction) engine.DialOptions {
	from := string(act.MonitorSIPFrom)
	o := engine.DialOptions{To: act.MonitorDestAddr, From: cmp.Or(from, p.user, "ivr"), Domain: s.domain}
	if from != "" {
		o.Headers = append(o.Headers, sip.NewHeader("P-Asserted-Identity", "<sip:"+from+"@"+s.domain+">"))
	}
	set := map[string]bool{}
	for _, m := range []map[string]any{act.MonitorXHeaders, act.MonitorPHeaders} {
		for k, v := range m {
			set[strings.ToLower(k)] = true
			o.Headers = append(o.Headers, headerValues(k, v)...)
		}
	}
	if req := p.call.Request(); req != nil && p.call.Inbound {
		for _, h := range req.Headers() {
			n := strings.ToLower(h.Name())
			if (strings.HasPrefix(n, "x-") || strings.HasPrefix(n, "p-")) && !set[n] &&
				n != "p-asserted-identity" && n != "p-preferred-identity" && safeText(h.Value()) {
				o.Headers = append(o.Headers, sip.NewHeader(h.Name(), h.Value()))
			}
		}
	}
	return o
}

// greet plays a call action's greeting before its two participants are
// connected: each hears its own phrases (caller.phrases, callee.phrases)
// while the other hears silence, the callee's first for playMode
// calleeFirst, the caller's first for callerFirst, both at once for
// simultaneous (the default). It returns when both are played or either
// party has hung up.
func (s *session) greet(caller, callee *participant, g *greeting) {
	sa, sb := caller.call.Session(), callee.call.Session()
	if sa == nil || sb == nil {
		return
	}
	onError := func(what string, err error) {
		s.alarm("ivrCommandError", what, map[string]any{"reason": "greeting: " + err.Error()})
	}
	var noRec recSlot
	la := newMediaLoop(sa, s.svc.prompts, s.domain, &noRec, onError)
	lb := newMediaLoop(sb, s.svc.prompts, s.domain, &noRec, onError)
	stop := make(chan struct{})
	doneA, doneB := make(chan struct{}), make(chan struct{})
	go func() { _ = la.run(stop); close(doneA) }()
	go func() { _ = lb.run(stop); close(doneB) }()
	wait := func(played <-chan struct{}) bool {
		select {
		case <-played:
			return true
		case <-doneA:
		case <-doneB:
		case <-caller.call.Done():
		case <-callee.call.Done():
		}
		return false
	}
	switch g.PlayMode {
	case playCalleeFirst:
		_ = wait(lb.play(g.Callee.Phrases)) && wait(la.play(g.Caller.Phrases))
	case playCallerFirst:
		_ = wait(la.play(g.Caller.Phrases)) && wait(lb.play(g.Callee.Phrases))
	default:
		pa, pb := la.play(g.Caller.Phrases), lb.play(g.Callee.Phrases)
		_ = wait(pa) && wait(pb)
	}
	close(stop)
	<-doneA
	<-doneB
	la.close()
	lb.close()
}

// ringback plays the ringback tone (425 Hz, 1 s on, 4 s off: ETSI ES 201
// 970) to an answered participant while its next destination rings, until
// stop (ringbackTone "default"; the media service API's other values leave the caller's
// side to make it, or keep silence).
func ringback(sess *media.Session, stop <-chan struct{}) {
	g, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: 425, DBm0: -10, Ms: 1000}, dsp.ToneSegment{Ms: 4000})
	if err != nil {
		return
	}
	frame := make([]int16, frameSamples)
	for {
		select {
		case <-stop:
			return
		default:
		}
		if sess.ReadFrame(frame) != nil { // paced by the leg's clock
			return
		}
		g.Generate(frame)
		if sess.WriteFrame(frame) != nil {
			return
		}
	}
}

// callEvent tells the application a party dropped (or failed) and returns
// what to do with the remaining one (drop when it does not answer usefully).
func (s *session) callEvent(ctx context.Context, remaining, dropped *participant, event string, extra map[string]any) *callAction {
	s.mu.Lock()
	connID := s.connID
	s.mu.Unlock()
	body := map[string]any{
		"connectionId": connID, "domain": s.domain, "event": event, "ivrServer": s.svc.cfg.IVRServer,
		"sessionId": s.id, "replyId": s.replyID(), "participantId": remaining.id, "user": remaining.user,
	}
	if dropped != nil {
		body["participantId"], body["user"] = dropped.id, dropped.user
		body["remoteParticipantId"], body["remoteUser"] = remaining.id, remaining.user
	}
	for k, v := range extra {
		body[k] = v
	}
	if r := s.sessionRef(); r != nil {
		body["sessionReferenceId"] = r
	}
	drop := &callAction{Action: actionDrop}
	if remaining.call.Context().Err() != nil {
		s.notify(ctx, "callEvent", body)
		return drop
	}
	ans, err := s.hook.post(ctx, "callEvent", body)
	if err != nil {
		s.alarm("callEventError", "No response to callEvent request", map[string]any{"reason": err.Error()})
		return drop
	}
	act, err := parseAction(ans, "callEvent")
	if err != nil {
		msg := alarmError(err)
		if strings.Contains(err.Error(), "without action") {
			msg = "No action provided in callEvent response"
		}
		s.alarm("callEventError", msg, map[string]any{"reason": err.Error()})
		return drop
	}
	s.setRef(act.SessionRef)
	return act
}

// dialOptions builds the outbound leg of a call action (media service API: sipFrom,
// displayName, callerPrivacy, sipPAI, sipRPID, sipDiversion with its
// parameters, xHeaders, pHeaders, copyHeaders).
func (s *session) dialOptions(p *participant, act *callAction, dest string, answered bool) engine.DialOptions {
	from := string(act.SIPFrom)
	if from == "" && p != nil {
		from = p.user
	}
	if from == "" {
		from = "ivr"
	}
	o := engine.DialOptions{To: dest, From: from, FromName: act.DisplayName, Domain: s.domain, ToUser: string(act.SIPTo),
		ContactParams: uriParams(act.ContactParams), ContactUserParams: uriParams(act.ContactUserParam)}
	if act.CallerPrivacy {
		o.From, o.FromName = "anonymous", "Anonymous"
		o.Headers = append(o.Headers, sip.NewHeader("Privacy", "id"))
	}
	if v := string(act.SIPPAI); v != "" {
		o.Headers = append(o.Headers, sip.NewHeader("P-Asserted-Identity", "<sip:"+v+"@"+s.domain+">"))
	}
	if v := string(act.SIPRPID); v != "" {
		o.Headers = append(o.Headers, sip.NewHeader("Remote-Party-ID", "<sip:"+v+"@"+s.domain+">;party=calling"))
	}
	if v := string(act.SIPDiversion); v != "" {
		h := "<sip:" + v + "@" + s.domain + ">"
		for k, pv := range act.DiversionParams {
			h += ";" + k + "=" + fmt.Sprint(pv)
		}
		o.Headers = append(o.Headers, sip.NewHeader("Diversion", h))
	}
	for _, m := range []map[string]any{act.XHeaders, act.PHeaders} {
		for k, v := range m {
			o.Headers = append(o.Headers, headerValues(k, v)...)
		}
	}
	if p == nil {
		return o
	}
	if req := p.call.Request(); req != nil && p.call.Inbound {
		for _, name := range act.CopyHeaders {
			ln := strings.ToLower(name)
			if !strings.HasPrefix(ln, "x-") && !strings.HasPrefix(ln, "p-") {
				continue
			}
			for _, h := range req.GetHeaders(name) {
				o.Headers = append(o.Headers, sip.NewHeader(h.Name(), h.Value()))
			}
		}
	}
	o.OnProgress = func(code int, _, _ string) {
		if code != 180 {
			return
		}
		body := map[string]any{"event": "ringing", "monitoringParticipant": false, "sessionId": s.id, "user": p.user,
			"remoteUser": userOf(dest), "participantId": p.id, "sipCallId": p.call.ID, "ivrServer": s.svc.cfg.IVRServer, "traceId": s.trace}
		if r := s.sessionRef(); r != nil {
			body["sessionReferenceId"] = r
		}
		go s.notify(context.Background(), "callNotify", body)
		if !answered && act.RingbackTone != "silent" {
			_ = p.call.Ring()
		}
	}
	return o
}

// uriParams is contactParameters or contactUserParameters in key order
// (parseAction checked each is a token).
func uriParams(m map[string]any) sip.HeaderParams {
	if len(m) == 0 {
		return nil
	}
	out := make(sip.HeaderParams, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, sip.HeaderKV{K: k, V: paramValue(m[k])})
	}
	return out
}

// userOf is the user part of a SIP URI, or the number itself.
func userOf(dest string) string {
	if u := uriUser(dest); u != "" {
		return u
	}
	return dest
}

// headerValues is one xHeaders/pHeaders entry: a value or a list of values
// (null removes, which for a new request means none).
func headerValues(name string, v any) []sip.Header {
	if !validHeaderName(name) {
		return nil
	}
	switch v := v.(type) {
	case string:
		if !safeText(v) {
			return nil
		}
		return []sip.Header{sip.NewHeader(name, v)}
	case float64:
		return []sip.Header{sip.NewHeader(name, strconv.FormatFloat(v, 'f', -1, 64))}
	case bool:
		return []sip.Header{sip.NewHeader(name, strconv.FormatBool(v))}
	case []any:
		var out []sip.Header
		for _, e := range v {
			out = append(out, headerValues(name, e)...)
		}
		return out
	}
	return nil
}

func validHeaderName(n string) bool {
	if len(n) < 3 || len(n) > 64 {
		return false
	}
	ln := strings.ToLower(n)
	if !strings.HasPrefix(ln, "x-") && !strings.HasPrefix(ln, "p-") {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// bridge connects a and b until one hangs up, hangupcall or
// splitconnection; aLeft when a left first, split when split. Both directions pass through here, so the connection can be
// recorded; keys received on one leg are sent on the other.
func (s *session) bridge(ctx context.Context, a, b *participant, tap *duplexTap) (aLeft, split bool) {
	sa, sb := a.call.Session(), b.call.Session()
	if sa == nil || sb == nil {
		return sa == nil, false
	}
	var fa, fb [frameSamples]int16
	errA, errB := make(chan error, 1), make(chan error, 1)
	stop := make(chan struct{})
	// Each direction on its own goroutine: ReadFrame paces each leg by its
	// own clock; tap records the two and feeds a monitoring call.
	go func() { errA <- pumpLeg(sa, sb, fa[:], stop, tap.fromA) }()
	go func() { errB <- pumpLeg(sb, sa, fb[:], stop, tap.fromB) }()
	// Which leg left is read from the legs, not from which pump stopped
	// first: a hang-up stops both pumps (one reads, one writes the ended
	// leg), in either order.
	ended := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	select {
	case <-s.splitReq:
		split = true
	case <-errA:
		aLeft = !ended(sb.Done()) && !ended(b.call.Done())
	case <-errB:
		aLeft = ended(sa.Done()) || ended(a.call.Done())
	case <-a.call.Done():
		aLeft = true
	case <-b.call.Done():
	case why := <-s.hangup:
		s.log.Info("mediaservice: hung up by command", "why", why)
		_ = a.call.Hangup()
		aLeft = true
	case <-ctx.Done():
	}
	close(stop)
	<-waitIf(errA, split)
	<-waitIf(errB, split)
	return aLeft, split
}

// waitIf waits for a pump to stop after a split (the legs go on, so each
// must let go of them before another loop reads them); otherwise it does
// not wait.
func waitIf(c chan error, split bool) <-chan error {
	if split {
		return c
	}
	done := make(chan error)
	close(done)
	return done
}

// pumpLeg copies from's audio and keys to to until from ends or stop.
func pumpLeg(from, to *media.Session, frame []int16, stop <-chan struct{}, tap func([]int16)) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := from.ReadFrame(frame); err != nil {
			return err
		}
		for more := true; more; {
			select {
			case d, ok := <-from.Digits():
				if ok {
					_ = to.SendDigit(d.Key, int(max(d.DurationMs(), 80)))
				} else {
					more = false
				}
			default:
				more = false
			}
		}
		tap(frame)
		if err := to.WriteFrame(frame); err != nil {
			return err
		}
	}
}

// recorder is the session's recording with where recordingReady goes.
func (s *session) recorder() recorder {
	return recorder{svc: s.svc, domain: s.domain, sessID: s.id, hook: s.hook, slot: &s.rec, log: s.log}
}

// startRecording starts recording the current connection into name.
func (s *session) startRecording(name, connID string) error { return s.recorder().start(name, connID) }

// finishRecording ends a running recording and sends recordingReady.
func (s *session) finishRecording(ctx context.Context) bool { return s.recorder().finish(ctx) }

func (s *session) recordingFailed(ctx context.Context, name, connID string, err error) {
	s.recorder().failed(ctx, name, connID, err)
}

// complete ends the session: sessionCompleted, and it leaves the table.
func (s *session) complete(reason string) {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.svc.sessions.Delete(s.id)
	body := map[string]any{
		"sessionId": s.id, "domain": s.domain, "sessionDuration": strconv.FormatFloat(time.Since(s.start).Seconds(), 'f', 1, 64),
		"reason": reason, "ivrServer": s.svc.cfg.IVRServer, "traceId": s.trace, "httpTransactionId": newID(),
	}
	if r := s.sessionRef(); r != nil {
		body["sessionReferenceId"] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.hook.total)
	defer cancel()
	s.notify(ctx, "sessionCompleted", body)
}
