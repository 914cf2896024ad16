package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

func rsaPEM(t *testing.T) (*rsa.PrivateKey, string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	return k, string(p)
}

func TestHTTPCallbackSignsAndTriesEachAuthentication(t *testing.T) {
	key, keyPEM := rsaPEM(t)
	arc := newHTTPARC(t, func(a *httpARC) { a.rsaPub = &key.PublicKey })
	route, err := CallbackRoute("example.com", "ab1", arc.srv.URL+"/", []RestAuth{
		// The first entry signs with a secret the ARC does not know: 401,
		// then the second entry (RS256) is tried (provisioning schema: restAuthentication).
		{Type: "HS256", Secret: "stale-secret-of-32-bytes-or-more-0", Sub: "old", RequestHeaders: map[string]string{"x-functions-key": "k-old"}},
		{Type: "RS256", Secret: keyPEM, Sub: "gateway-7", Scope: "alarms", RequestHeaders: map[string]string{"x-functions-key": "k-new"}},
	}, map[string]string{"X-Site": "home-3"}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	var observed atomic.Int64
	d := New(openDB(t), fixed(route), append(fastOpts(), WithLatencyObserver(func(l time.Duration) { observed.Store(int64(l)) }))...)
	start(t, d)
	ev := cidEvent("1234", 15)
	ev.CallID = "call-77"
	ev.CustomerSiteID = "site-a"
	if err := d.Enqueue(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "callback", 10*time.Second, func() bool { return arc.count() == 1 })
	arc.mu.Lock()
	b, h, requests := arc.accepted[0], arc.headers[0], arc.requests
	arc.mu.Unlock()
	if b.ID != ev.ID || b.SessionID != "call-77" || b.ReplyID != ev.ID || b.CustomerSiteID != "site-a" || b.HTTPTransactionID == "" {
		t.Errorf("body %+v", b)
	}
	if b.ContactID == nil || b.ContactID.Code != "130" || b.ContactID.Zone != "015" {
		t.Errorf("contactId %+v", b.ContactID)
	}
	if h.Get("X-Functions-Key") != "k-new" || h.Get("X-Site") != "home-3" || h.Get(HeaderIdempotencyKey) != ev.ID {
		t.Errorf("headers %v", h)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(strings.TrimPrefix(h.Get("Authorization"), "Bearer "), jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	c := tok.Claims.(jwt.MapClaims)
	if tok.Method.Alg() != "RS256" || c["sub"] != "gateway-7" || c["scope"] != "alarms" || c["jti"] != ev.ID {
		t.Errorf("token %s claims %v", tok.Method.Alg(), c)
	}
	if requests != 2 {
		t.Errorf("%d requests, want 2 (401 with the first entry, 200 with the second)", requests)
	}
	testkit.WaitFor(t, "stats", 10*time.Second, func() bool { s := d.Stats(); return s.Delivered == 1 && s.Queued == 0 })
	s := d.Stats()
	if s.Received != 1 || s.LatencyN != 1 || s.Retries != 0 {
		t.Errorf("stats %+v", s)
	}
	if l := time.Duration(observed.Load()); l <= 0 || l > s.LatencySum {
		t.Errorf("observer saw %v, histogram sum %v", l, s.LatencySum)
	}
	// The same event again (a panel that missed its kissoff repeats): no copy.
	if err := d.Enqueue(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.Duplicates != 1 || s.Received != 1 {
		t.Errorf("after repeat: stats %+v", s)
	}
	var buf bytes.Buffer
	if err := d.Stats().WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"edgebridge_alarm_events_delivered_total 1", "edgebridge_alarm_events_duplicate_total 1",
		`edgebridge_alarm_delivery_latency_seconds_bucket{le="+Inf"} 1`, `edgebridge_alarm_destination_queued{destination="example.com/callback/ab1"} 0`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, buf.String())
		}
	}
}

func TestHTTPCallbackAllAuthRefusedIsRetriedNotLost(t *testing.T) {
	arc := newHTTPARC(t, func(a *httpARC) { a.hsKey = []byte("right-secret-of-32-bytes-or-more-0") })
	route, _ := CallbackRoute("example.com", "ab1", arc.srv.URL, []RestAuth{{Type: "HS256", Secret: "wrong-secret-of-32-bytes-or-more-0"}}, nil, 1000)
	var current atomic.Pointer[Route]
	current.Store(&route)
	d := New(openDB(t), func(alarm.Event) ([]Route, error) { return []Route{*current.Load()}, nil }, fastOpts()...)
	start(t, d)
	if err := d.Enqueue(t.Context(), cidEvent("1234", 1)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "a retry", 10*time.Second, func() bool { return d.Stats().Retries >= 2 })
	if arc.count() != 0 || d.Stats().Failed != 0 {
		t.Fatalf("refused event was accepted or dropped: %+v", d.Stats())
	}
	// The installer fixes the secret: the queued event goes out with it.
	fixedRoute := route
	fixedRoute.Primary.Auth = []RestAuth{{Type: "HS256", Secret: "right-secret-of-32-bytes-or-more-0"}}
	current.Store(&fixedRoute)
	testkit.WaitFor(t, "delivery after the fix", 10*time.Second, func() bool { return arc.count() == 1 })
}

func TestHTTPCallbackRefusalIsDeadLetteredAndOrderGoesOn(t *testing.T) {
	arc := newHTTPARC(t, func(a *httpARC) {
		a.status = func(_ int, b CallbackBody) int {
			if b.ID == "1234-0002" {
				return http.StatusUnprocessableEntity
			}
			return 0
		}
	})
	route, _ := CallbackRoute("example.com", "ab1", arc.srv.URL, nil, nil, 1000)
	db := openDB(t)
	d := New(db, fixed(route), fastOpts()...)
	for i := 1; i <= 3; i++ {
		if err := d.Enqueue(t.Context(), cidEvent("1234", i)); err != nil {
			t.Fatal(err)
		}
	}
	start(t, d)
	testkit.WaitFor(t, "two delivered", 10*time.Second, func() bool { return arc.count() == 2 })
	if got := arc.got(); got[0].ID != "1234-0001" || got[1].ID != "1234-0003" {
		t.Errorf("accepted %s %s", got[0].ID, got[1].ID)
	}
	testkit.WaitFor(t, "dead letter counted", 10*time.Second, func() bool { return d.Stats().Failed == 1 })
	dead, _ := db.QueueDeadItems(route.Name, 10)
	if len(dead) != 1 || dead[0].ID != "1234-0002" || !strings.Contains(dead[0].DeadReason, "422") {
		t.Errorf("dead letters %+v", dead)
	}
}

func TestDC09DeliveryTCPAndUDP(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 24) // AES-192
	for _, tc := range []struct {
		transport, format string
		key               []byte
		want              string
		wantID            string
	}{
		{"tcp", "", nil, "#1234|1130 01 015", dc09.IDADMCID},
		{"udp", "", nil, "#1234|1130 01 015", dc09.IDADMCID},
		{"tcp", dc09.IDSIADCS, key, "#1234|Nri1/BA015", dc09.IDSIADCS},
		{"udp", dc09.IDADMCID, key, "#1234|1130 01 015", dc09.IDADMCID},
	} {
		arc := newDC09ARC(t, "127.0.0.1:0", tc.key)
		addr := fmt.Sprintf("dc09://%s?transport=%s&receiver=2&line=1&eventid=1&format=%s", arc.addr, tc.transport, tc.format)
		if tc.key != nil {
			addr += fmt.Sprintf("&key=%X", tc.key)
		}
		m := &alarm.EventMapper{ID: "m1", TargetEndpoint: alarm.TargetEndpoint{Protocol: "dc09", DestAddr: addr}}
		route, err := MapperRoute("example.com", m)
		if err != nil {
			t.Fatal(err)
		}
		d := New(openDB(t), fixed(route), fastOpts()...)
		start(t, d)
		if err := d.Enqueue(t.Context(), cidEvent("1234", 15)); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, "dc09 ack", 10*time.Second, func() bool { return d.Stats().Delivered == 1 })
		got := arc.got()
		if len(got) != 1 {
			t.Fatalf("%s: receiver accepted %d", tc.transport, len(got))
		}
		g := got[0]
		if g.ID != tc.wantID || g.Data != tc.want || g.Account != "1234" || g.Receiver != "2" || g.Line != "1" ||
			g.Encrypted != (tc.key != nil) || len(g.Ext) != 1 || g.Ext[0] != "I1234-0015" || g.Time.IsZero() {
			t.Errorf("%s %s: receiver got %+v", tc.transport, tc.format, g)
		}
		d.Close()
	}
}

