package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Live call control. api declares what it needs; the engine and alarm
// implementations are adapted to these interfaces in cmd (engine and alarm
// never import api). With nothing wired the routes answer 503.

// CallControl runs the call-control commands of the media service API under
// /mediaservice/{domain}/{command}.
type CallControl interface {
	// MediaCommand runs command (the path's last segment, e.g. "hangupcall",
	// "placeivrcall") with its JSON body, already checked to be an object,
	// and returns extra response fields (nil for none).
	MediaCommand(ctx context.Context, domain, command string, body map[string]any) (map[string]any, error)
}

// AlarmControl acts on a live alarm call (/alarmbridge/{domain}/...).
type AlarmControl interface {
	// HangupAlarmCall clears down an alarm call: sends the clear (kissoff /
	// hang-up) command to the alarm unit when Clear is set, then hangs up.
	HangupAlarmCall(ctx context.Context, domain string, req AlarmHangup) error
	// DeviceCommand sends an in-call command to the alarm unit.
	DeviceCommand(ctx context.Context, domain string, req DeviceCommand) error
}

// AlarmHangup is the body of /alarmbridge/{domain}/hangupalarmcall.
type AlarmHangup struct {
	CallID string // Call-ID (or replyId) of the alarm call
	Clear  bool   // send the clear command first (default true)
}

// DeviceCommand is the body of /alarmbridge/{domain}/devicecommand.
type DeviceCommand struct {
	CallID  string
	Command string // one of DeviceCommands
	Tones   string // DTMF digits for "sendTones"
	Volume  int    // -10..10 for "volume"
}

// DeviceCommands are the in-call commands an alarm unit understands here.
var DeviceCommands = []string{"clear", "keepAlive", "listen", "speak", "talk", "sendTones", "volume"}

// Errors an implementation may wrap so the API answers with the right status.
var (
	ErrNoSuchCall = errors.New("no such call")        // 404
	ErrBadState   = errors.New("call in wrong state") // 409
)

// mediaCommands are the POST commands of the media service API (each also has a *jwt
// twin in the cloud, kept here for clients that call them).
var mediaCommands = []string{
	"answerremotecall", "answerremotecalljwt", "hangupcall", "hangupcalljwt", "hangupparticipant",
	"hangupremoteparticipant", "interruptivrcommand", "placeivrcall", "placeremotecall",
	"placeremotecalljwt", "sendremotecallringback", "sendremotecallringbackjwt", "splitconnection",
	"startrecording", "stoprecording",
}

func controlError(err error) error {
	switch {
	case errors.Is(err, ErrNoSuchCall):
		return errf(http.StatusNotFound, "%v", err)
	case errors.Is(err, ErrBadState):
		return errf(http.StatusConflict, "%v", err)
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return err
	}
	var r *Refusal
	if errors.As(err, &r) {
		return errf(r.Status, "%s", r.Reason)
	}
	return errf(http.StatusBadGateway, "%v", err)
}

