package mediaservice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/edgebridge/edgebridge/api"
)

// The REST commands of the media service API (api.CallControl) and the
// prompt storage (api.PromptStore).

func refuse(status int, reason string) error { return &api.Refusal{Status: status, Reason: reason} }

// MediaCommand implements api.CallControl.
func (s *Service) MediaCommand(ctx context.Context, domain, command string, body map[string]any) (map[string]any, error) {
	base := strings.TrimSuffix(command, "jwt")
	if isRemoteCommand(base) {
		return s.remoteCommand(ctx, domain, base, body)
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	if base == "placeivrcall" {
		return nil, s.placeIVRCall(domain, body)
	}
	replyID := str("replyId")
	if replyID == "" {
		return nil, refuse(http.StatusBadRequest, "replyId: required (the replyId of the session's callback)")
	}
	if rc, err := s.remoteCall(domain, replyID); err == nil { // cloudua.go
		if base != "hangupcall" {
			return nil, refuse(http.StatusConflict, command+": replyId names a call of the cloud SIP UA: hangupcall, answerremotecall and sendremotecallringback apply to it")
		}
		return nil, rc.hangup()
	}
	if a, err := s.alarmSessionOf(domain, replyID); err != nil || a != nil { // alarmsession.go
		if err != nil {
			return nil, err
		}
		return nil, s.alarmCommand(ctx, base, a, str)
	}
	sess, err := s.session(domain, replyID)
	switch {
	case errors.Is(err, ErrBadReplyID):
		return nil, refuse(http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNoSession):
		return nil, refuse(http.StatusNotFound, "replyId: no session of domain "+domain+" with this replyId is running")
	case err != nil:
		return nil, err
	}
	if id := str("sessionId"); id != "" && id != sess.id {
		return nil, refuse(http.StatusBadRequest, "sessionId: not the session of this replyId")
	}
	switch base {
	case "hangupcall":
		return nil, sess.requestHangup("hangupcall")
	case "hangupparticipant":
		p, err := sess.participantNamed(str("participantId"))
		if err != nil {
			return nil, err
		}
		_ = p.call.Hangup()
		return nil, nil
	case "hangupremoteparticipant":
		p, err := sess.participantNamed(str("participantId"))
		if err != nil {
			return nil, err
		}
		remote := sess.remoteOf(p)
		if remote == nil {
			return nil, refuse(http.StatusConflict, "participantId: "+p.id+" is connected to the IVR, not to a remote party")
		}
		_ = remote.call.Hangup()
		return nil, nil
	case "splitconnection":
		conn := str("connectionId")
		if conn == "" {
			return nil, refuse(http.StatusBadRequest, "connectionId: required (from the callAnswered callback)")
		}
		sess.mu.Lock()
		cur, two, ivr := sess.connID, sess.callee != nil, sess.ivrConn
		sess.mu.Unlock()
		if conn != cur {
			return nil, refuse(http.StatusNotFound, "connectionId: not the current connection of this session")
		}
		if !two && ivr != conn {
			return nil, refuse(http.StatusConflict, "connectionId: the connection is not up (a transfer is being set up)")
		}
		select {
		case sess.splitReq <- struct{}{}:
		default:
		}
		return nil, nil
	case "interruptivrcommand":
		select {
		case sess.interrupt <- struct{}{}:
		default: // one is pending already
		}
		return nil, nil
	case "startrecording", "stoprecording":
		conn := str("connectionId")
		if conn == "" {
			return nil, refuse(http.StatusBadRequest, "connectionId: required (from the callAnswered callback)")
		}
		sess.mu.Lock()
		cur := sess.connID
		sess.mu.Unlock()
		if conn != cur {
			return nil, refuse(http.StatusNotFound, "connectionId: not the current connection of this session")
		}
		name := str("recordingFileName")
		if name == "" {
			name = conn + ".wav"
		}
		return nil, recordingCommand(ctx, base, sess.recorder(), conn, name)
	}
	return nil, refuse(http.StatusNotFound, "no command "+command)
}

// recordingCommand is startrecording (into name) or stoprecording of the
// connection conn, of a media service session or an alarm session.
func recordingCommand(ctx context.Context, base string, rec recorder, conn, name string) error {
	if base == "stoprecording" {
		if !rec.finish(context.WithoutCancel(ctx)) {
			return refuse(http.StatusConflict, "connectionId: the connection is not being recorded")
		}
		return nil
	}
	if !namePattern().MatchString(name) {
		return refuse(http.StatusBadRequest, "recordingFileName: want 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit")
	}
	err := rec.start(name, conn)
	switch {
	case errors.Is(err, errRecording):
		return refuse(http.StatusConflict, "connectionId: "+err.Error())
	case errors.Is(err, ErrQuota):
		return refuse(http.StatusRequestEntityTooLarge, err.Error())
	}
	return err
}

// placeIVRCall calls destAddr from the IVR of a media service of domain
// (mediaserviceId, else the first); once it answers, callAnswered and
// getIvrCommand follow as for a call that came in. It returns once the
// call is placed; a callee who does not answer gets callEvent
// calledPartyFailure and sessionCompleted.
func (s *Service) placeIVRCall(domain string, body map[string]any) error {
	dest, _ := body["destAddr"].(string)
	if dest == "" {
		return refuse(http.StatusBadRequest, "destAddr: required (the SIP URI to call)")
	}
	docs := s.documents(domain)
	var doc *Document
	id, _ := body["mediaserviceId"].(string)
	for _, d := range docs {
		if id == "" || d.ID == id {
			doc = d
			break
		}
	}
	if doc == nil {
		if id != "" {
			return refuse(http.StatusNotFound, "mediaserviceId: no media service "+id+" in domain "+domain)
		}
		return refuse(http.StatusNotFound, "no media service in domain "+domain+" to run the IVR")
	}
	// The body is newCall's call action in all but name: one check for both.
	act := map[string]any{"action": actionCall}
	for k, v := range body {
		if k != "mediaserviceId" {
			act[k] = v
		}
	}
	js, err := json.Marshal(act)
	if err != nil {
		return refuse(http.StatusBadRequest, err.Error())
	}
	a, err := parseAction(js, "placeivrcall")
	if err != nil {
		return refuse(http.StatusBadRequest, strings.TrimPrefix(err.Error(), "placeivrcall response: "))
	}
	h, err := s.hookFor(domain, doc)
	if err != nil {
		return refuse(http.StatusConflict, "media service "+doc.ID+": "+err.Error())
	}
	sess := s.newSession(domain, doc.ID, h, s.log.With("mediaservice", doc.ID, "placeivrcall", dest))
	if ref, ok := body["sessionReferenceId"]; ok {
		b, _ := json.Marshal(ref)
		sess.setRef(b)
	}
	go sess.placed(a)
	return nil
}

// requestHangup ends the session's call (both legs when connected).
func (s *session) requestHangup(why string) error {
	select {
	case s.hangup <- why:
	default:
	}
	s.mu.Lock()
	parts := []*participant{s.caller, s.callee}
	s.mu.Unlock()
	for _, p := range parts {
		if p == nil {
			continue
		}
		if !p.call.Answered().IsZero() {
			_ = p.call.Hangup()
		} else if p.call.Inbound {
			_ = p.call.Reject(486, "Busy Here", why)
		}
	}
	return nil
}

// remoteOf is the party p is connected to, nil when p is in the IVR.
func (s *session) remoteOf(p *participant) *participant {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.callee == nil:
		return nil
	case p == s.caller:
		return s.callee
	case p == s.callee:
		return s.caller
	}
	return nil
}

