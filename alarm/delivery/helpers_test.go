package delivery

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/store"
)

func openDB(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// cidEvent is event n of a device: Contact ID 1130 with the zone = n.
func cidEvent(dev string, n int) alarm.Event {
	return alarm.Event{
		ID: fmt.Sprintf("%s-%04d", dev, n), Protocol: alarm.ProtoContactID, Received: time.Now(),
		ControllerID: dev, Raw: "1234181130010" + fmt.Sprintf("%03d", n%1000),
		ContactID: &alarm.ContactIDFields{Account: dev, Qualifier: "1", Code: "130", Group: "01", Zone: fmt.Sprintf("%03d", n%1000)},
	}
}

func fixed(routes ...Route) Resolver {
	return func(alarm.Event) ([]Route, error) { return routes, nil }
}

var testLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func fastOpts() []Option {
	return []Option{WithLogger(testLog), WithBackoff(5*time.Millisecond, 40*time.Millisecond), WithMonitorInterval(30 * time.Millisecond), WithPrimaryRecheck(time.Hour)}
}

func start(t testing.TB, d *Delivery) {
	t.Helper()
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
}

// httpARC is an HTTP callback receiver: it verifies the bearer token when
// given keys, drops repeats by Idempotency-Key and records what it accepted.
type httpARC struct {
	srv      *httptest.Server
	mu       sync.Mutex
	accepted []CallbackBody
	headers  []http.Header
	attempts map[string]int
	repeats  int
	requests int
	handled  int // requests the handler has finished with
	hsKey    []byte
	rsaPub   *rsa.PublicKey
	status   func(n int, b CallbackBody) int // nil: 200
	delay    func(n int) time.Duration
	onAccept func(id string)
}

// newHTTPARC starts the server after applying config (fields the handler
// reads are set before it runs).
func newHTTPARC(t testing.TB, config ...func(*httpARC)) *httpARC {
	a := &httpARC{attempts: map[string]int{}}
	for _, f := range config {
		f(a)
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *httpARC) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != CallbackPath {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	defer func() { a.mu.Lock(); a.handled++; a.mu.Unlock() }()
	a.mu.Lock()
	a.requests++
	n := a.requests
	a.mu.Unlock()
	if a.delay != nil {
		time.Sleep(a.delay(n))
	}
	if a.hsKey != nil || a.rsaPub != nil {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		_, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
			switch tk.Method.Alg() {
			case "HS256":
				if a.hsKey != nil {
					return a.hsKey, nil
				}
			case "RS256":
				if a.rsaPub != nil {
					return a.rsaPub, nil
				}
			}
			return nil, fmt.Errorf("no key for %s", tk.Method.Alg())
		}, jwt.WithValidMethods([]string{"HS256", "RS256"}))
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	var b CallbackBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if a.status != nil {
		if s := a.status(n, b); s != 0 && s != http.StatusOK {
			w.WriteHeader(s)
			return
		}
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	a.mu.Lock()
	a.attempts[key]++
	if a.attempts[key] > 1 {
		a.repeats++
		a.mu.Unlock()
		return // a repeat: acknowledged, not processed again
	}
	a.accepted = append(a.accepted, b)
	a.headers = append(a.headers, r.Header.Clone())
	a.mu.Unlock()
	if a.onAccept != nil {
		a.onAccept(b.ID)
	}
}

func (a *httpARC) got() []CallbackBody {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]CallbackBody(nil), a.accepted...)
}

func (a *httpARC) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.accepted)
}

// dc09ARC is a DC-09 receiver on TCP and UDP that records what it acknowledged.
type dc09ARC struct {
	r        *dc09.Receiver
	addr     string
	mu       sync.Mutex
	accepted []dc09.Message
	nulls    int
	verdict  func(n int, m dc09.Message) dc09.Verdict
	n        int
	loose    bool // reply like the receivers ARCs run (dc09.Receiver.Loose)
}

func newDC09ARC(t testing.TB, addr string, key []byte, config ...func(*dc09ARC)) *dc09ARC {
	a := &dc09ARC{}
	for _, f := range config {
		f(a)
	}
	a.r = &dc09.Receiver{
		Loose: a.loose,
		Key:   func(string) []byte { return key },
		Handle: func(m dc09.Message, _ net.Addr) dc09.Verdict {
			a.mu.Lock()
			defer a.mu.Unlock()
			if m.ID == dc09.IDNull {
				a.nulls++
				return dc09.VerdictAck
			}
			a.n++
			v := dc09.VerdictAck
			if a.verdict != nil {
				v = a.verdict(a.n, m)
			}
			if v == dc09.VerdictAck {
				a.accepted = append(a.accepted, m)
			}
			return v
		},
	}
	var err error
	if a.addr, err = a.r.Listen(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.r.Close() })
	return a
}

func (a *dc09ARC) got() []dc09.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]dc09.Message(nil), a.accepted...)
}

func (a *dc09ARC) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.accepted)
}

// freeAddr returns a loopback address with nothing listening on it (yet).
// The port is below Linux's ephemeral range (32768-60999), so that the
// gateway's own dials to it cannot be given it as their local port (a TCP
// self-connect would hold the port when the test starts its ARC there).
func freeAddr(t testing.TB) string {
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}
