package notify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// receiver is a notification endpoint: it checks each request's JWT
// against pub, answers with the next status of plan (200 once it is used
// up) and keeps what it accepted.
type receiver struct {
	srv  *httptest.Server
	pub  *rsa.PublicKey
	mu   sync.Mutex
	plan []int
	hits map[string]int // path -> requests
	got  chan Body
	kids map[string]bool
}

func newReceiver(t *testing.T, pub *rsa.PublicKey, plan ...int) *receiver {
	r := &receiver{pub: pub, plan: plan, hits: map[string]int{}, got: make(chan Body, 100), kids: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.hits[req.URL.Path]++
	status := http.StatusOK
	if len(r.plan) > 0 {
		status, r.plan = r.plan[0], r.plan[1:]
	}
	r.mu.Unlock()
	tok := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return r.pub, nil }, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
		return
	}
	var b Body
	raw, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(raw, &b); err != nil || req.Header.Get("Idempotency-Key") != b.EventID || req.Header.Get("X-Tenant") != "t1" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.kids[parsed.Header["kid"].(string)] = true
	r.mu.Unlock()
	r.got <- b
}

func (r *receiver) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func rsaKey(t *testing.T) (*rsa.PrivateKey, string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

func setup(t *testing.T, settings map[string]any) (*Notifier, *store.DB) {
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, _ := json.Marshal(settings)
	if err := db.Put(store.Coll{Domain: "d", Resource: "notificationsettings"}, "settings", b); err != nil {
		t.Fatal(err)
	}
	n := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	n.backoff = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n, db
}

func await(t *testing.T, r *receiver) Body {
	t.Helper()
	select {
	case b := <-r.got:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no notification arrived")
	}
	return Body{}
}

func TestSIPEventsAndServiceAlarmsGoToTheirEndpoints(t *testing.T) {
	key, keyPEM := rsaKey(t)
	// Two failures first: the notification is retried within httpTimeout.
	r := newReceiver(t, &key.PublicKey, http.StatusServiceUnavailable, http.StatusBadGateway)
	n, _ := setup(t, map[string]any{
		"sipEventsRestEndpoint": r.srv.URL + "/sip", "alarmEventsRestEndpoint": r.srv.URL + "/alarms", "httpTimeout": 4000,
		"restAuthentication": []any{map[string]any{"type": "RS256", "secret": keyPEM, "sub": "gw", "requestHeaders": map[string]any{"X-Tenant": "t1"}}},
	})
	n.SIPEvent(engine.Event{Type: engine.EventRegistration, Domain: "d", AOR: "panel1", Contact: "sip:panel1@192.0.2.1:5062"})
	b := await(t, r)
	if b.Kind != KindSIPEvent || b.SIP == nil || b.SIP.Type != engine.EventRegistration || b.SIP.AOR != "panel1" || b.Domain != "d" {
		t.Fatalf("sip event body %+v", b)
	}
	if got := r.count("/sip"); got != 3 {
		t.Fatalf("%d requests for one SIP event, want 3 (two refused with 5xx, then 200)", got)
	}
	n.ServiceAlarm(alarm.Event{ID: "hb-1", Domain: "d", Protocol: alarm.ProtoSupervision,
		Supervision: &alarm.SupervisionFields{Kind: "heartbeat", State: "offline"}})
	b = await(t, r)
	if b.Kind != KindServiceAlarm || b.Alarm == nil || b.Alarm.Supervision.State != "offline" || b.EventID != "hb-1" || r.count("/alarms") != 1 {
		t.Fatalf("service alarm body %+v (%d requests)", b, r.count("/alarms"))
	}
	if len(r.kids) != 1 {
		t.Fatalf("kids %v, want the one key's", r.kids)
	}
	// Another domain (no settings) sends nothing.
	n.SIPEvent(engine.Event{Type: engine.EventCallStart, Domain: "other"})
	n.SIPEvent(engine.Event{Type: engine.EventCallEnd, Domain: "d", CallID: "c1", Result: "answered"})
	if b = await(t, r); b.SIP.CallID != "c1" || b.SIP.Type != engine.EventCallEnd {
		t.Fatalf("next notification %+v, want the call end of d", b)
	}
	// The count follows the answer the receiver has just given.
	for deadline := time.Now().Add(5 * time.Second); n.Stats().Sent != 3 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
	}
	if s := n.Stats(); s.Sent != 3 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNotificationGivesUpWithinHTTPTimeout(t *testing.T) {
	key, keyPEM := rsaKey(t)
	r := newReceiver(t, &key.PublicKey, 500, 500, 500, 500, 500, 500)
	n, _ := setup(t, map[string]any{"sipEventsRestEndpoint": r.srv.URL + "/sip", "httpTimeout": 2000,
		"restAuthentication": []any{map[string]any{"type": "RS256", "secret": keyPEM}}})
	start := time.Now()
	n.SIPEvent(engine.Event{Type: engine.EventCallStart, Domain: "d"})
	for n.Stats().Failed == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the notification was neither sent nor given up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := r.count("/sip"); got != Attempts {
		t.Fatalf("%d attempts, want %d (one try, three retries)", got, Attempts)
	}
}

func TestNotificationRefusedIsNotRetried(t *testing.T) {
	key, keyPEM := rsaKey(t)
	r := newReceiver(t, &key.PublicKey, http.StatusUnprocessableEntity)
	n, _ := setup(t, map[string]any{"alarmEventsRestEndpoint": r.srv.URL + "/alarms",
		"restAuthentication": []any{map[string]any{"type": "RS256", "secret": keyPEM}}})
	n.ServiceAlarm(alarm.Event{ID: "x", Domain: "d"})
	for deadline := time.Now().Add(5 * time.Second); n.Stats().Failed == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("refusal not counted")
		}
	}
	if got := r.count("/alarms"); got != 1 {
		t.Fatalf("%d requests, want 1: a 422 is not retried", got)
	}
}

