package mediaservice

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
)

// Alarm sessions: a live alarm call of the gateway's alarm stage is a
// session the media service commands can name. The gateway registers each
// (StartAlarmSession), quotes AlarmReplyID as the replyId of the call's
// newAlarmbridgeEvent callbacks, feeds the call's audio through the
// session (Channel while the alarm receiver runs, FromUnit/ToUnit across
// the voice bridge) and tells it when the voice connection is up
// (Connected), so startrecording, stoprecording and splitconnection work
// on it with the same recording code as an IVR session.

// alarmPrefix marks an alarm session's id inside a replyId, so it never
// names a media service session.
const alarmPrefix = "alarm/"

// AlarmSession is a live alarm call as the media service commands see it.
type AlarmSession struct {
	svc    *Service
	domain string
	id     string // the alarm call's Call-ID: newAlarmbridgeEvent's sessionId
	caller string // the unit's user
	log    *slog.Logger
	// callback finds where recordingReady and callEvent go, once asked
	// (hookOnce): nothing of it runs on the alarm call's way in.
	callback func() *delivery.Endpoint
	hookOnce sync.Once
	hook     *hook // nil: nowhere
	rec      recSlot
	tap      duplexTap

	mu        sync.Mutex
	elsewhere string // why the call's audio does not pass the gateway ("": it does)
	callee    string // the voice destination's user, while connected
	calleeID  string // its participantId (the voice leg's Call-ID)
	split     func() // ends the voice bridge; nil when not connected
	splitting bool
}

// StartAlarmSession registers a live alarm call of domain (its Call-ID,
// the unit's user). callback finds the HTTP callback its
// newAlarmbridgeEvent goes to (nil: none; recordings are then refused):
// recordingReady and callEvent go to the same base URL, signed the same
// way. It is asked the first time a command needs it. End unregisters the
// session.
func (s *Service) StartAlarmSession(domain, callID, caller string, callback func() *delivery.Endpoint) *AlarmSession {
	a := &AlarmSession{svc: s, domain: domain, id: callID, caller: caller, log: s.log.With("alarmcall", callID), callback: callback}
	a.tap.slot = &a.rec
	s.alarms.Store(callID, a)
	return a
}

// callbacks is the session's callback sender, nil when it has none.
func (a *AlarmSession) callbacks() *hook {
	a.hookOnce.Do(func() {
		if a.callback == nil {
			return
		}
		cb := a.callback()
		if cb == nil {
			return
		}
		h, err := newHookEndpoint(*cb, a.svc.tls)
		if err != nil {
			a.log.Warn("mediaservice: alarm session without callbacks", "err", err)
			return
		}
		a.hook = h
	})
	return a.hook
}

// AlarmReplyID is the replyId of the newAlarmbridgeEvent callbacks of the
// alarm call callID of domain: signed as a media service replyId, bound to
// the call and its domain.
func (s *Service) AlarmReplyID(domain, callID string) string {
	return s.tokens.issue(domain, alarmPrefix+callID)
}

// AlarmCallID is the Call-ID an alarm call's replyId names, when replyID
// is one this gateway issued for domain.
func (s *Service) AlarmCallID(domain, replyID string) (string, bool) {
	d, id, err := s.tokens.check(replyID)
	if err != nil || d != domain {
		return "", false
	}
	return strings.CutPrefix(id, alarmPrefix)
}

// End finishes a running recording (recordingReady) and unregisters the
// session.
func (a *AlarmSession) End() {
	a.svc.alarms.Delete(a.id)
	if a.rec.running() { // a recording started only once its callback was found
		a.recorder().finish(context.Background())
	}
}

func (a *AlarmSession) recorder() recorder {
	return recorder{svc: a.svc, domain: a.domain, sessID: a.id, hook: a.callbacks(), slot: &a.rec, log: a.log}
}

// Channel is ch (the unit's leg while the alarm receiver runs) with its
// audio recorded while a recording runs.
func (a *AlarmSession) Channel(ch alarm.Channel) alarm.Channel { return tappedChannel{ch, a} }

type tappedChannel struct {
	alarm.Channel
	a *AlarmSession
}

func (t tappedChannel) ReadFrame(pcm []int16) error {
	err := t.Channel.ReadFrame(pcm)
	if err == nil {
		t.a.FromUnit(pcm)
	}
	return err
}

func (t tappedChannel) WriteFrame(pcm []int16) error {
	t.a.ToUnit(pcm)
	return t.Channel.WriteFrame(pcm)
}

// FromUnit records a frame the unit sent (the recording runs on the unit's
// clock); ToUnit one it was sent. Allocation-free.
func (a *AlarmSession) FromUnit(pcm []int16) { a.tap.fromA(pcm) }

// ToUnit: see FromUnit.
func (a *AlarmSession) ToUnit(pcm []int16) { a.tap.fromB(pcm) }

// MediaElsewhere tells the session its audio is about to stop passing the
// gateway (why says where it goes, for startrecording's refusal). It
// reports false, and nothing changes, while a recording runs: the audio
// must stay. MediaBack undoes it.
func (a *AlarmSession) MediaElsewhere(why string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rec.running() {
		return false
	}
	a.elsewhere = why
	return true
}

// MediaBack: the call's audio passes the gateway again (MediaElsewhere).
func (a *AlarmSession) MediaBack() {
	a.mu.Lock()
	a.elsewhere = ""
	a.mu.Unlock()
}

