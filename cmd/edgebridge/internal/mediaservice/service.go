package mediaservice

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/store"
)

// Config is what the media service needs from the gateway.
type Config struct {
	DB      *store.DB    // the /mediaservice documents
	Log     *slog.Logger // required
	DataDir string       // prompts under mediaservice/prompts, the callback CA bundle under tls/
	// Dial places an outbound leg (the engine's Dial).
	Dial func(ctx context.Context, o engine.DialOptions) (*engine.Call, error)
	// IVRServer is the ivrServer of callbacks: the gateway's SIP address.
	IVRServer string
	// Alarm sends a service alarm to the domain's alarmEventsRestEndpoint;
	// nil: logged only.
	Alarm func(Alarm)
	// Quota bounds the prompt storage in bytes; 0 is DefaultQuota.
	Quota int64
	// MediaSession binds an RTP session of no SIP leg (the engine's
	// NewMediaSession): the cloud SIP UA's relay to the application's
	// endpoint. Nil: cloud SIP UA calls are refused 503.
	MediaSession func(media.SessionConfig) (*media.Session, error)
	// RemoteAnswerTimeout: how long a call announced by newRemoteCall waits
	// for answerremotecall; 0 is DefaultRemoteAnswerTimeout.
	RemoteAnswerTimeout time.Duration
}

// Alarm is a service alarm of the media service (the media service API's alarm event).
type Alarm struct {
	Type         string         `json:"type"`
	Domain       string         `json:"domain"`
	SessionID    string         `json:"sessionId,omitempty"`
	Error        string         `json:"error"`
	ErrorDetails map[string]any `json:"errorDetails,omitempty"`
}

// CABundleFile, under the data folder, holds extra CAs (PEM) trusted for
// HTTPS callbacks besides the system's roots: an integrator's private CA.
const CABundleFile = "tls/callback-ca.pem"

// Service runs the media services of every domain.
type Service struct {
	cfg     Config
	log     *slog.Logger
	prompts *Prompts
	tokens  tokens
	tls     *tls.Config

	sessions sync.Map // sessionId -> *session
	remote   sync.Map // sessionId -> *remoteCall (cloudua.go)
	alarms   sync.Map // Call-ID -> *AlarmSession

	mu    sync.Mutex
	hooks map[string]cachedHook // by domain/id
	docs  map[string]any        // checked documents by resource/domain/id (loadDocs)
}

type cachedHook struct {
	raw string
	h   *hook
}

// New makes the service; it reads the callback CA bundle when there is one.
func New(cfg Config) (*Service, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Log, tokens: tokens{key: key}, hooks: map[string]cachedHook{}, docs: map[string]any{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.prompts = newPrompts(filepath.Join(cfg.DataDir, "mediaservice", "prompts"), cfg.Quota, key)
	pem, err := os.ReadFile(filepath.Join(cfg.DataDir, CABundleFile))
	switch {
	case err == nil:
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mediaservice: %s: no PEM certificate in it", CABundleFile)
		}
		s.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("mediaservice: %w", err)
	}
	return s, nil
}

// CallbackTLS is the TLS of HTTPS callbacks: the system roots plus the CA
// bundle of the data folder; nil when there is no bundle (the system
// roots alone). Alarm delivery's callbacks use it too, so an alarm
// session's callbacks and recordingReady trust the same CAs.
func (s *Service) CallbackTLS() *tls.Config { return s.tls }

// Prompts is the prompt storage.
func (s *Service) Prompts() *Prompts { return s.prompts }

// Document is the part of a /mediaservice document the runtime reads.
type Document struct {
	ID                 string              `json:"id"`
	Name               string              `json:"name"`
	DestinationMatch   string              `json:"destinationMatch"`
	CallbackBaseURL    string              `json:"callbackBaseUrl"`
	RestAuthentication []delivery.RestAuth `json:"restAuthentication"`
	CallbackTimeout    int64               `json:"callbackTimeout"` // ms, retries included
	RTPTimeout         float64             `json:"rtpTimeout"`      // s; 0 = the engine's 90 s
	OfferedCodecs      []string            `json:"offeredCodecs"`
	raw                string
	match              *regexp.Regexp
}

// Validate checks what the runtime needs of a document (the API runs it on
// every write, and a stored document failing it is skipped).
func (d *Document) Validate() error {
	re, err := alarm.CompileMatch(d.DestinationMatch)
	if err != nil {
		return fmt.Errorf("destinationMatch: %w", err)
	}
	d.match = re
	if err := checkBaseURL(d.CallbackBaseURL); err != nil {
		return err
	}
	if err := delivery.CheckRestAuth(d.RestAuthentication); err != nil {
		return err
	}
	if d.RTPTimeout < 0 {
		return errors.New("rtpTimeout: must not be negative")
	}
	return nil
}

// documents reads the domain's media services in provisioning order.
func (s *Service) documents(domain string) []*Document {
	return loadDocs[Document](s, domain, "mediaservice")
}

// checkedDoc is a provisioning document the service reads: parsed, checked
// by Validate, and kept with its raw JSON.
type checkedDoc interface {
	Validate() error
	loaded(id, raw string)
	source() string
}

func (d *Document) loaded(id, raw string) {
	if d.ID == "" {
		d.ID = id
	}
	d.raw = raw
}

func (d *Document) source() string { return d.raw }