// participantNamed is the participant a command's participantId names, or
// the refusal of a missing or unknown one.
func (s *session) participantNamed(pid string) (*participant, error) {
	if pid == "" {
		return nil, refuse(http.StatusBadRequest, "participantId: required")
	}
	p := s.participant(pid)
	if p == nil {
		return nil, refuse(http.StatusNotFound, "participantId: no participant "+pid+" in this session")
	}
	return p, nil
}

func (s *session) participant(id string) *participant {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range []*participant{s.caller, s.callee} {
		if p != nil && p.id == id {
			return p
		}
	}
	return nil
}

// PromptAPI is the prompt storage as the REST API takes it.
type PromptAPI struct{ P *Prompts }

func promptRefusal(err error) error {
	switch {
	case errors.Is(err, ErrBadName), errors.Is(err, ErrBadFormat):
		return refuse(http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNoPrompt):
		return refuse(http.StatusNotFound, err.Error())
	case errors.Is(err, ErrQuota):
		return refuse(http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, ErrBadSignature):
		return refuse(http.StatusForbidden, err.Error())
	}
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, e) {
			// The disk's fault, as the store answers it: 507, nothing kept
			// (Put removes its partial file).
			return refuse(http.StatusInsufficientStorage, "prompt storage unwritable, nothing was changed: "+e.Error())
		}
	}
	return err
}

// ListPrompts implements api.PromptStore.
func (a PromptAPI) ListPrompts(domain, next string, limit int) ([]api.PromptFile, string, error) {
	files, nx, err := a.P.List(domain, next, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]api.PromptFile, len(files))
	for i, f := range files {
		out[i] = api.PromptFile{Name: f.Name, Size: f.Size}
	}
	return out, nx, nil
}

// PutPrompt implements api.PromptStore.
func (a PromptAPI) PutPrompt(domain, name string, r io.Reader) (int64, error) {
	n, err := a.P.Put(domain, name, r)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return 0, err
	}
	return n, promptRefusal(err)
}

// DeletePrompt implements api.PromptStore.
func (a PromptAPI) DeletePrompt(domain, name string) error {
	return promptRefusal(a.P.Delete(domain, name))
}

// PromptURL implements api.PromptStore.
func (a PromptAPI) PromptURL(domain, name string) (string, error) {
	u, err := a.P.URL(domain, name, time.Now())
	return u, promptRefusal(err)
}

// DownloadPrompt implements api.PromptStore.
func (a PromptAPI) DownloadPrompt(domain, name, expires, signature string) (io.ReadCloser, int64, error) {
	f, err := a.P.Download(domain, name, expires, signature, time.Now())
	if err != nil {
		return nil, 0, promptRefusal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}