// TestAlertsGoToAlarmEndpoint: an engine alert is posted, signed, to
// alarmEventsRestEndpoint as kind "alert" with its CPaaS fields.
func TestAlertsGoToAlarmEndpoint(t *testing.T) {
	key, keyPEM := rsaKey(t)
	r := newReceiver(t, &key.PublicKey)
	n, _ := setup(t, map[string]any{
		"sipEventsRestEndpoint": r.srv.URL + "/sip", "alarmEventsRestEndpoint": r.srv.URL + "/alarms",
		"restAuthentication": []any{map[string]any{"type": "RS256", "secret": keyPEM, "sub": "gw", "requestHeaders": map[string]any{"X-Tenant": "t1"}}},
	})
	n.Alert(engine.Alert{Time: time.Now(), AccountID: "d", AlertType: engine.AlertNoCarrier, Message: "trunk t1 is not registered"})
	b := await(t, r)
	if b.Kind != KindAlert || b.Alert == nil || b.Alert.AlertType != "no-carrier" || b.Alert.Message != "trunk t1 is not registered" ||
		r.count("/alarms") != 1 || r.count("/sip") != 0 {
		t.Fatalf("alert body %+v (%d to /alarms)", b, r.count("/alarms"))
	}
}

// TestSIPEventQueuedOnlyWhenAskedFor: a call event of a domain without a
// sipEventsRestEndpoint is not queued; once the endpoint is written, the
// next one is.
func TestSIPEventQueuedOnlyWhenAskedFor(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	n := New(db, slog.New(slog.NewTextHandler(io.Discard, nil))) // not run: the queue keeps what comes
	n.SIPEvent(engine.Event{Type: engine.EventCallStart, Domain: "d", CallID: "c1"})
	if len(n.q) != 0 {
		t.Fatalf("%d queued for a domain without notification settings", len(n.q))
	}
	settings := []byte(`{"sipEventsRestEndpoint":"http://127.0.0.1:9/events"}`)
	if err := db.Put(store.Coll{Domain: "d", Resource: "notificationsettings"}, "settings", settings); err != nil {
		t.Fatal(err)
	}
	n.SIPEvent(engine.Event{Type: engine.EventCallStart, Domain: "d", CallID: "c2"})
	if len(n.q) != 1 {
		t.Fatalf("%d queued once the domain asked for events, want 1", len(n.q))
	}
	if b := <-n.q; b.SIP == nil || b.SIP.CallID != "c2" {
		t.Fatalf("queued %+v", b)
	}
}