func TestDC09NakIsResentAndDuhIsDeadLettered(t *testing.T) {
	arc := newDC09ARC(t, "127.0.0.1:0", nil, func(a *dc09ARC) {
		a.verdict = func(n int, m dc09.Message) dc09.Verdict {
			switch {
			case n == 1:
				return dc09.VerdictNak // timestamp problem: resent with a fresh one
			case strings.HasSuffix(m.Data, " 002"):
				return dc09.VerdictDuh
			}
			return dc09.VerdictAck
		}
	})
	route := Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: arc.addr, Transport: "tcp"}}
	db := openDB(t)
	d := New(db, fixed(route), fastOpts()...)
	start(t, d)
	for i := 1; i <= 3; i++ {
		if err := d.Enqueue(t.Context(), cidEvent("1234", i)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, "events 1 and 3", 10*time.Second, func() bool { return arc.count() == 2 })
	testkit.WaitFor(t, "dead letter and two acks", 10*time.Second, func() bool { s := d.Stats(); return s.Failed == 1 && s.Delivered == 2 })
	got := arc.got()
	if !strings.HasSuffix(got[0].Data, " 001") || !strings.HasSuffix(got[1].Data, " 003") {
		t.Errorf("accepted %q, %q", got[0].Data, got[1].Data)
	}
	s := d.Stats()
	if s.Retries != 0 || s.Delivered != 2 {
		t.Errorf("stats %+v: a NAK is handled inside the attempt", s)
	}
	dead, _ := db.QueueDeadItems("arc", 10)
	if len(dead) != 1 || dead[0].ID != "1234-0002" || !strings.Contains(dead[0].DeadReason, "DUH") {
		t.Errorf("dead %+v", dead)
	}
}

