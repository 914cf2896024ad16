package mediaservice

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/alarm/delivery"
)

// maxAnswer bounds a webhook's answer: an IVR command is a few hundred bytes.
const maxAnswer = 256 << 10

// defaultCallbackTimeout is callbackTimeout's default (15000 ms), the time
// of one callback with its retries.
const defaultCallbackTimeout = 15 * time.Second

// hook sends the callbacks of one media service: JSON POSTed to
// {callbackBaseUrl}/{name}, signed by delivery.Poster (restAuthentication,
// each entry in turn on 401/403), retried on no answer or a 5xx until
// callbackTimeout has passed.
type hook struct {
	p     *delivery.Poster
	base  string
	total time.Duration
}

// newHook checks the base URL (https, or http to a loopback host only) and
// makes the poster. roots, when set, are the CAs HTTPS callbacks trust.
func newHook(base string, auth []delivery.RestAuth, timeoutMs int64, roots *tls.Config) (*hook, error) {
	if err := checkBaseURL(base); err != nil {
		return nil, err
	}
	return newHookEndpoint(delivery.Endpoint{Protocol: delivery.ProtoHTTP, URL: base, Auth: auth,
		Timeout: time.Duration(timeoutMs) * time.Millisecond}, roots)
}

// newHookEndpoint is newHook for an endpoint as alarm delivery keeps it
// (an alarmbridge's callback, with its request headers): its Timeout is
// the whole of one callback with its retries, each try a third of it.
func newHookEndpoint(ep delivery.Endpoint, roots *tls.Config) (*hook, error) {
	if err := checkBaseURL(ep.URL); err != nil {
		return nil, err
	}
	total := defaultCallbackTimeout
	if ep.Timeout > 0 {
		total = ep.Timeout
	}
	ep.Protocol, ep.Timeout = delivery.ProtoHTTP, max(total/3, 500*time.Millisecond)
	p, err := delivery.NewPoster(ep)
	if err != nil {
		return nil, err
	}
	if roots != nil {
		p.SetTLS(roots)
	}
	return &hook{p: p, base: strings.TrimRight(ep.URL, "/"), total: total}, nil
}

// checkBaseURL: callbacks go over HTTPS; plain http only to this host (the
// same rule as the alarm callbacks), so nothing leaves the gateway in clear.
func checkBaseURL(base string) error {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("callbackBaseUrl %q: not a URL", base)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); (ip != nil && ip.IsLoopback()) || h == "localhost" {
			return nil
		}
		return fmt.Errorf("callbackBaseUrl %q: http:// only to a loopback host, else https://", base)
	}
	return fmt.Errorf("callbackBaseUrl %q: must start with https://", base)
}

// errNoAnswer: the application did not answer in time (or only with 5xx).
var errNoAnswer = errors.New("no answer")

// post sends body to name and returns the answer's body (empty for 204).
func (h *hook) post(ctx context.Context, name string, body any) ([]byte, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.total)
	defer cancel()
	id := newID()
	var last error
	for attempt := 0; ; attempt++ {
		status, answer, err := h.p.Exchange(ctx, h.base+"/"+name, id, func() ([]byte, error) { return js, nil }, maxAnswer)
		switch {
		case err == nil && status >= 200 && status < 300:
			return answer, nil
		case err == nil && status < 500 && status != http.StatusTooManyRequests:
			return nil, fmt.Errorf("%s: answered %d", name, status)
		case err != nil:
			last = err
		default:
			last = fmt.Errorf("answered %d", status)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w after %d attempts: %v", name, errNoAnswer, attempt+1, last)
		case <-time.After(time.Duration(100*(attempt+1)) * time.Millisecond):
		}
	}
}

// newID is a random UUID-shaped id (sessionId, participantId, connectionId,
// traceId, httpTransactionId).
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// flexNum is a number the application may send as a JSON number or as a
// numeric string (the media service API's own samples mix the two).
type flexNum struct {
	V   float64
	Set bool
}

func (n *flexNum) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v != v || v > 1e9 || v < -1e9 {
		return fmt.Errorf("want a number, got %s", b)
	}
	n.V, n.Set = v, true
	return nil
}

// dur is the value as seconds.
func (n flexNum) dur(def time.Duration) time.Duration {
	if !n.Set || n.V < 0 {
		return def
	}
	return time.Duration(n.V * float64(time.Second))
}