// mediaCommandSchema is the body of each command as the media service API gives it (it
// marks no field required). RTP payload types are 7 bits (RFC 3550 §5.1).
func mediaCommandSchema(command string) *Schema {
	pt := func() *Schema { return num().min(0).max(127) }
	port := func() *Schema { return num().min(1).max(65535) }
	base := strings.TrimSuffix(command, "jwt")
	switch base {
	case "answerremotecall":
		return obj(opt("codec", str().enum("PCMA", "PCMU")), opt("sessionReferenceId", str()), opt("telephoneEventPayloadType", pt()),
			opt("replyId", str()), opt("receivePort", port()), opt("receiveIp", str()),
			opt("crypto", arr(obj(opt("suite", str()), opt("id", num()), opt("config", str())))))
	case "hangupcall", "sendremotecallringback":
		return obj(opt("replyId", str()))
	case "hangupparticipant":
		return obj(opt("participantId", str()), opt("replyId", str()), opt("sessionId", str()))
	case "hangupremoteparticipant":
		return obj(opt("participantId", str()), opt("replyId", str()))
	case "interruptivrcommand":
		return obj(opt("replyId", str()), opt("sessionId", str()))
	case "placeivrcall":
		return obj(opt("sipFrom", str()), opt("xHeaders", anyObj()), opt("sessionReferenceId", anyObj()), opt("sipDiversion", str()),
			opt("displayName", str()), opt("callerPrivacy", boolean()), opt("contactParameters", anyObj()), opt("sipDiversionParameters", anyObj()),
			opt("pHeaders", anyObj()), opt("contactUserParameters", anyObj()), opt("destAddr", str()), opt("mediaserviceId", str()), opt("maxRingTime", num().min(0)))
	case "placeremotecall":
		return obj(opt("codec", str().enum("PCMA", "PCMU", "GSM")), opt("sessionReferenceId", str()), opt("destinationUri", str()),
			opt("telephoneEventPayloadType", pt()), opt("sourceUser", str()), opt("receivePort", port()), opt("receiveIp", str()),
			opt("crypto", arr(obj(opt("suite", str()), opt("id", num()), opt("config", str())))), opt("callbackBaseUrl", httpURL()))
	case "splitconnection", "stoprecording":
		return obj(opt("replyId", str()), opt("connectionId", str()))
	case "startrecording":
		return obj(opt("recordingFileName", str()), opt("replyId", str()), opt("connectionId", str()))
	}
	return anyObj()
}

func (s *Server) mediaCommand(command string) func(c *call) error {
	return func(c *call) error {
		body, err := c.object()
		if err != nil {
			return err
		}
		if s.cfg.Calls == nil {
			return errf(http.StatusServiceUnavailable, "call control is not available: no SIP engine is running")
		}
		extra, err := s.cfg.Calls.MediaCommand(c.r.Context(), c.domain, command, body)
		if err != nil {
			return controlError(err)
		}
		return c.ok(extra)
	}
}

func hangupAlarmSchema() *Schema {
	return obj(
		req("callId", str().desc("Call-ID of the alarm call (or the replyId of its callback).")),
		opt("clear", boolean().def(true).desc("Send the clear command to the alarm unit before hanging up.")),
	).extNote("gateway extension: neither the provisioning schema nor the media service API has this body")
}

func deviceCommandSchema() *Schema {
	return obj(
		req("callId", str()),
		req("command", str().enum(DeviceCommands...)),
		opt("tones", str().pattern(`^[0-9A-Da-d*#]{1,32}$`).desc("DTMF digits, for sendTones.")),
		opt("volume", int32s().min(-10).max(10).desc("Volume step, for volume.")),
	).extNote("gateway extension: neither the provisioning schema nor the media service API has this body")
}

func (s *Server) hangupAlarm(c *call) error {
	body, err := c.object()
	if err != nil {
		return err
	}
	if s.cfg.Alarms == nil {
		return errf(http.StatusServiceUnavailable, "alarm call control is not available: no alarm receiver is running")
	}
	clear, _ := body["clear"].(bool)
	if err := s.cfg.Alarms.HangupAlarmCall(c.r.Context(), c.domain, AlarmHangup{CallID: body["callId"].(string), Clear: clear}); err != nil {
		return controlError(err)
	}
	return c.ok(nil)
}

func (s *Server) deviceCommand(c *call) error {
	body, err := c.object()
	if err != nil {
		return err
	}
	cmd := DeviceCommand{CallID: body["callId"].(string), Command: body["command"].(string)}
	cmd.Tones, _ = body["tones"].(string)
	if v, ok := num64(body["volume"]); ok {
		cmd.Volume = int(v)
	}
	switch {
	case cmd.Command == "sendTones" && cmd.Tones == "":
		return ferr("tones", "required when command is sendTones")
	case cmd.Command == "volume" && body["volume"] == nil:
		return ferr("volume", "required when command is volume")
	}
	if s.cfg.Alarms == nil {
		return errf(http.StatusServiceUnavailable, "alarm call control is not available: no alarm receiver is running")
	}
	if err := s.cfg.Alarms.DeviceCommand(c.r.Context(), c.domain, cmd); err != nil {
		return controlError(err)
	}
	return c.ok(nil)
}