// loadDocs reads the domain's documents of a resource in provisioning
// order, skipping (and logging) those that do not parse or check. Asked
// per INVITE: the list is kept until a document of the resource is written
// (callers must not modify it), and a document unchanged since the last read is not parsed or
// checked again (its signing keys are parsed once).
func loadDocs[T any, P interface {
	*T
	checkedDoc
}](s *Service, domain, resource string) []P {
	v, err := s.cfg.DB.Cached(store.CacheKey{Read: "mediaservice", Domain: domain, Arg: resource}, func(tx *store.Tx) (any, error) {
		return readDocs[T, P](s, tx, domain, resource)
	})
	if err != nil {
		s.log.Warn(resource+": documents", "domain", domain, "err", err)
	}
	docs, _ := v.([]P) // what was read before an error
	return docs
}

func readDocs[T any, P interface {
	*T
	checkedDoc
}](s *Service, tx *store.Tx, domain, resource string) ([]P, error) {
	var out []P
	err := tx.ForEach(store.Coll{Domain: domain, Resource: resource}, "", func(id string, doc []byte) (bool, error) {
		key := resource + "/" + domain + "/" + id
		s.mu.Lock()
		c, ok := s.docs[key].(P)
		s.mu.Unlock()
		if ok && c.source() == string(doc) {
			out = append(out, c)
			return true, nil
		}
		d := P(new(T))
		err := json.Unmarshal(doc, d)
		if err == nil {
			err = d.Validate()
		}
		if err != nil {
			s.log.Warn(resource+": skipped", "domain", domain, "id", id, "err", err)
			return true, nil
		}
		d.loaded(id, string(doc))
		s.mu.Lock()
		s.docs[key] = d
		s.mu.Unlock()
		out = append(out, d)
		return true, nil
	})
	return out, err
}

// Routes is the media service stage of the switchboard: the domain's media
// services as engine routes, in provisioning order.
func (s *Service) Routes(domain string) []engine.Route {
	docs := s.documents(domain)
	out := make([]engine.Route, 0, len(docs))
	for _, d := range docs {
		d := d
		out = append(out, engine.Route{
			Name:       "mediaservice/" + d.ID,
			Match:      d.match,
			Handler:    engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) { s.handle(ctx, c, domain, d) }),
			RTPTimeout: time.Duration(d.RTPTimeout * float64(time.Second)),
		})
	}
	return out
}

// hookFor returns the callback sender of d, made again when d changed.
func (s *Service) hookFor(domain string, d *Document) (*hook, error) {
	key := domain + "/" + d.ID
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.hooks[key]; ok && c.raw == d.raw {
		return c.h, nil
	}
	h, err := newHook(d.CallbackBaseURL, d.RestAuthentication, d.CallbackTimeout, s.tls)
	if err != nil {
		return nil, err
	}
	if old, ok := s.hooks[key]; ok {
		old.h.p.Close()
	}
	s.hooks[key] = cachedHook{raw: d.raw, h: h}
	return h, nil
}

func (s *Service) handle(ctx context.Context, c *engine.Call, domain string, d *Document) {
	log := s.log.With("call", c.ID, "mediaservice", d.ID)
	h, err := s.hookFor(domain, d)
	if err != nil {
		log.Warn("mediaservice: call refused before answering", "err", err)
		_ = c.Reject(503, "Service Unavailable", err.Error())
		return
	}
	sess := s.newSession(domain, d.ID, h, log)
	sess.serve(ctx, c)
}

func (s *Service) newSession(domain, msID string, h *hook, log *slog.Logger) *session {
	sess := &session{svc: s, id: newID(), trace: newID(), domain: domain, msID: msID, hook: h, start: time.Now(),
		interrupt: make(chan struct{}, 1), hangup: make(chan string, 1), splitReq: make(chan struct{}, 1)}
	sess.log = log.With("session", sess.id)
	s.sessions.Store(sess.id, sess)
	return sess
}

// Sessions is the number of sessions running.
func (s *Service) Sessions() int {
	n := 0
	s.sessions.Range(func(any, any) bool { n++; return true })
	return n
}

// tokens issues and checks replyIds: the session id and its domain, signed
// with a key of this process (a session does not outlive it either).
type tokens struct{ key []byte }

func (t tokens) mac(payload string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("replyId\x00" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (t tokens) issue(domain, sessionID string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(domain + "\x00" + sessionID))
	return p + "." + t.mac(p)
}

// Errors of replyId checks.
var (
	ErrBadReplyID = errors.New("replyId: not a replyId this gateway issued")
	ErrNoSession  = errors.New("no such session")
)

// check returns the domain and session id of a replyId.
func (t tokens) check(replyID string) (domain, sessionID string, err error) {
	p, sig, ok := strings.Cut(replyID, ".")
	if !ok || len(replyID) > 1024 || !hmac.Equal([]byte(sig), []byte(t.mac(p))) {
		return "", "", ErrBadReplyID
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return "", "", ErrBadReplyID
	}
	domain, sessionID, ok = strings.Cut(string(b), "\x00")
	if !ok {
		return "", "", ErrBadReplyID
	}
	return domain, sessionID, nil
}

// session finds the live session a replyId names in domain: a replyId of
// another domain is as unknown as one of an ended session.
func (s *Service) session(domain, replyID string) (*session, error) {
	d, id, err := s.tokens.check(replyID)
	if err != nil {
		return nil, err
	}
	v, ok := s.sessions.Load(id)
	if !ok || d != domain {
		return nil, ErrNoSession
	}
	return v.(*session), nil
}