// flexStr is a string the application may send as a number (sipDiversion:
// 123456 in the media service API's sample).
type flexStr string

func (s *flexStr) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexStr(v)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var v json.Number
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("want a string, got %s", b)
	}
	*s = flexStr(v)
	return nil
}

// destination is one entry of destAddr.
type destination struct {
	DestAddr    string  `json:"destAddr"`
	MaxRingTime flexNum `json:"maxRingTime"`
}

// destList is destAddr: "a string or array of objects".
type destList []destination

func (d *destList) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "" {
			*d = destList{{DestAddr: s}}
		}
		return nil
	}
	var list []destination
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("destAddr: want a SIP URI or a list of {destAddr, maxRingTime}")
	}
	*d = list
	return nil
}

// phrase is one entry of phrases (or the greeting's): a prompt file of the
// domain's prompt storage, or cloud text to speech, which a gateway cannot
// run (phraseError).
type phrase struct {
	Format   string `json:"format"`
	FileName string `json:"fileName"`
	URL      string `json:"url"`
}

// greeting is played before two participants are connected (session.greet).
type greeting struct {
	PlayMode string `json:"playMode"`
	Caller   struct {
		Phrases []phrase `json:"phrases"`
	} `json:"caller"`
	Callee struct {
		Phrases []phrase `json:"phrases"`
	} `json:"callee"`
}

// playMode values of a greeting: the media service API names calleeFirst;
// the other two are this gateway's reading of the rest.
const (
	playCalleeFirst  = "calleeFirst"
	playCallerFirst  = "callerFirst"
	playSimultaneous = "simultaneous"
)

// callAction is the answer to newCall and callEvent (and, as a gateway
// extension, an IVR command carrying an action).
type callAction struct {
	Action           string          `json:"action"`
	DestAddr         destList        `json:"destAddr"`
	DropCode         string          `json:"dropCode"`
	MaxRingTime      flexNum         `json:"maxRingTime"`
	CallerPrivacy    bool            `json:"callerPrivacy"`
	CallRecording    bool            `json:"callRecording"`
	RecordingName    string          `json:"recordingFileName"`
	DisplayName      string          `json:"displayName"`
	SIPFrom          flexStr         `json:"sipFrom"`
	SIPTo            flexStr         `json:"sipTo"`
	SIPPAI           flexStr         `json:"sipPAI"`
	SIPRPID          flexStr         `json:"sipRPID"`
	SIPDiversion     flexStr         `json:"sipDiversion"`
	DiversionParams  map[string]any  `json:"sipDiversionParameters"`
	XHeaders         map[string]any  `json:"xHeaders"`
	PHeaders         map[string]any  `json:"pHeaders"`
	CopyHeaders      []string        `json:"copyHeaders"`
	RingbackTone     string          `json:"ringbackTone"`
	Greeting         *greeting       `json:"greeting"`
	ParticipantID    string          `json:"participantId"`
	SessionRef       json.RawMessage `json:"sessionReferenceId"`
	MonitorDestAddr  string          `json:"monitorDestAddr"`
	MonitorSIPFrom   flexStr         `json:"monitorSipFrom"`
	MonitorXHeaders  map[string]any  `json:"monitorXHeaders"`
	MonitorPHeaders  map[string]any  `json:"monitorPHeaders"`
	ContactParams    map[string]any  `json:"contactParameters"`
	ContactUserParam map[string]any  `json:"contactUserParameters"`
}

// notSupportedFields of a newCall/callEvent answer are refused, not
// ignored: the call is refused (newCall) or dropped (callEvent) with a
// service alarm naming the field.
var notSupportedFields = []string{"codec", "receiveIp", "receivePort"}

var notSupportedWhy = map[string]string{
	"codec":       "httpcall needs the cloud SIP user agent",
	"receiveIp":   "httpcall needs the cloud SIP user agent",
	"receivePort": "httpcall needs the cloud SIP user agent",
}

// emptyJSON: null, "", {}, [] or false count as left out.
func emptyJSON(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "null", `""`, "{}", "[]", "false":
		return true
	}
	return false
}

// Actions of newCall and callEvent answers.
const (
	actionIVR      = "ivr"      // connect the caller to the IVR: getIvrCommand follows
	actionCall     = "call"     // call destAddr and connect the caller to it
	actionDrop     = "drop"     // refuse (or hang up) with dropCode
	actionHTTPCall = "httpcall" // connect to a device behind the cloud SIP UA: not here
	actionConnect  = "connect"  // callEvent: connect to participantId
)