func TestOutageOfTheARC(t *testing.T) {
	// Nothing listens at the ARC's address for a while; events pile up
	// durably and all go out, in order per device, once it answers.
	addr := freeAddr(t)
	route := Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: addr, Transport: "tcp", Timeout: 500 * time.Millisecond}}
	d := New(openDB(t), fixed(route), fastOpts()...)
	start(t, d)
	for i := 1; i <= 10; i++ {
		for _, dev := range []string{"1001", "1002"} {
			if err := d.Enqueue(t.Context(), cidEvent(dev, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	testkit.WaitFor(t, "retries during the outage", 10*time.Second, func() bool { return d.Stats().Retries >= 3 })
	if s := d.Stats(); s.Delivered != 0 || s.Queued != 20 || s.Failed != 0 {
		t.Fatalf("during outage: %+v", s)
	}
	arc := newDC09ARC(t, addr, nil)
	testkit.WaitFor(t, "all 20 after the outage", 10*time.Second, func() bool { return arc.count() == 20 })
	last := map[string]string{}
	for _, m := range arc.got() {
		if p := last[m.Account]; p != "" && m.Data <= p {
			t.Errorf("device %s: %q after %q", m.Account, m.Data, p)
		}
		last[m.Account] = m.Data
	}
	testkit.WaitFor(t, "queue empty", 10*time.Second, func() bool { return d.Stats().Queued == 0 })
}

func TestSlowCallbackTimesOutAndIsDeliveredOnce(t *testing.T) {
	arc := newHTTPARC(t, func(a *httpARC) {
		a.delay = func(n int) time.Duration {
			if n == 1 {
				return 400 * time.Millisecond // past callbackTimeout: the gateway gives up on this try
			}
			return 0
		}
	})
	route, _ := CallbackRoute("example.com", "ab1", arc.srv.URL, nil, nil, 150)
	d := New(openDB(t), fixed(route), fastOpts()...)
	start(t, d)
	if err := d.Enqueue(t.Context(), cidEvent("1234", 1)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "delivered", 10*time.Second, func() bool { return d.Stats().Delivered == 1 })
	testkit.WaitFor(t, "slow request finished", 10*time.Second, func() bool { arc.mu.Lock(); defer arc.mu.Unlock(); return arc.requests >= 2 })
	testkit.WaitFor(t, "the first, slow request to complete at the ARC", 10*time.Second, func() bool { arc.mu.Lock(); defer arc.mu.Unlock(); return arc.handled >= 2 })
	if d.Stats().Retries < 1 {
		t.Errorf("no retry after a timeout: %+v", d.Stats())
	}
	if n := arc.count(); n != 1 {
		t.Errorf("ARC processed the event %d times, want once (Idempotency-Key)", n)
	}
}

func TestFailoverToBackupAndBackWithMonitoring(t *testing.T) {
	primaryAddr := freeAddr(t)
	backupARC := newDC09ARC(t, "127.0.0.1:0", nil)
	route := Route{Name: "arc", Monitor: true,
		Primary: Endpoint{Protocol: ProtoDC09, URL: primaryAddr, Transport: "tcp", Timeout: 300 * time.Millisecond},
		Backup:  &Endpoint{Protocol: ProtoDC09, URL: backupARC.addr, Transport: "udp", Timeout: 300 * time.Millisecond}}
	d := New(openDB(t), fixed(route), fastOpts()...)
	start(t, d)
	if err := d.Enqueue(t.Context(), cidEvent("1234", 1)); err != nil {
		t.Fatal(err)
	}
	// The event and the "primary offline" supervision event (SIA-DCS YC,
	// communication fail) reach the ARC over the backup.
	testkit.WaitFor(t, "event and supervision over the backup", 10*time.Second, func() bool { return backupARC.count() >= 2 })
	var sawOffline bool
	for _, m := range backupARC.got() {
		sawOffline = sawOffline || m.ID == dc09.IDSIADCS && m.Data == "#0000|Nri0/YC"
	}
	if !sawOffline {
		t.Errorf("backup got %+v, want a SIA-DCS YC (communication fail) supervision event", backupARC.got())
	}
	s := d.Stats()
	if s.Failovers < 1 || s.Supervision < 1 || s.Destinations[0].PrimaryUp || !s.Destinations[0].BackupUp {
		t.Errorf("stats %+v", s)
	}
	// Probes keep both paths watched: the backup gets NULLs.
	testkit.WaitFor(t, "NULL supervision on the backup", 10*time.Second, func() bool { backupARC.mu.Lock(); defer backupARC.mu.Unlock(); return backupARC.nulls >= 2 })

	// The primary comes back: a probe finds it, "online" (YK) is raised,
	// and events go to the primary again.
	primaryARC := newDC09ARC(t, primaryAddr, nil)
	testkit.WaitFor(t, "primary back up", 10*time.Second, func() bool { return d.Stats().Destinations[0].PrimaryUp })
	if err := d.Enqueue(t.Context(), cidEvent("1234", 2)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "event 2 on the primary", 10*time.Second, func() bool {
		for _, m := range primaryARC.got() {
			if strings.HasSuffix(m.Data, "|1130 01 002") {
				return true
			}
		}
		return false
	})
	testkit.WaitFor(t, "online supervision event", 10*time.Second, func() bool {
		for _, m := range append(primaryARC.got(), backupARC.got()...) {
			if m.Data == "#0000|Nri0/YK" {
				return true
			}
		}
		return false
	})
	for _, m := range backupARC.got() {
		if strings.HasSuffix(m.Data, "|1130 01 002") {
			t.Error("event 2 went to the backup although the primary was back")
		}
	}
}

func TestOrderPerDeviceWithFlakyARC(t *testing.T) {
	arc := newHTTPARC(t, func(a *httpARC) {
		a.status = func(n int, _ CallbackBody) int {
			if n%4 == 0 {
				return http.StatusServiceUnavailable
			}
			return 0
		}
	})
	route, _ := CallbackRoute("example.com", "ab1", arc.srv.URL, nil, nil, 1000)
	d := New(openDB(t), fixed(route), fastOpts()...)
	start(t, d)
	devs := []string{"1001", "1002", "1003"}
	for i := 1; i <= 30; i++ {
		for _, dev := range devs {
			if err := d.Enqueue(t.Context(), cidEvent(dev, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	testkit.WaitFor(t, "90 events", 10*time.Second, func() bool { return arc.count() == 90 })
	last := map[string]string{}
	for _, b := range arc.got() {
		if p := last[b.ControllerID]; p != "" && b.ID <= p {
			t.Fatalf("device %s: %s after %s", b.ControllerID, b.ID, p)
		}
		last[b.ControllerID] = b.ID
	}
	if d.Stats().Retries == 0 {
		t.Error("no retries although the ARC answered 503 to every 4th request")
	}
}

func TestEnqueueFails(t *testing.T) {
	db := openDB(t)
	route := Route{Name: "arc", Primary: Endpoint{Protocol: ProtoHTTP, URL: "http://127.0.0.1:1"}}
	d := New(db, fixed(), fastOpts()...)
	if err := d.Enqueue(t.Context(), cidEvent("1234", 1)); !errors.Is(err, ErrNoRoute) {
		t.Errorf("no route: err %v", err)
	}
	d = New(db, func(alarm.Event) ([]Route, error) { return nil, errors.New("unknown mapper") })
	if err := d.Enqueue(t.Context(), cidEvent("1234", 1)); err == nil || !strings.Contains(err.Error(), "unknown mapper") {
		t.Errorf("resolver error: err %v", err)
	}
	bad := route
	bad.Primary.URL = "ftp://x"
	d = New(db, fixed(bad))
	if err := d.Enqueue(t.Context(), cidEvent("1234", 1)); err == nil || !strings.Contains(err.Error(), "http://") {
		t.Errorf("bad url: err %v", err)
	}
	d = New(db, fixed(route))
	if err := d.Enqueue(t.Context(), alarm.Event{}); err == nil || !strings.Contains(err.Error(), "eventId") {
		t.Errorf("no id: err %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := d.Enqueue(ctx, cidEvent("1234", 1)); err == nil {
		t.Error("cancelled context: no error")
	}
	// The store cannot be written: no success, so the panel gets no kissoff.
	db.Close()
	if err := d.Enqueue(t.Context(), cidEvent("1234", 1)); err == nil {
		t.Error("Enqueue returned nil with the store closed")
	}
}

func TestMapperRouteAndDestAddr(t *testing.T) {
	m := &alarm.EventMapper{ID: "m9", EnableDestinationMonitoring: true, TargetEndpoint: alarm.TargetEndpoint{
		Protocol: "dc09", DestAddr: "udp://10.0.0.5:9000",
		BackupEndpoint: &alarm.BackupEndpoint{BackupDestAddr: "10.0.0.6:9001"}}}
	r, err := MapperRoute("d.example", m)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "d.example/mapper/m9" || !r.Monitor || r.Primary.Transport != "udp" || r.Primary.URL != "10.0.0.5:9000" ||
		r.Backup == nil || r.Backup.URL != "10.0.0.6:9001" || r.Backup.Transport != "tcp" {
		t.Errorf("route %+v backup %+v", r, r.Backup)
	}
	for _, c := range []struct{ addr, want string }{
		{"dc09://h:1?key=00", "key"},
		{"dc09://h:1?transport=sctp", "transport"},
		{"dc09://h:1?format=XYZ", "format"},
		{"dc09://h:1?timeout=-5", "timeout"},
		{"nohostport", "host:port"},
		{"dc09://h:1?account=XYZ", "account"},
		{"dc09://h:1?line=1234567", "line"},
	} {
		if _, err := ParseDC09Addr(c.addr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseDC09Addr(%q): err %v, want one naming %s", c.addr, err, c.want)
		}
	}
	ep, err := ParseDC09Addr("dc09://h:1?account=ABC1&key=000102030405060708090a0b0c0d0e0f&timeout=250")
	if err != nil || ep.Account != "ABC1" || len(ep.Key) != 16 || ep.Timeout != 250*time.Millisecond {
		t.Errorf("ParseDC09Addr: %+v %v", ep, err)
	}
	if _, err := CallbackRoute("d", "b", "https://x", []RestAuth{{Type: "ES256", Secret: "s"}}, nil, 0); err == nil || !strings.Contains(err.Error(), "type") {
		t.Errorf("ES256 accepted: %v", err)
	}
}

func TestHTTPSCallbackWithPrivateCA(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == CallbackPath && r.Method == http.MethodPost {
			got.Add(1)
		}
	}))
	defer srv.Close()
	route, err := CallbackRoute("example.com", "ab1", srv.URL, nil, nil, 2000)
	if err != nil || !strings.HasPrefix(route.Primary.URL, "https://") {
		t.Fatalf("route %+v %v", route, err)
	}
	// Without the CA the certificate is refused and the event waits.
	d := New(openDB(t), fixed(route), fastOpts()...)
	start(t, d)
	d.Enqueue(t.Context(), cidEvent("1234", 1))
	testkit.WaitFor(t, "a refused TLS attempt", 10*time.Second, func() bool { return d.Stats().Retries >= 1 })
	if got.Load() != 0 {
		t.Fatal("callback delivered over an unverified certificate")
	}
	d.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	d2 := New(openDB(t), fixed(route), append(fastOpts(), WithTLSConfig(&tls.Config{RootCAs: pool}))...)
	start(t, d2)
	d2.Enqueue(t.Context(), cidEvent("1234", 1))
	testkit.WaitFor(t, "delivery over TLS", 10*time.Second, func() bool { return got.Load() == 1 && d2.Stats().Delivered == 1 })
}

func TestMaxAttemptsAndBackoffBounds(t *testing.T) {
	route := Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: freeAddr(t), Transport: "tcp", Timeout: 200 * time.Millisecond}}
	db := openDB(t)
	d := New(db, fixed(route), append(fastOpts(), WithMaxAttempts(3))...)
	start(t, d)
	d.Enqueue(t.Context(), cidEvent("1234", 1))
	testkit.WaitFor(t, "dead letter after 3 attempts", 10*time.Second, func() bool { return d.Stats().Failed == 1 })
	dead, _ := db.QueueDeadItems("arc", 1)
	if len(dead) != 1 || dead[0].Attempts != 3 || d.Stats().Retries != 2 {
		t.Errorf("dead %+v stats %+v: want 3 attempts, 2 retries", dead, d.Stats())
	}
	b := New(db, fixed(route), WithBackoff(100*time.Millisecond, time.Second))
	for attempts, want := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		want *= time.Millisecond
		if attempts > 3 {
			want = time.Second
		}
		for range 50 {
			if got := b.backoff(attempts); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempts, got, want/2, want)
			}
		}
	}
}

