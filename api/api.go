package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// Config is what New needs. Store and AdminKeyHash are required; the rest may
// be nil until the integrator wires them (their routes then answer 404 or 503).
type Config struct {
	Store        *store.DB
	AdminKeyHash []byte       // HashKey(admin key); see EnsureAdminKey
	Metrics      http.Handler // Prometheus text at /metrics; nil => 404
	// Firmware serves POST /firmware (upload a signed image) and GET
	// /firmware/status, for the admin key only; nil => 404.
	Firmware http.Handler
	Calls    CallControl  // /mediaservice/{domain}/... call control; nil => 503
	Prompts  PromptStore  // /mediaservice/{domain}/promptfile...; nil => 503
	Alarms   AlarmControl // /alarmbridge/{domain}/...; nil => 503
	// SIPLog is the engine's SIP trace, flushed before the SIP log is read
	// (the log and the pcap export) so that they hold a call's last
	// messages; nil when no engine runs in this process.
	SIPLog engine.SIPLogFlusher
	// Health is the daemon's health check for /healthz (503 with its error
	// when it fails); nil => the store answering is enough.
	Health func() error
	// SIPAdvertise is the HOST[:PORT] devices register to (serve
	// --advertise), written into the configuration files served by
	// /provisioning/grandstream. Empty: the SIP listen address when it names
	// one host, else the local address of the interface that received the
	// download; a missing port is SIPAddr's.
	SIPAdvertise string
	// SIPAddr returns the address SIP listens on (nil: 127.0.0.1:5060).
	SIPAddr func() string
	Logger  *slog.Logger
	Version string

	// Gateway is the running call path for /gateway/... (status summary,
	// alarm events, delivery queue) and the test alarm; nil => 503.
	Gateway Gateway
	// FactoryReset erases the configuration and restarts the daemon, as
	// the console's factory-reset does; nil => 503.
	FactoryReset func() error
	// Started is when the daemon started (uptime in the status summary).
	Started time.Time
	// TLSFingerprint is the HTTPS certificate's SHA-256 (Fingerprint) now
	// (it changes when the self-signed one is made again for new
	// addresses), shown in the status summary so an installer can check
	// it; nil or "" without HTTPS.
	TLSFingerprint func() string
}

// Body limits: JSON documents are small; the bulk CSV limit is the provisioning schema's.
const (
	maxJSONBody = 1 << 20
	maxCSVBody  = 10 << 20
)

// Server is the API handler. Close stops its background work (bulk imports).
type Server struct {
	cfg    Config
	db     *store.DB
	log    *slog.Logger
	mux    *http.ServeMux
	routes []*route
	auth   *authenticator

	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	streams    context.Context // ended by EndStreams or Close
	endStreams context.CancelFunc

	docOnce sync.Once
	doc     []byte

	probe storeProbe

	devices *kind // built once: their schemas compile regular expressions
	trunks  *kind
}

// authMode says who may call a route.
type authMode int

const (
	authDomain authMode = iota // admin key, or a key of the path's {domain}
	authAny                    // any valid key (routes without a domain)
	authNone                   // /healthz and CORS preflight only
	authQuery                  // Bearer, or the key in ?k= (config download)
	authAdmin                  // the admin key only (firmware)
)

// route is one operation: what the router serves and what /openapi.json says.
type route struct {
	method   string
	path     string // ServeMux pattern without the method
	summary  string
	tag      string
	auth     authMode
	body     *Schema
	bodyType string // "application/json", "text/csv"
	query    []param
	resp     *Schema // 200 response body (documentation)
	respType string  // default application/json
	ext      string  // set for gateway extensions (x-edgebridge-extension)
	h        func(c *call) error
	params   []string // path wildcards, from path
}

// freeFormParams are the path parameters that are not resource ids and are
// checked by their handlers (domainPattern above, a SIP Call-ID, a MAC
// address, a statistics type and bucket size). Every other parameter names
// a stored document and must be a valid id, like the id fields of bodies.
var freeFormParams = map[string]bool{"domain": true, "callId": true, "mac": true, "type": true, "bucketsize": true, "filename": true}

var idRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(idPattern) })

// validID says whether id may name a stored document, in a path or a body.
func validID(id string) bool {
	return idRE().MatchString(id)
}

// maxIDLen bounds path parameters (ids become store keys).
const maxIDLen = 256

type param struct {
	name, desc string
	schema     *Schema
	required   bool
}