// dropCodes maps dropCode to the SIP answer of a call not yet answered.
var dropCodes = map[string]struct {
	code   int
	reason string
}{
	"busy":                   {486, "Busy Here"},
	"error":                  {500, "Server Internal Error"},
	"numberNotFound":         {404, "Not Found"},
	"numberNotActive":        {410, "Gone"},
	"dropNoMsg":              {603, "Decline"},
	"temporarilyUnavailable": {480, "Temporarily Unavailable"},
}

// parseAction reads a newCall or callEvent answer. An empty answer and an
// unknown action or dropCode are errors named as the media service API's service alarms
// name them.
func parseAction(b []byte, event string) (*callAction, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s response empty", event)
	}
	var a callAction
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%s response: %v", event, err)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(b, &raw)
	for _, name := range notSupportedFields {
		if v, ok := raw[name]; ok && !emptyJSON(v) {
			return nil, fmt.Errorf("%s response: %s is not supported by this gateway's media service (%s)", event, name, notSupportedWhy[name])
		}
	}
	switch a.Action {
	case "":
		return nil, fmt.Errorf("%s response without action", event)
	case actionIVR, actionCall, actionDrop, actionHTTPCall, actionConnect:
	default:
		return nil, fmt.Errorf("%s response with unknown action %q", event, a.Action)
	}
	if a.Action == actionCall && len(a.DestAddr) == 0 {
		return nil, fmt.Errorf("%s response: action call without destAddr", event)
	}
	for _, d := range a.DestAddr {
		if !validDest(d.DestAddr) {
			return nil, fmt.Errorf("Invalid sip address: %s", d.DestAddr)
		}
	}
	if a.MonitorDestAddr != "" && !validDest(a.MonitorDestAddr) {
		return nil, fmt.Errorf("Invalid sip address: %s", a.MonitorDestAddr)
	}
	if a.MonitorDestAddr == "" && (a.MonitorSIPFrom != "" || len(a.MonitorXHeaders) > 0 || len(a.MonitorPHeaders) > 0) {
		return nil, fmt.Errorf("%s response: monitorSipFrom, monitorXHeaders and monitorPHeaders need monitorDestAddr", event)
	}
	for name, v := range map[string]string{"sipFrom": string(a.SIPFrom), "sipTo": string(a.SIPTo), "sipPAI": string(a.SIPPAI),
		"sipRPID": string(a.SIPRPID), "sipDiversion": string(a.SIPDiversion), "monitorSipFrom": string(a.MonitorSIPFrom)} {
		if v != "" && !safeUser(v) {
			return nil, fmt.Errorf("%s response: %s %q: want a SIP user part (no spaces, quotes, <, >, @ or control characters)", event, name, v)
		}
	}
	if !safeText(a.DisplayName) || strings.Contains(a.DisplayName, `"`) {
		return nil, fmt.Errorf("%s response: displayName: no quotes or control characters", event)
	}
	for k, v := range a.DiversionParams {
		if !safeUser(k) || !safeUser(fmt.Sprint(v)) {
			return nil, fmt.Errorf("%s response: sipDiversionParameters %q: want a token", event, k)
		}
	}
	for name, m := range map[string]map[string]any{"contactParameters": a.ContactParams, "contactUserParameters": a.ContactUserParam} {
		for k, v := range m {
			if !isToken(k) || !isToken(paramValue(v)) {
				return nil, fmt.Errorf("%s response: %s %q: want a token name and value (letters, digits, -.!%%*_+`'~)", event, name, k)
			}
		}
	}
	if g := a.Greeting; g != nil {
		switch g.PlayMode {
		case "", playCalleeFirst, playCallerFirst, playSimultaneous:
		default:
			return nil, fmt.Errorf("%s response: greeting.playMode %q: want calleeFirst, callerFirst or simultaneous", event, g.PlayMode)
		}
		if len(g.Caller.Phrases)+len(g.Callee.Phrases) > 64 {
			return nil, fmt.Errorf("%s response: greeting: at most 64 phrases", event)
		}
	}
	if a.DropCode != "" {
		if _, ok := dropCodes[a.DropCode]; !ok {
			return nil, fmt.Errorf("%s response: unknown dropCode %q", event, a.DropCode)
		}
	}
	return &a, nil
}

