package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/alarm"
)

// CallbackPath is appended to the callback base URL (provisioning schema: the
// alarmbridge's callbacks go to {callbackBaseUrl}/newAlarmbridgeEvent).
const CallbackPath = "/newAlarmbridgeEvent"

// HeaderIdempotencyKey carries the event id so that a callback receiver can
// drop a repeat (the gateway resends when an acknowledgement was lost).
const HeaderIdempotencyKey = "Idempotency-Key"

// CallbackBody is the JSON of a newAlarmbridgeEvent callback: the event's
// fields, then the alarm session, the id to quote in later control requests
// (/alarmbridge/{domain}/hangupalarmcall, devicecommand), and an id for this
// HTTP transaction (as the media service API's callbacks carry).
type CallbackBody struct {
	alarm.Event
	SessionID         string `json:"sessionId"`
	ReplyID           string `json:"replyId"`
	HTTPTransactionID string `json:"httpTransactionId"`
}

type httpSender struct {
	ep     Endpoint
	url    string
	client *http.Client
	keys   []signingKey // per Auth entry
	reply  func(alarm.Event) string
}

func newHTTPSender(ep Endpoint) (*httpSender, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	keys, err := signingKeys(ep.Auth)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return &httpSender{ep: ep, url: strings.TrimRight(ep.URL, "/") + CallbackPath, keys: keys,
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}, nil
}

func (s *httpSender) timeout() time.Duration {
	if s.ep.Timeout > 0 {
		return s.ep.Timeout
	}
	return 15 * time.Second
}

// token signs a JWT for auth entry i (provisioning schema, restAuthentication: "used
// to generate JWT bearer tokens to sign callback requests").
func (s *httpSender) token(i int, ev alarm.Event) (string, error) {
	a := s.ep.Auth[i]
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": "edgebridge",
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
		"jti": ev.ID,
	}
	if a.Sub != "" {
		claims["sub"] = a.Sub
	}
	if a.Scope != "" {
		claims["scope"] = a.Scope
	}
	var m jwt.SigningMethod = jwt.SigningMethodHS256
	if _, ok := s.keys[i].key.(*rsa.PrivateKey); ok {
		m = jwt.SigningMethodRS256
	}
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = s.keys[i].kid
	return tok.SignedString(s.keys[i].key)
}

func (s *httpSender) Send(ctx context.Context, ev alarm.Event) error {
	body := CallbackBody{Event: ev, SessionID: ev.CallID, ReplyID: ev.ID}
	if body.SessionID == "" {
		body.SessionID = ev.ID
	}
	if s.reply != nil {
		body.ReplyID = s.reply(ev)
	}
	// One entry at a time: on 401/403 the next restAuthentication entry
	// signs the retry, until all were tried (restAuthentication).
	n := len(s.ep.Auth)
	if n == 0 {
		n = 1
	}
	var lastStatus int
	for i := 0; i < n; i++ {
		body.HTTPTransactionID = newTxID()
		js, err := json.Marshal(body)
		if err != nil {
			return alarm.Permanent(err)
		}
		status, err := s.post(ctx, js, i, ev)
		if err != nil {
			return err
		}
		switch {
		case status >= 200 && status < 300:
			return nil
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			lastStatus = status
			continue
		case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
			return fmt.Errorf("delivery: callback %s: HTTP %d", s.url, status)
		default:
			// The receiver read the event and refused it: resending the same
			// body cannot succeed.
			return alarm.Permanent(fmt.Errorf("delivery: callback %s refused the event: HTTP %d", s.url, status))
		}
	}
	// Every credential refused: a configuration problem that an installer
	// fixes, so the event stays queued and is retried.
	return fmt.Errorf("delivery: callback %s: HTTP %d with each of %d restAuthentication entries", s.url, lastStatus, len(s.ep.Auth))
}

func (s *httpSender) post(ctx context.Context, js []byte, auth int, ev alarm.Event) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(js))
	if err != nil {
		return 0, alarm.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgebridge")
	req.Header.Set(HeaderIdempotencyKey, ev.ID)
	for k, v := range s.ep.Headers {
		req.Header.Set(k, v)
	}
	if len(s.ep.Auth) > 0 {
		for k, v := range s.ep.Auth[auth].RequestHeaders {
			req.Header.Set(k, v)
		}
		tok, err := s.token(auth, ev)
		if err != nil {
			return 0, fmt.Errorf("delivery: sign callback: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("delivery: callback %s: %w", s.url, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Probe asks the callback host with HEAD on the callback URL: any answer
// but a gateway error (502/503/504) means the path is up.
func (s *httpSender) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(s.timeout(), 5*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "edgebridge")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("delivery: probe %s: %w", s.url, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 502 && resp.StatusCode <= 504 {
		return fmt.Errorf("delivery: probe %s: HTTP %d", s.url, resp.StatusCode)
	}
	return nil
}

func (s *httpSender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

func newTxID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