// New builds the API. The admin key hash must be set.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: Config.Store is nil")
	}
	if len(cfg.AdminKeyHash) != 32 {
		return nil, errors.New("api: Config.AdminKeyHash must be a SHA-256 hash (use HashKey)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, db: cfg.Store, log: cfg.Logger, mux: http.NewServeMux()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.streams, s.endStreams = context.WithCancel(s.ctx)
	s.auth = newAuthenticator(cfg.Store, cfg.AdminKeyHash)
	s.devices, s.trunks = s.deviceKind(), s.trunkKind()
	if err := s.failInterrupted(); err != nil {
		return nil, err
	}
	s.addRoutes()
	if err := s.mount(); err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops background imports and waits for them; the store stays open.
func (s *Server) Close() error {
	s.cancel()
	s.bg.Wait()
	return nil
}

// EndStreams ends the open event streams (/gateway/events), which never
// go idle by themselves: the HTTP server calls it when it shuts down
// (http.Server.RegisterOnShutdown), so an open page does not hold it up.
func (s *Server) EndStreams() { s.endStreams() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) add(r *route) {
	r.params = pathParams(r.path)
	s.routes = append(s.routes, r)
}

// mount registers one mux handler per path that dispatches on the method, so
// that a wrong method gets a JSON 405 with Allow, and OPTIONS (the provisioning
// schema's CORS preflight) answers every path.
func (s *Server) mount() error {
	byPath := map[string]map[string]*route{}
	var order []string
	for _, rt := range s.routes {
		m := byPath[rt.path]
		if m == nil {
			m = map[string]*route{}
			byPath[rt.path] = m
			order = append(order, rt.path)
		}
		if m[rt.method] != nil {
			return fmt.Errorf("api: route %s %s twice", rt.method, rt.path)
		}
		if rt.bodyType == jsonType && rt.body == nil {
			// Its handler checks the body against rt.body (call.object).
			return fmt.Errorf("api: route %s %s takes JSON but declares no body schema", rt.method, rt.path)
		}
		m[rt.method] = rt
	}
	for _, p := range order {
		methods := byPath[p]
		var allow []string
		for m := range methods {
			allow = append(allow, m)
		}
		allow = append(allow, http.MethodOptions)
		sort.Strings(allow)
		allowHdr := strings.Join(allow, ", ")
		s.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			rt := methods[r.Method]
			if rt == nil && r.Method == http.MethodHead {
				rt = methods[http.MethodGet]
			}
			if rt == nil {
				if r.Method == http.MethodOptions {
					if strings.HasPrefix(p, "/mediaservice/") {
						// The media service API answers CORS preflights for
						// browser applications (its paths list these headers).
						w.Header().Set("Access-Control-Allow-Origin", "*")
					}
					w.Header().Set("Allow", allowHdr)
					w.Header().Set("Access-Control-Allow-Methods", allowHdr)
					w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
					writeJSON(w, http.StatusOK, map[string]any{})
					return
				}
				w.Header().Set("Allow", allowHdr)
				writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on this path; allowed: %s", r.Method, allowHdr))
				return
			}
			s.serve(rt, w, r)
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
	})
	return nil
}

// domainPattern keeps domain names to what a SIP domain can be; it also keeps
// the store's internal domain (sysDomain) out of reach of the URL. validDomain
// checks it by hand: it runs for every request, and its regular expression
// (the bound expanded 252 times) was a tenth of an idle gateway's heap.
const domainPattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`

func validDomain(d string) bool {
	if len(d) < 1 || len(d) > 253 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

func (s *Server) serve(rt *route, w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, w: w, r: r, rt: rt, domain: r.PathValue("domain")}
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasPrefix(rt.path, "/mediaservice/") {
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	if c.domain != "" && !validDomain(c.domain) {
		writeError(w, http.StatusBadRequest, "domain: must match "+domainPattern)
		return
	}
	for _, name := range rt.params {
		switch v := r.PathValue(name); {
		case v == "":
			writeError(w, http.StatusBadRequest, name+": must not be empty")
			return
		case len(v) > maxIDLen:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: must be at most %d characters", name, maxIDLen))
			return
		case !freeFormParams[name] && !validID(v):
			writeError(w, http.StatusBadRequest, name+": must match "+idPattern)
			return
		}
	}
	if rt.auth != authNone {
		p, status, reason := s.auth.check(r, rt.auth == authQuery)
		if p == nil {
			if w2 := s.auth.wait(r); status == http.StatusTooManyRequests && w2 > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int((w2+time.Second-1)/time.Second)))
			}
			writeError(w, status, reason)
			return
		}
		if rt.auth == authAdmin && p.domain != "" {
			writeError(w, http.StatusForbidden, "this operation needs the admin key")
			return
		}
		if rt.auth != authAny && p.domain != "" && p.domain != c.domain {
			writeError(w, http.StatusForbidden, fmt.Sprintf("this API key is valid for domain %s only", p.domain))
			return
		}
		c.principal = p
	}
	err := rt.h(c)
	if err == nil {
		return
	}
	var he *httpError
	var fe *fieldError
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.reason)
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrUnwritable):
		// Logged once by the gateway when the disk starts refusing, not here
		// per request.
		writeError(w, http.StatusInsufficientStorage, "store unwritable, nothing was changed: "+unwritableCause(err))
	case errors.Is(err, store.ErrBadToken):
		writeError(w, http.StatusBadRequest, "nextToken: not a token issued by this endpoint")
	default:
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// unwritableCause is the disk's part of a store.ErrUnwritable error ("no
// space left on device"), without the paths bbolt names.
func unwritableCause(err error) string {
	for _, c := range []string{"no space left on device", "disk quota exceeded", "read-only file system", "input/output error"} {
		if strings.Contains(err.Error(), c) {
			return c
		}
	}
	return "the disk refuses writes"
}

// httpError is an error with its status and reason.
type httpError struct {
	status int
	reason string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.reason) }

func errf(status int, format string, a ...any) error {
	return &httpError{status: status, reason: fmt.Sprintf(format, a...)}
}

func notFound(what, id string) error {
	return errf(http.StatusNotFound, "%s %s not found", what, id)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"success":false,"reason":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]any{"success": false, "reason": reason})
}

// call is one request being served.
type call struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	rt        *route
	domain    string
	principal *principal
	// tx is the write transaction while a kind's prepare runs, for the
	// rules that read other documents (pbx.go).
	tx *store.Tx
}

// ok answers 200 with {"success":true} merged with fields.
func (c *call) ok(fields map[string]any) error {
	out := map[string]any{"success": true}
	for k, v := range fields {
		out[k] = v
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (c *call) provisory() (bool, error) {
	v := c.r.URL.Query().Get("provisory")
	switch v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, ferr("provisory", "must be true or false")
}

func (c *call) coll(resource string, provisory bool) store.Coll {
	return store.Coll{Domain: c.domain, Resource: resource, Provisory: provisory}
}

// listQuery reads limit and nextToken: limit defaults to 100 and above 100
// is refused, as the provisioning schema says.
func (c *call) listQuery() (store.ListQuery, error) {
	q := store.ListQuery{Limit: store.DefaultPageSize, Token: c.r.URL.Query().Get("nextToken")}
	if v := c.r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageSize {
			return q, ferr("limit", "must be an integer from 1 to %d", store.MaxPageSize)
		}
		q.Limit = n
	}
	return q, nil
}

// body reads the request body after checking its content type and size.
func (c *call) body(max int64, types ...string) ([]byte, error) {
	if _, err := c.checkType(types...); err != nil {
		return nil, err
	}
	if c.r.ContentLength > max {
		return nil, errf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", max)
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(http.StatusRequestEntityTooLarge, "body larger than %d bytes", max)
		}
		return nil, errf(http.StatusBadRequest, "body: %v", err)
	}
	return b, nil
}

// checkType checks the request's Content-Type is one of types (415 else).
func (c *call) checkType(types ...string) (string, error) {
	ct := c.r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, t := range types {
			if mt == t {
				return mt, nil
			}
		}
	}
	return "", errf(http.StatusUnsupportedMediaType, "Content-Type must be %s (got %q)", strings.Join(types, " or "), ct)
}

// jsonBody reads and decodes a JSON body (numbers kept exact as json.Number).
func (c *call) jsonBody(types ...string) (any, error) {
	if len(types) == 0 {
		types = []string{"application/json"}
	}
	b, err := c.body(maxJSONBody, types...)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b)
}

func decodeJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, ferr("body", "required")
	}
	if err := strictJSON(b); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, ferr("body", "invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ferr("body", "invalid JSON: data after the value")
	}
	return v, nil
}

// object reads a JSON object body and validates it against the route's body
// schema: the one /openapi.json documents, built once with the route table.
func (c *call) object() (map[string]any, error) {
	v, err := c.jsonBody()
	if err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, ferr("body", "must be a JSON object")
	}
	out, err := c.rt.body.validate("", v)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// storedDoc reads and decodes one stored document; nil when there is none.
func (s *Server) storedDoc(coll store.Coll, id string) (map[string]any, error) {
	b, err := s.db.Get(coll, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return decodeDoc(b)
}

// decodeDoc turns a stored document back into a map.
func decodeDoc(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("api: stored document: %w", err)
	}
	return m, nil
}

func nowMillis() int64 { return time.Now().UnixMilli() }
