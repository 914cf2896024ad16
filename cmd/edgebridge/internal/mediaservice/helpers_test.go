package mediaservice

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/rtp"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/media"
	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

const (
	testDomain = "local"
	adminKey   = "test-admin-key-0123456789"
)

// rig is a media service on a real engine and a real REST API, with the
// integrator's application as an HTTPS server of its own CA.
type rig struct {
	t      *testing.T
	data   string
	db     *store.DB
	svc    *Service
	eng    *engine.Engine
	api    string // REST base URL
	app    *app
	alarms chan Alarm
}

// app is the integrator's web application: it answers each callback with
// what script returns and keeps every request.
type app struct {
	srv    *httptest.Server
	pub    *rsa.PublicKey
	mu     sync.Mutex
	reqs   []appReq
	script func(name string, body map[string]any) (int, any)
}

type appReq struct {
	name string
	body map[string]any
	auth string
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	name := strings.TrimPrefix(r.URL.Path, "/ivr/")
	a.mu.Lock()
	a.reqs = append(a.reqs, appReq{name: name, body: body, auth: r.Header.Get("Authorization")})
	script := a.script
	a.mu.Unlock()
	status, resp := 200, any(map[string]any{})
	if script != nil {
		status, resp = script(name, body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if s, ok := resp.(string); ok {
		io.WriteString(w, s)
		return
	}
	json.NewEncoder(w).Encode(resp)
}

// got returns the requests named name so far.
func (a *app) got(name string) []appReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []appReq
	for _, r := range a.reqs {
		if r.name == name {
			out = append(out, r)
		}
	}
	return out
}

// writeCA makes a CA, writes it as the callback CA bundle of data, and
// returns a server certificate for 127.0.0.1 it signed.
func writeCA(t *testing.T, data string) tls.Certificate {
	t.Helper()
	caPEM, cert := testkit.PrivateCA(t)
	if err := os.MkdirAll(filepath.Join(data, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, CABundleFile), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert
}

// newRig starts everything; the media service document matches "^ivr".
func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, data: t.TempDir(), alarms: make(chan Alarm, 32)}
	cert := writeCA(t, r.data)
	r.app = &app{}
	r.app.srv = httptest.NewUnstartedServer(r.app)
	r.app.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	r.app.srv.StartTLS()
	t.Cleanup(r.app.srv.Close)

	var err error
	r.db, err = store.Open(filepath.Join(r.data, "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.db.Close() })
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r.app.pub = &rsaKey.PublicKey
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	doc, _ := json.Marshal(map[string]any{
		"name": "IVR", "destinationMatch": "^ivr", "callbackBaseUrl": r.app.srv.URL + "/ivr", "callbackTimeout": 5000,
		"restAuthentication": []any{map[string]any{"type": "RS256", "secret": string(keyPEM), "sub": "gateway"}},
	})
	r.put("mediaservice", "ms1", string(doc))
	r.put("trustednetwork", "lo", `{"network":"127.0.0.0/8"}`)

	r.svc, err = New(Config{DB: r.db, Log: testLog(), DataDir: r.data, IVRServer: "127.0.0.1",
		Dial:         func(ctx context.Context, o engine.DialOptions) (*engine.Call, error) { return r.eng.Dial(ctx, o) },
		MediaSession: func(c media.SessionConfig) (*media.Session, error) { return r.eng.NewMediaSession(c) },
		Alarm:        func(a Alarm) { r.alarms <- a }})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := testkit.PortRange(t, 100)
	r.eng, err = engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: testDomain, RTPPortMin: lo, RTPPortMax: hi},
		engine.WithStore(r.db), engine.WithRoutes(engine.RouteSourceFunc(func(d string) []engine.Route { return append(r.svc.Routes(d), r.svc.RemoteRoutes(d)...) })),
		engine.WithLogger(testLog()))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.eng.Close() })

	hash, _, err := api.EnsureAdminKey(r.db, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Config{Store: r.db, AdminKeyHash: hash, Calls: r.svc, Prompts: PromptAPI{r.svc.Prompts()}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a)
	t.Cleanup(func() { ts.Close(); a.Close() })
	r.api = ts.URL
	return r
}

func (r *rig) put(res, id, doc string) {
	r.t.Helper()
	if err := r.db.Put(store.Coll{Domain: testDomain, Resource: res}, id, []byte(doc)); err != nil {
		r.t.Fatal(err)
	}
}

// rest calls the REST API with the admin key; status and decoded body.
func (r *rig) rest(method, path, contentType string, body []byte) (int, map[string]any) {
	req, err := http.NewRequest(method, r.api+path, bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func (r *rig) command(cmd string, body map[string]any) (int, map[string]any) {
	b, _ := json.Marshal(body)
	return r.rest("POST", "/mediaservice/"+testDomain+"/"+cmd, "application/json", b)
}

// toneWAV is a PCM16 WAV of a freq Hz tone at about −10 dBm0.
func toneWAV(t testing.TB, freq float64, ms int) []byte {
	pcm := make([]int16, 8*ms)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	var b bytes.Buffer
	if err := audiofile.WriteWAV(&b, pcm, audiofile.PCM16); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// inbandPcap writes a pcap of PCMA RTP carrying key as in-band DTMF (150 ms)
// after 100 ms of silence and followed by some more, for SIPp's play_pcap_audio.
func inbandPcap(t *testing.T, path string, key byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcap.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	gen := dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())
	if err := gen.QueueKey(key, 150, 60); err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddrPort("127.0.0.1:30000"), netip.MustParseAddrPort("127.0.0.1:6000")
	pcm, pay := make([]int16, 160), make([]byte, 160)
	at := time.Unix(1700000000, 0)
	for i := range 24 {
		clear(pcm)
		if i >= 5 {
			gen.Generate(pcm)
		}
		dsp.AlawEncode(pay, pcm)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(100 + i),
			Timestamp: uint32(1000 + 160*i), SSRC: 0x1234abcd, Marker: i == 0}, Payload: pay}
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(at.Add(time.Duration(i)*20*time.Millisecond), src, dst, b); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyJWT checks a callback's bearer token against the application's key.
func (a *app) verifyJWT(auth string) error {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return jwt.ErrTokenMalformed
	}
	_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return a.pub, nil }, jwt.WithValidMethods([]string{"RS256"}))
	return err
}

// toneMs is how long a freq Hz tone lasts in the WAV file at path, in all.
func toneMs(t *testing.T, path string, freq float64) int64 {
	t.Helper()
	pcm, _, err := audiofile.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "tone", Freq1: freq})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	emit := func(e dsp.ToneEvent) {
		if !e.On {
			total += e.DurationMs()
		}
	}
	d.Process(pcm, emit)
	d.Flush(emit)
	return total
}

// testLog is silent unless MEDIASERVICE_LOG is set (debugging a test).
func testLog() *slog.Logger {
	if os.Getenv("MEDIASERVICE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