func TestWatchSupervisesBeforeAnyEvent(t *testing.T) {
	arc := newDC09ARC(t, "127.0.0.1:0", nil)
	var raised []alarm.Event
	var mu sync.Mutex
	route := Route{Name: "arc", Monitor: true,
		Primary: Endpoint{Protocol: ProtoDC09, URL: arc.addr, Transport: "tcp", Timeout: 200 * time.Millisecond},
		Backup:  &Endpoint{Protocol: ProtoDC09, URL: freeAddr(t), Transport: "tcp", Timeout: 200 * time.Millisecond}}
	d := New(openDB(t), fixed(route), append(fastOpts(), WithSupervisionHandler(func(ev alarm.Event) {
		mu.Lock()
		raised = append(raised, ev)
		mu.Unlock()
	}))...)
	if err := d.Watch(route); err != nil {
		t.Fatal(err)
	}
	start(t, d)
	testkit.WaitFor(t, "backup reported offline", 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(raised) >= 1 })
	mu.Lock()
	ev := raised[0]
	mu.Unlock()
	if ev.Protocol != alarm.ProtoSupervision || ev.Supervision == nil || ev.Supervision.State != "offline" ||
		ev.DeviceComponent != "backup" || ev.ID == "" {
		t.Errorf("supervision event %+v", ev)
	}
	testkit.WaitFor(t, "NULLs on the primary", 10*time.Second, func() bool { arc.mu.Lock(); defer arc.mu.Unlock(); return arc.nulls >= 2 })
	if s := d.Stats(); s.Received != 0 || !s.Destinations[0].PrimaryUp || s.Destinations[0].BackupUp {
		t.Errorf("stats %+v", s)
	}
	if err := d.Watch(Route{Name: "x", Primary: Endpoint{Protocol: ProtoDC09, URL: "nope"}}); err == nil {
		t.Error("Watch accepted a route without host:port")
	}
}

