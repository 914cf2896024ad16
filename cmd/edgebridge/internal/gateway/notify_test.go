package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/cmd/edgebridge/internal/notify"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// The notification settings' sipEventsRestEndpoint receives the SIP events
// of the gateway, signed with the restAuthentication key: a device's
// registration (SIPp, from loopback: trusted), and the start, answer and end of an alarm
// call.
func TestSIPEventsReachTheNotificationEndpoint(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	events := make(chan engine.Event, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &key.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"})); err != nil || r.URL.Path != "/sip" {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		var b notify.Body
		raw, _ := io.ReadAll(r.Body)
		if json.Unmarshal(raw, &b) != nil || b.SIP == nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		events <- *b.SIP
	}))
	defer srv.Close()
	settings, _ := json.Marshal(map[string]any{"sipEventsRestEndpoint": srv.URL + "/sip", "httpTimeout": 8000,
		"restAuthentication": []any{map[string]any{"type": "RS256", "secret": keyPEM}}})
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	docs := listenInDocs(arc.Addr, 9, "")
	docs["alarmeventmapper"]["arc"] = strings.Replace(docs["alarmeventmapper"]["arc"], `"callEmergencyCenter"`, `"drop"`, 1)
	docs["device"]["panel1"] = `{"deviceId":"panel1","authType":"deviceid"}`
	// A deviceid unit registers without digest from a trusted network only.
	docs["trustednetwork"] = map[string]string{"lan": `{"network":"127.0.0.1/32"}`}
	docs["notificationsettings"] = map[string]string{"settings": string(settings)}
	g := startGateway(t, docs)

	wd := t.TempDir()
	reg := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "register_trusted.xml"), "-s", "panel1", "-m", "1")
	if err := reg.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, reg.Report())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The mapper drops the voice part: the gateway clears the call after
	// the kissoff, which the listen-in panel reports as an error.
	call, rep, err := listenInCall(t, ctx, g)
	if len(rep.Messages) != 1 || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	call.Hangup()

	seen := map[string]engine.Event{}
	for _, want := range []string{engine.EventRegistration, engine.EventCallStart, engine.EventCallAnswer, engine.EventCallEnd} {
		for seen[want].Type == "" {
			select {
			case ev := <-events:
				if ev.Type == engine.EventRegistration && ev.AOR != "panel1" {
					t.Fatalf("registration event %+v, want panel1's", ev)
				}
				if strings.HasPrefix(ev.Type, "call") && (ev.To != "5551" || ev.Type != engine.EventCallStart && ev.Route != "alarmbridge/panels") {
					t.Fatalf("call event %+v, want the call to 5551", ev)
				}
				seen[ev.Type] = ev
			case <-time.After(15 * time.Second):
				t.Fatalf("no %s event; got %v", want, seen)
			}
		}
	}
	if seen[engine.EventCallEnd].CallID != seen[engine.EventCallStart].CallID || seen[engine.EventCallEnd].Result == "" {
		t.Fatalf("call start %+v and end %+v", seen[engine.EventCallStart], seen[engine.EventCallEnd])
	}
}
