package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

var httpsListenRe = regexp.MustCompile(`https listening" addr=(\S+) sha256=(\S+)`)

// httpsOf is the HTTPS address and fingerprint the daemon logged.
func (d *daemonProc) httpsOf(t *testing.T) (addr, fingerprint string) {
	t.Helper()
	var m []string
	if testkit.Eventually(5*time.Second, func() bool { m = httpsListenRe.FindStringSubmatch(d.log()); return m != nil }) {
		return m[1], m[2]
	}
	t.Fatalf("daemon did not log its HTTPS address and fingerprint:\n%s", d.log())
	return "", ""
}

// pinnedClient trusts exactly the certificate whose SHA-256 is fingerprint,
// as an installer who checked the fingerprint does, and nothing else.
func pinnedClient(fingerprint string) *http.Client {
	tc := &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below: a self-signed certificate has no CA
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || api.Fingerprint(cs.PeerCertificates[0].Raw) != fingerprint {
				return errors.New("certificate does not match the pinned fingerprint")
			}
			return nil
		},
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
}

func getJSON(t *testing.T, c *http.Client, url, key string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return res.StatusCode
}

// serve --https: a self-signed ECDSA certificate made on first start for
// the gateway's addresses, kept across restarts; its fingerprint is in the
// log and the status summary, and a TLS client pinning it gets through
// while one pinning anything else is refused.
func TestServeHTTPSSelfSignedPinned(t *testing.T) {
	dir := t.TempDir()
	const key = "https-test-admin-key-0123"
	d := startDaemon(t, dir, nil, "--admin-key", key, "--https", "127.0.0.1:0")
	addr, fp := d.httpsOf(t)
	c := pinnedClient(fp)
	var st struct {
		TLSFingerprint string `json:"tlsFingerprint"`
		Version        string
		Health         struct {
			StoreWritable bool `json:"storeWritable"`
			SIPUp         bool `json:"sipUp"`
		}
	}
	if code := getJSON(t, c, "https://"+addr+"/gateway/status", key, &st); code != 200 || st.TLSFingerprint != fp || !st.Health.StoreWritable || !st.Health.SIPUp {
		t.Fatalf("status over https: %d %+v, want fingerprint %s, store writable, SIP up", code, st, fp)
	}

	// The certificate itself: ECDSA, valid for the address it serves on,
	// and verifiable as its own root (what "trust this certificate" does).
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("certificate key is %T, want ECDSA", cert.PublicKey)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Fatalf("certificate not valid for 127.0.0.1: %v", err)
	}
	strict, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("a client trusting the certificate, for localhost: %v", err)
	}
	strict.Close()

	// A client pinning another fingerprint is refused.
	if _, err := pinnedClient(strings.Repeat("00:", 31) + "00").Get("https://" + addr + "/healthz"); err == nil {
		t.Fatal("a client pinning another fingerprint got through")
	}
	// Plain HTTP on the TLS port gets nothing useful.
	if res, err := http.Get("http://" + addr + "/healthz"); err == nil && res.StatusCode == 200 {
		t.Fatal("plain HTTP answered 200 on the HTTPS port")
	}

	// Restarted, the gateway keeps its certificate (the installer checked
	// that fingerprint once).
	_ = d.cmd.Process.Kill()
	<-d.exited
	d2 := startDaemon(t, dir, nil, "--admin-key", key, "--https", "127.0.0.1:0")
	if _, fp2 := d2.httpsOf(t); fp2 != fp {
		t.Fatalf("fingerprint changed across a restart: %s then %s", fp, fp2)
	}
}