// TestDC09RealReceiverGetsEachEventOnce: against a receiver that answers
// the way real ones do ("ACK"0001NoneL0#..., lower-case hex, no timestamp)
// each event is taken on its first acknowledgement; an event whose ACK was
// lost goes out again with its sequence number, also after the gateway
// restarted, so a receiver that drops repeats by account and sequence holds
// every event exactly once.
func TestDC09RealReceiverGetsEachEventOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]int{} // data -> sequence numbers, in arrival order
	holdEvent3 := true
	arc := newDC09ARC(t, "127.0.0.1:0", nil, func(a *dc09ARC) {
		a.loose = true
		a.verdict = func(_ int, m dc09.Message) dc09.Verdict {
			mu.Lock()
			defer mu.Unlock()
			seen[m.Data] = append(seen[m.Data], m.Seq)
			if m.Data == "#1234|1130 01 002" && len(seen[m.Data]) == 1 {
				return dc09.VerdictSilence // the first ACK of event 2 is lost
			}
			if holdEvent3 && m.Data == "#1234|1130 01 003" {
				return dc09.VerdictSilence // event 3 waits for the restart
			}
			return dc09.VerdictAck
		}
	})
	route := Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: arc.addr, Transport: "tcp", Timeout: 200 * time.Millisecond}}
	db := openDB(t)
	d := New(db, fixed(route), fastOpts()...)
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := d.Enqueue(t.Context(), cidEvent("1234", i)); err != nil {
			t.Fatal(err)
		}
	}
	count := func(data string) int { mu.Lock(); defer mu.Unlock(); return len(seen[data]) }
	testkit.WaitFor(t, "events 1 and 2 acknowledged, event 3 sent twice", 10*time.Second, func() bool {
		return d.Stats().Delivered == 2 && count("#1234|1130 01 003") >= 2
	})
	d.Close()
	mu.Lock()
	holdEvent3 = false
	mu.Unlock()
	d2 := New(db, fixed(route), fastOpts()...)
	start(t, d2)
	testkit.WaitFor(t, "event 3 acknowledged after the restart", 10*time.Second, func() bool { return d2.Stats().Delivered == 1 })

	mu.Lock()
	defer mu.Unlock()
	held := map[string]bool{} // what a receiver dropping repeats keeps
	first := map[int]string{}
	for data, seqs := range seen {
		for _, s := range seqs {
			if s != seqs[0] {
				t.Errorf("%s went out with sequences %v: a repeat must keep its number", data, seqs)
			}
		}
		if other, ok := first[seqs[0]]; ok {
			t.Errorf("%s and %s share sequence %04d", data, other, seqs[0])
		}
		first[seqs[0]] = data
		held[data] = true
	}
	if len(held) != 3 || len(seen["#1234|1130 01 001"]) != 1 || len(seen["#1234|1130 01 002"]) != 2 {
		t.Errorf("receiver saw %v", seen)
	}
	if n := arc.count(); n != 3 {
		t.Errorf("receiver acknowledged %d messages, want 3 (one per event)", n)
	}
}