// Connected tells the session its voice connection is up: the unit bridged
// to the voice destination callee (user, and its leg's Call-ID as its
// participantId). splitconnection calls split, which must end the bridge.
// The returned function, called once the bridge has ended, reports
// whether it was split; if so it has sent the callEvents
// callerConnectionSplit and calleeConnectionSplit first, and the gateway
// drops both parties (the only action an alarm session's participants
// take: anything else in an answer raises callEventError).
func (a *AlarmSession) Connected(callee, calleeID string, split func()) (down func(ctx context.Context) bool) {
	a.mu.Lock()
	a.callee, a.calleeID, a.split, a.splitting = callee, calleeID, split, false
	a.mu.Unlock()
	return func(ctx context.Context) bool {
		a.mu.Lock()
		was := a.splitting
		a.split, a.splitting = nil, false
		a.mu.Unlock()
		if was {
			a.splitEvent(ctx, "callerConnectionSplit", a.id, a.caller, calleeID, callee)
			a.splitEvent(ctx, "calleeConnectionSplit", calleeID, callee, a.id, a.caller)
		}
		return was
	}
}

// splitEvent sends one participant's callEvent after a split and checks
// its answer asks for nothing but its drop.
func (a *AlarmSession) splitEvent(ctx context.Context, event, pid, user, remoteID, remoteUser string) {
	if a.callbacks() == nil {
		return
	}
	body := map[string]any{"connectionId": a.id, "domain": a.domain, "event": event, "ivrServer": a.svc.cfg.IVRServer,
		"sessionId": a.id, "replyId": a.svc.AlarmReplyID(a.domain, a.id), "participantId": pid, "user": user,
		"remoteParticipantId": remoteID, "remoteUser": remoteUser}
	ans, err := a.hook.post(ctx, "callEvent", body)
	if err != nil {
		a.alarmOf("callEventError", "No response to callEvent request", err.Error())
		return
	}
	if strings.TrimSpace(string(ans)) == "" {
		return
	}
	act, err := parseAction(ans, "callEvent")
	switch {
	case err != nil && strings.Contains(err.Error(), "without action"):
	case err != nil:
		a.alarmOf("callEventError", alarmError(err), err.Error())
	case act.Action != actionDrop:
		a.alarmOf("callEventError", "callEvent response with unknown action",
			"an alarm session's participant can only be dropped after a split, not given action "+act.Action)
	}
}

func (a *AlarmSession) alarmOf(typ, errText, reason string) {
	a.log.Warn("mediaservice: service alarm", "type", typ, "error", errText, "reason", reason)
	if a.svc.cfg.Alarm != nil {
		a.svc.cfg.Alarm(Alarm{Type: typ, Domain: a.domain, SessionID: a.id, Error: errText, ErrorDetails: map[string]any{"reason": reason}})
	}
}

// alarmSessionOf is the live alarm session replyID names in domain; nil
// and no error when replyID is not an alarm session's (the media service
// sessions' checks then answer).
func (s *Service) alarmSessionOf(domain, replyID string) (*AlarmSession, error) {
	d, id, err := s.tokens.check(replyID)
	if err != nil {
		return nil, nil
	}
	callID, ok := strings.CutPrefix(id, alarmPrefix)
	if !ok {
		return nil, nil
	}
	v, live := s.alarms.Load(callID)
	if !live || d != domain {
		return nil, refuse(http.StatusNotFound, "replyId: no alarm call of domain "+domain+" with this replyId is in progress")
	}
	return v.(*AlarmSession), nil
}

// alarmCommand runs a media service command on an alarm session: the
// recording and split commands; the others are the alarmbridge's.
func (s *Service) alarmCommand(ctx context.Context, base string, a *AlarmSession, str func(string) string) error {
	if id := str("sessionId"); id != "" && id != a.id {
		return refuse(http.StatusBadRequest, "sessionId: not the session of this replyId")
	}
	// An alarm session has one connection, named by its sessionId (it
	// gets no callAnswered): connectionId may be left out.
	if conn := str("connectionId"); conn != "" && conn != a.id {
		return refuse(http.StatusNotFound, "connectionId: an alarm session's connection is named by its sessionId (the alarm call's Call-ID)")
	}
	switch base {
	case "startrecording", "stoprecording":
		if a.callbacks() == nil {
			return refuse(http.StatusConflict, "the alarm call's alarmbridge has no HTTP callback to send recordingReady to")
		}
		name := str("recordingFileName")
		if name == "" {
			name = "alarm-" + newID() + ".wav"
		}
		if base == "startrecording" {
			// Under mu: MediaElsewhere does not take the audio away from
			// a recording being started.
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.elsewhere != "" {
				return refuse(http.StatusConflict, "the alarm call's audio does not pass the gateway, there is nothing to record: "+a.elsewhere)
			}
		}
		return recordingCommand(ctx, base, a.recorder(), a.id, name)
	case "splitconnection":
		a.mu.Lock()
		split := a.split
		if split != nil {
			a.splitting = true
			a.split = nil
		}
		a.mu.Unlock()
		if split == nil {
			return refuse(http.StatusConflict, "connectionId: the alarm call has no voice connection to split (none yet, or split already)")
		}
		split()
		return nil
	}
	return refuse(http.StatusConflict, base+": replyId names an alarm call: of the media service commands it takes startrecording, stoprecording and splitconnection; hang it up with /alarmbridge/"+a.domain+"/hangupalarmcall")
}