// The gateway's addresses changed while it was off (another network, a new
// lease): its self-signed certificate, made for an address it no longer
// has, is made again at start for the addresses it has now, with a new
// fingerprint in the log and the status, and kept from then on.
func TestServeHTTPSSelfSignedRemadeForNewAddresses(t *testing.T) {
	dir := t.TempDir()
	const key = "https-moved-admin-key-0123"
	old, err := api.LoadHTTPSCert(filepath.Join(dir, "tls"), []string{"192.0.2.50"})
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, nil, "--admin-key", key, "--https", "127.0.0.1:0")
	addr, fp := d.httpsOf(t)
	if fp == old.Fingerprint || !strings.Contains(d.log(), "made_now=true") {
		t.Fatalf("the certificate for 192.0.2.50 was kept (fingerprint %s):\n%s", fp, d.log())
	}
	var st struct {
		TLSFingerprint string `json:"tlsFingerprint"`
	}
	if code := getJSON(t, pinnedClient(fp), "https://"+addr+"/gateway/status", key, &st); code != 200 || st.TLSFingerprint != fp {
		t.Fatalf("status over https: %d %+v, want fingerprint %s", code, st, fp)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if cert.VerifyHostname("127.0.0.1") != nil || cert.VerifyHostname("192.0.2.50") == nil {
		t.Fatalf("new certificate for %v %v, want the gateway's addresses only", cert.IPAddresses, cert.DNSNames)
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	d2 := startDaemon(t, dir, nil, "--admin-key", key, "--https", "127.0.0.1:0")
	if _, fp2 := d2.httpsOf(t); fp2 != fp {
		t.Fatalf("fingerprint changed across a restart with the same addresses: %s then %s", fp, fp2)
	}
}

// The installer's own certificate in DATA/tls wins over a self-signed one.
func TestServeHTTPSInstallerCertificate(t *testing.T) {
	dir := t.TempDir()
	// A pair made elsewhere, copied in under the installer's names.
	other := t.TempDir()
	if _, err := api.LoadHTTPSCert(other, []string{"gateway.test"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir+"/tls", 0o700); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".crt", ".key"} {
		if err := os.Rename(other+"/https-self"+ext, dir+"/tls/https"+ext); err != nil {
			t.Fatal(err)
		}
	}
	d := startDaemon(t, dir, nil, "--admin-key", "https-test-admin-key-0123", "--https", "127.0.0.1:0")
	_, fp := d.httpsOf(t)
	pair, err := tls.LoadX509KeyPair(dir+"/tls/https.crt", dir+"/tls/https.key")
	if err != nil {
		t.Fatal(err)
	}
	if want := api.Fingerprint(pair.Certificate[0]); fp != want {
		t.Fatalf("served fingerprint %s, want the installer's %s", fp, want)
	}
	if !strings.Contains(d.log(), "self_signed=false") {
		t.Fatalf("log does not say the certificate is the installer's:\n%s", d.log())
	}
}

// The field service over REST on the real daemon: a test alarm through a
// chosen mapper reaches the ARC as Contact ID 601 and shows as a test in
// the recent alarms, delivered; an alarm for a dead ARC waits in the
// queue with its error until "retry now"; factory reset wants its
// confirmation and then restarts the daemon.
func TestFieldServiceOverREST(t *testing.T) {
	dir := t.TempDir()
	const key = "field-test-admin-key-0123"
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	dead := freePort(t)
	d := startDaemon(t, dir, nil, "--admin-key", key)
	for _, body := range []string{
		`{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`,
		`{"id":"dead","name":"dead ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + dead + `?transport=tcp"}}`,
	} {
		if code, b, err := d.req(key, "POST", "/provisioning/alarmeventmapper/local", body); code != 200 {
			t.Fatalf("mapper: %d %s %v", code, b, err)
		}
	}
	code, b, _ := d.req(key, "POST", "/alarmbridge/local/testalarm", `{"alarmEventMapperId":"arc","account":"4321"}`)
	if code != 200 || !strings.Contains(b, `"eventId"`) {
		t.Fatalf("test alarm: %d %s", code, b)
	}
	got := arc.Wait(1, 10*time.Second)
	if len(got) != 1 || got[0].Data != "#4321|1601 00 000" {
		t.Fatalf("ARC got %+v, want one ADM-CID #4321|1601 00 000 (manual test report)", got)
	}
	var recent struct{ Alarms []api.AlarmInfo }
	if !testkit.Eventually(5*time.Second, func() bool {
		getJSON(t, http.DefaultClient, d.url+"/gateway/alarms/recent", key, &recent)
		return len(recent.Alarms) == 1 && recent.Alarms[0].State == "delivered"
	}) {
		t.Fatalf("recent alarms %+v, want the test alarm delivered", recent.Alarms)
	}
	if a := recent.Alarms[0]; !a.Test || a.Account != "4321" || a.Code != "1601" || a.Domain != "local" {
		t.Fatalf("recent alarm %+v, want a test, account 4321, code 1601, domain local", a)
	}
	if code, b, _ := d.req(key, "POST", "/alarmbridge/local/testalarm", `{"alarmEventMapperId":"nope"}`); code != 400 || !strings.Contains(b, `alarmEventMapperId: no alarm event mapper`) {
		t.Fatalf("unknown mapper: %d %s", code, b)
	}

	if code, b, _ := d.req(key, "POST", "/alarmbridge/local/testalarm", `{"alarmEventMapperId":"dead"}`); code != 200 {
		t.Fatalf("test alarm to the dead ARC: %d %s", code, b)
	}
	var queued struct{ Alarms []api.AlarmInfo }
	if !testkit.Eventually(10*time.Second, func() bool {
		getJSON(t, http.DefaultClient, d.url+"/gateway/alarms/queued", key, &queued)
		return len(queued.Alarms) == 1 && queued.Alarms[0].Attempts > 0
	}) {
		t.Fatalf("queued %+v, want the dead ARC's alarm with a failed attempt", queued.Alarms)
	}
	if s := queued.Alarms[0].State; !strings.Contains(s, "last error") {
		t.Fatalf("queued state %q does not say why", s)
	}
	var st struct {
		Health struct {
			ARCPaths []api.PathHealth `json:"arcPaths"`
		}
		Queued int
	}
	getJSON(t, http.DefaultClient, d.url+"/gateway/status", key, &st)
	down := false
	for _, p := range st.Health.ARCPaths {
		if p.Destination == "local/mapper/dead" && p.Path == "primary" && !p.Up && p.LastError != "" {
			down = true
		}
	}
	if !down || st.Queued != 1 {
		t.Fatalf("status %+v, want local/mapper/dead primary down with its error, one queued", st)
	}
	if code, b, _ := d.req(key, "POST", "/gateway/alarms/retry", ""); code != 200 || !strings.Contains(b, `"retried":1`) {
		t.Fatalf("retry now: %d %s", code, b)
	}
	// A domain key may look but not push the whole gateway's queue.
	code, b, _ = d.req(key, "POST", "/provisioning/apiKey/local", `{"key":""}`)
	var dk struct{ Key string }
	if json.Unmarshal([]byte(b), &dk); code != 200 || dk.Key == "" {
		t.Fatalf("domain key: %d %s", code, b)
	}
	if code, _, _ := d.req(dk.Key, "POST", "/gateway/alarms/retry", ""); code != 403 {
		t.Fatalf("retry with a domain key: %d, want 403", code)
	}
	// A domain key sees its domain's alarms and paths, and no other's.
	code, b, _ = d.req(key, "POST", "/provisioning/apiKey/other", `{"key":""}`)
	var ok struct{ Key string }
	if json.Unmarshal([]byte(b), &ok); code != 200 || ok.Key == "" {
		t.Fatalf("key of domain other: %d %s", code, b)
	}
	for k, want := range map[string]int{dk.Key: 2, ok.Key: 0} {
		var seen struct {
			RecentAlarms []api.AlarmInfo `json:"recentAlarms"`
			Health       struct {
				ARCPaths []api.PathHealth `json:"arcPaths"`
			}
		}
		getJSON(t, http.DefaultClient, d.url+"/gateway/status", k, &seen)
		if len(seen.RecentAlarms) != want || len(seen.Health.ARCPaths) != want {
			t.Fatalf("status for a domain key: %d alarms, %d paths; want %d of each", len(seen.RecentAlarms), len(seen.Health.ARCPaths), want)
		}
	}

	if code, b, _ := d.req(key, "POST", "/gateway/factoryreset", `{"confirm":"yes"}`); code != 400 || !strings.HasPrefix(jsonReason(b), "confirm:") {
		t.Fatalf("factory reset without the confirmation: %d %s", code, b)
	}
	if code, b, _ := d.req(key, "POST", "/gateway/factoryreset", `{"confirm":"`+api.FactoryResetConfirm+`"}`); code != 200 {
		t.Fatalf("factory reset: %d %s", code, b)
	}
	select {
	case err := <-d.exited:
		var ee interface{ ExitCode() int }
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("after the factory reset the daemon exited with %v, want status 1 (restart)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon did not restart after the factory reset")
	}
	d2 := startDaemon(t, dir, nil, "--admin-key", key)
	if code, b, _ := d2.req(key, "GET", "/provisioning/alarmeventmapper/local/arc", ""); code != 404 {
		t.Fatalf("mapper after the factory reset: %d %s", code, b)
	}
}

func jsonReason(b string) string {
	var v struct{ Reason string }
	json.Unmarshal([]byte(b), &v)
	return v.Reason
}

// /gateway/events streams the status summary as server-sent events, a new
// one when an alarm is queued; a SIGTERM ends an open stream cleanly (the
// handler returns, the chunked body ends) rather than cutting it.
func TestGatewayEventsStreamAndShutdown(t *testing.T) {
	const key = "events-test-admin-key-0123"
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key)
	if code, b, _ := d.req(key, "POST", "/provisioning/alarmeventmapper/local",
		`{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://`+arc.Addr+`?transport=tcp"}}`); code != 200 {
		t.Fatalf("mapper: %d %s", code, b)
	}
	req, _ := http.NewRequest("GET", d.url+"/gateway/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	ended := make(chan error, 1)
	go func() { // reads until the stream ends
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text() + "\n")
		}
		ended <- sc.Err()
	}()
	next := func() string {
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10 s")
			return ""
		}
	}
	first := next()
	if !strings.HasPrefix(first, "event: status\ndata: {") || !strings.Contains(first, `"sipUp":true`) {
		t.Fatalf("first event:\n%s", first)
	}
	if code, b, _ := d.req(key, "POST", "/alarmbridge/local/testalarm", `{"alarmEventMapperId":"arc","account":"7777"}`); code != 200 {
		t.Fatalf("test alarm: %d %s", code, b)
	}
	for !strings.Contains(next(), `"account":"7777"`) {
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("the stream was cut, not ended, at shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the daemon's shutdown")
	}
	if err := <-d.exited; err != nil {
		t.Fatalf("exit after SIGTERM with a stream open: %v\n%s", err, d.log())
	}
}
