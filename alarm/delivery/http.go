package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
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

// Poster POSTs JSON signed the way alarm callbacks are (the provisioning schema's
// restAuthentication): each request carries the endpoint's headers, the
// entry's requestHeaders and a JWT bearer token; on 401/403 the next entry
// signs the same request again, until every entry was tried. The alarm
// callback sender and the notification settings' endpoints both use it.
type Poster struct {
	ep     Endpoint
	client *http.Client
	keys   []signingKey // per Auth entry
}

// NewPoster checks ep (an http endpoint) and its keys.
func NewPoster(ep Endpoint) (*Poster, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	keys, err := signingKeys(ep.Auth)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	return &Poster{ep: ep, keys: keys, client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}, nil
}

// Timeout is the endpoint's per-request timeout (15 s when unset).
func (p *Poster) Timeout() time.Duration {
	if p.ep.Timeout > 0 {
		return p.ep.Timeout
	}
	return 15 * time.Second
}

// token signs a JWT for auth entry i (provisioning schema, restAuthentication: "used
// to generate JWT bearer tokens to sign callback requests"); jti names what
// is sent.
func (p *Poster) token(i int, jti string) (string, error) {
	a := p.ep.Auth[i]
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": "edgebridge",
		"iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
		"jti": jti,
	}
	if a.Sub != "" {
		claims["sub"] = a.Sub
	}
	if a.Scope != "" {
		claims["scope"] = a.Scope
	}
	var m jwt.SigningMethod = jwt.SigningMethodHS256
	if _, ok := p.keys[i].key.(*rsa.PrivateKey); ok {
		m = jwt.SigningMethodRS256
	}
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = p.keys[i].kid
	return tok.SignedString(p.keys[i].key)
}

// Post sends body() (called once per attempt) to url with id as the
// Idempotency-Key and JWT jti, each restAuthentication entry in turn while
// the answer is 401 or 403. It returns the last status; an error only when
// no answer came (network, timeout) or the request could not be made.
func (p *Poster) Post(ctx context.Context, url, id string, body func() ([]byte, error)) (int, error) {
	status, _, err := p.Exchange(ctx, url, id, body, 0)
	return status, err
}

// Exchange is Post for a callback whose answer says what to do next (the
// media service's webhooks): it also returns the body of the last answer,
// read up to limit bytes (an answer longer than that is an error).
func (p *Poster) Exchange(ctx context.Context, url, id string, body func() ([]byte, error), limit int64) (int, []byte, error) {
	n := max(len(p.ep.Auth), 1)
	status := 0
	var answer []byte
	for i := 0; i < n; i++ {
		js, err := body()
		if err != nil {
			return 0, nil, alarm.Permanent(err)
		}
		if status, answer, err = p.post(ctx, url, id, js, i, limit); err != nil {
			return 0, nil, err
		}
		if status != http.StatusUnauthorized && status != http.StatusForbidden {
			return status, answer, nil
		}
	}
	return status, answer, nil
}

// SetTLS sets the TLS settings of HTTPS requests, e.g. a private CA's pool
// in RootCAs (default: the system's roots). Call it before the first Post.
func (p *Poster) SetTLS(c *tls.Config) {
	p.client.Transport.(*http.Transport).TLSClientConfig = c.Clone()
}

func (p *Poster) post(ctx context.Context, url, id string, js []byte, auth int, limit int64) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(js))
	if err != nil {
		return 0, nil, alarm.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "edgebridge")
	req.Header.Set(HeaderIdempotencyKey, id)
	for k, v := range p.ep.Headers {
		req.Header.Set(k, v)
	}
	if len(p.ep.Auth) > 0 {
		for k, v := range p.ep.Auth[auth].RequestHeaders {
			req.Header.Set(k, v)
		}
		tok, err := p.token(auth, id)
		if err != nil {
			return 0, nil, fmt.Errorf("delivery: sign request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("delivery: POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	var answer []byte
	if limit > 0 {
		answer, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return 0, nil, fmt.Errorf("delivery: POST %s: reading the answer: %w", url, err)
		}
		if int64(len(answer)) > limit {
			return resp.StatusCode, nil, alarm.Permanent(fmt.Errorf("delivery: POST %s: answer longer than %d bytes", url, limit))
		}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	return resp.StatusCode, answer, nil
}

// Close drops the idle connections.
func (p *Poster) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

type httpSender struct {
	*Poster
	url   string
	reply func(alarm.Event) string
}

func newHTTPSender(ep Endpoint) (*httpSender, error) {
	p, err := NewPoster(ep)
	if err != nil {
		return nil, err
	}
	return &httpSender{Poster: p, url: strings.TrimRight(ep.URL, "/") + CallbackPath}, nil
}

func (s *httpSender) Send(ctx context.Context, ev alarm.Event) error {
	body := CallbackBody{Event: ev, SessionID: ev.CallID, ReplyID: ev.ID}
	if body.SessionID == "" {
		body.SessionID = ev.ID
	}
	if s.reply != nil {
		body.ReplyID = s.reply(ev)
	}
	status, err := s.Post(ctx, s.url, ev.ID, func() ([]byte, error) {
		body.HTTPTransactionID = newTxID()
		return json.Marshal(body)
	})
	switch {
	case err != nil:
		return err
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Every credential refused: a configuration problem that an
		// installer fixes, so the event stays queued and is retried.
		return fmt.Errorf("delivery: callback %s: HTTP %d with each of %d restAuthentication entries", s.url, status, len(s.ep.Auth))
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return fmt.Errorf("delivery: callback %s: HTTP %d", s.url, status)
	default:
		// The receiver read the event and refused it: resending the same
		// body cannot succeed.
		return alarm.Permanent(fmt.Errorf("delivery: callback %s refused the event: HTTP %d", s.url, status))
	}
}

// Probe asks the callback host with HEAD on the callback URL: any answer
// but a gateway error (502/503/504) means the path is up.
func (s *httpSender) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(s.Timeout(), 5*time.Second))
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

func newTxID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