// TestDC09NonContactIDEventsKeepIdentity: events of the other protocols
// travel as SIA-DCS under the device's account with the SIA code of their
// event type (see siaCodes), not as a generic Contact ID alarm of 0000.
func TestDC09NonContactIDEventsKeepIdentity(t *testing.T) {
	ep := Endpoint{Protocol: ProtoDC09, URL: "h:1", Format: dc09.IDADMCID}
	for _, c := range []struct {
		ev   alarm.Event
		want string
	}{
		{alarm.Event{Protocol: alarm.ProtoBS8521, ControllerID: "12345678", DeviceID: "0001",
			BS8521: &alarm.BS8521Fields{Event: "019", Location: "05"}}, "#12345678|Nri0/QA05"},
		{alarm.Event{Protocol: alarm.ProtoBS8521, DeviceKey: "ab12", BS8521: &alarm.BS8521Fields{Event: "021", Location: "01"}}, "#ab12|Nri0/MA01"},
		{alarm.Event{Protocol: alarm.ProtoBS8521, ControllerID: "12345678", BS8521: &alarm.BS8521Fields{Event: "058", Location: "00"}}, "#12345678|Nri0/RP00"},
		{alarm.Event{Protocol: alarm.ProtoTT92, ControllerID: "123456789012", StatusCode: "1023"}, "#123456789012|Nri0/QA3"},
		{alarm.Event{Protocol: "ttnew", ControllerID: "123456789012", StatusCode: "1021"}, "#123456789012|Nri0/QA1"},
		{alarm.Event{Protocol: alarm.ProtoSCAIP, ControllerID: "4711", DeviceType: "0003"}, "#4711|Nri0/QA"},
		{alarm.Event{Protocol: alarm.ProtoSCAIP, ControllerID: "4711", StatusCode: "0101"}, "#4711|Nri0/UA"},
		{alarm.Event{Protocol: alarm.ProtoSupervision, DeviceKey: "1234", Supervision: &alarm.SupervisionFields{Kind: "heartbeat", State: "offline"}}, "#1234|Nri0/YS"},
		{alarm.Event{Protocol: alarm.ProtoSupervision, DeviceKey: "1234", Supervision: &alarm.SupervisionFields{Kind: "heartbeat", State: "online"}}, "#1234|Nri0/YK"},
		{alarm.Event{Protocol: alarm.ProtoSupervision, DeviceID: "d/mapper/m", Supervision: &alarm.SupervisionFields{Kind: "destination", State: "offline"}}, "#0000|Nri0/YC"},
		{alarm.Event{Protocol: alarm.ProtoSupervision, ControllerID: "9999", Supervision: &alarm.SupervisionFields{Kind: "unknownaccount", State: "offline"}}, "#9999|Nri0/UA"},
	} {
		acct, id, data, err := dc09Payload(c.ev, ep)
		if err != nil || id != dc09.IDSIADCS || data != c.want || "#"+acct != data[:len(acct)+1] {
			t.Errorf("%s %+v: %s %s %q %v, want SIA-DCS %q", c.ev.Protocol, c.ev.BS8521, acct, id, data, err, c.want)
		}
	}
	// The endpoint's account, when set, is the account of every event.
	ep.Account = "9999"
	if _, _, data, _ := dc09Payload(alarm.Event{Protocol: alarm.ProtoTT92, ControllerID: "1234", StatusCode: "1021"}, ep); data != "#9999|Nri0/QA1" {
		t.Errorf("endpoint account: %q", data)
	}
}