// safeUser: a value that goes into a SIP URI's user part or a header
// parameter as it is; anything that could end the header or the URI is out.
func safeUser(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>@\`, c) >= 0 {
			return false
		}
	}
	return true
}

// isToken: an RFC 3261 token, what a URI parameter's name and value may be
// here (nothing that could start another parameter, header or the host).
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// paramValue is a contactParameters value as it goes in the URI (the
// media service API's samples give strings; numbers and booleans are taken).
func paramValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return "" // an object, list or null: not a token
}

// safeText: a header value; no control characters (no CR/LF: no injected
// header).
func safeText(s string) bool {
	if len(s) > 512 {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// validDest: a SIP URI or a number, nothing in it that could end a header.
func validDest(s string) bool {
	if !strings.HasPrefix(s, "sip:") && !strings.HasPrefix(s, "sips:") {
		return isNumber(s)
	}
	if len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>\`, c) >= 0 {
			return false
		}
	}
	return true
}

func isNumber(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '+' && i == 0 || c == '*' || c == '#') {
			return false
		}
	}
	return true
}

// dtmfSpec is the dtmf object of an IVR command.
type dtmfSpec struct {
	Flush      bool    `json:"flush"`
	MaxDigits  flexNum `json:"maxDigits"`
	FirstTO    flexNum `json:"firstTimeout"`
	BetweenTO  flexNum `json:"betweenTimeout"`
	TermKey    string  `json:"terminationKey"`
	Encryption *struct {
		Type string `json:"type"`
		Salt string `json:"salt"`
	} `json:"encryption"`
}

// background is an IVR command's backgroundPrompt.
type background struct {
	FileName    string  `json:"fileName"`
	URL         string  `json:"url"`
	RepeatPause flexNum `json:"repeatPause"`
	Stop        bool    `json:"stop"`
}

// ivrCommand is the answer to getIvrCommand.
type ivrCommand struct {
	SessionRef json.RawMessage `json:"sessionReferenceId"`
	DTMF       *dtmfSpec       `json:"dtmf"`
	Phrases    []phrase        `json:"phrases"`
	Background *background     `json:"backgroundPrompt"`
	BargeIn    flexStr         `json:"bargeIn"`
	RecordedCB bool            `json:"recordedCallback"`
	Hangup     bool            `json:"hangup"`
	After      flexNum         `json:"getIVRCommandAfter"`
	ReplyID    string          `json:"replyId"`
	// Action is a gateway extension: an action of newCall's answer ("call"
	// with destAddr, or "drop") ends the IVR part of the session that way.
	// The media service API's way out of the IVR is splitconnection, then
	// callEvent callerConnectionSplit's action; this saves a REST call.
	Action     string      `json:"action"`
	callAction *callAction // the whole answer read as newCall's, when Action is set
}

// parseCommand reads a getIvrCommand answer.
func parseCommand(b []byte) (*ivrCommand, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("Empty body in getIvrCommand response")
	}
	var c ivrCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("getIvrCommand response: %v", err)
	}
	if c.Action != "" {
		a, err := parseAction(b, "getIvrCommand")
		if err != nil {
			return nil, err
		}
		if a.Action != actionCall && a.Action != actionDrop {
			return nil, fmt.Errorf("getIvrCommand response: action %q: want call or drop", a.Action)
		}
		c.callAction = a
	}
	if d := c.DTMF; d != nil {
		if d.MaxDigits.Set && (d.MaxDigits.V < 0 || d.MaxDigits.V > 128) {
			return nil, fmt.Errorf("getIvrCommand response: dtmf.maxDigits %v: want 0 to 128", d.MaxDigits.V)
		}
		if len(d.TermKey) > 1 || len(d.TermKey) == 1 && !strings.Contains("0123456789*#ABCD", d.TermKey) {
			return nil, fmt.Errorf("getIvrCommand response: dtmf.terminationKey %q: want one DTMF key", d.TermKey)
		}
		if d.Encryption != nil && d.Encryption.Type != "" && d.Encryption.Type != "md5" {
			return nil, fmt.Errorf("getIvrCommand response: dtmf.encryption.type %q: want md5", d.Encryption.Type)
		}
	}
	switch c.BargeIn {
	case "", "none", "current", "all":
	default:
		return nil, fmt.Errorf("getIvrCommand response: bargeIn %q: want none, current or all", c.BargeIn)
	}
	return &c, nil
}
