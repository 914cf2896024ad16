package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/api"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// startGateway runs the gateway (delivery, supervision, SIP on an ephemeral
// port, simulated board) in-process on a store holding docs, as
// resource -> id -> JSON in the "local" domain.
func startGateway(t testing.TB, docs map[string]map[string]string) *Gateway {
	t.Helper()
	return startGatewayIn(t, t.TempDir(), docs)
}

// startGatewayIn is startGateway on the data folder dir.
func startGatewayIn(t testing.TB, dir string, docs map[string]map[string]string) *Gateway {
	t.Helper()
	return startGatewayWith(t, dir, docs, func(*Config) {})
}

// startGatewayWith is startGatewayIn with the Config changed by set.
func startGatewayWith(t testing.TB, dir string, docs map[string]map[string]string, set func(*Config)) *Gateway {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "edgebridge.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for res, byID := range docs {
		for id, doc := range byID {
			if err := db.Put(store.Coll{Domain: "local", Resource: res}, id, []byte(doc)); err != nil {
				t.Fatal(err)
			}
		}
	}
	lo, hi := testkit.PortRange(t, 100)
	cfg := Config{DataDir: dir, SIPAddr: "127.0.0.1:0", RTPPortMin: lo, RTPPortMax: hi, HW: "sim", Domain: "local",
		Log: testkit.Logger(t), DB: db}
	set(&cfg)
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); g.Close() })
	return g
}

// dialGateway is a SIP alarm unit or phone (an engine of its own, RTP from
// a PortRange of its own) that calls number on g from caller.
func dialGateway(t *testing.T, ctx context.Context, g *Gateway, caller, number string, media engine.MediaOptions) (*engine.Call, error) {
	t.Helper()
	lo, hi := testkit.PortRange(t, 100)
	unit, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "unit", RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := unit.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unit.Close() })
	return unit.Dial(ctx, engine.DialOptions{To: "sip:" + number + "@" + g.eng.Addr(), From: caller, Media: media})
}

// A mapper with enableDestinationMonitoring has its ARC path supervised from
// start-up (DC-09 NULL link tests), before any alarm was ever sent to it;
// SCAIP bridges are not offered as INVITE routes.
func TestGatewayMonitorsMappersFromStart(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g := startGateway(t, map[string]map[string]string{
		"alarmeventmapper": {
			"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","enableDestinationMonitoring":true,"targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`,
		},
		"alarmbridge": {
			"panels": `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`,
			"units":  `{"id":"units","name":"units","protocol":"scaip","protocolMode":"dtmf","destinationMatch":".*","alarmEventMapperId":"arc"}`,
		},
	})
	testkit.Eventually(15*time.Second, func() bool { return arc.LinkTests() > 0 })
	if arc.LinkTests() == 0 {
		t.Fatal("no DC-09 link test reached the ARC: the path is not supervised before the first alarm")
	}
	routes := g.routes("local")
	if len(routes) != 1 || routes[0].Name != "alarmbridge/panels" {
		t.Fatalf("routes = %+v, want only the Contact ID bridge", routes)
	}
}

// writeSelfSigned puts a certificate for 127.0.0.1 and its key in dir/tls.
func writeSelfSigned(t *testing.T, dir string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
	os.WriteFile(filepath.Join(dir, "tls", "sip.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "tls", "sip.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// A certificate in the data folder turns on SIP over TLS, which answers
// OPTIONS; a key without its certificate is refused at start, by file name.
func TestGatewaySIPOverTLS(t *testing.T) {
	dir := t.TempDir()
	writeSelfSigned(t, dir)
	g := startGatewayIn(t, dir, nil)
	addr := g.eng.TLSAddr()
	if addr == "" {
		t.Fatal("no TLS listener with tls/sip.crt and tls/sip.key present")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := strings.ReplaceAll("OPTIONS sip:"+addr+";transport=tls SIP/2.0\nVia: SIP/2.0/TLS "+c.LocalAddr().String()+";branch=z9hG4bKgwtls\nFrom: <sip:probe@127.0.0.1>;tag=t\nTo: <sip:"+addr+">\nCall-ID: gw-tls-1\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n", "\n", "\r\n")
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TLS: %v %q", err, buf[:n])
	}

	half := t.TempDir()
	writeSelfSigned(t, half)
	os.Remove(filepath.Join(half, "tls", "sip.crt"))
	if _, _, err := sipTLS(half, "127.0.0.1:5060"); err == nil || !strings.Contains(err.Error(), "sip.crt") {
		t.Fatalf("key without certificate: err %v, want one naming sip.crt", err)
	}
	if a, c, err := sipTLS(t.TempDir(), "127.0.0.1:5060"); a != "" || c != nil || err != nil {
		t.Fatalf("no files: %q %v %v, want TLS off", a, c, err)
	}
	if a, _, err := sipTLS(dir, "0.0.0.0:5060"); err != nil || a != "0.0.0.0:5061" {
		t.Fatalf("TLS address %q %v, want 0.0.0.0:5061", a, err)
	}
}

// A trunk written over REST registers at once: the write hands it to the
// engine instead of waiting for its 10 s re-read of the trunks.
func TestTrunkWrittenOverRESTRegistersAtOnce(t *testing.T) {
	wd := t.TempDir()
	registrar := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "trunk_registrar.xml"), "-m", "1")
	g := startGateway(t, nil)
	const key = "trunk-test-admin-key-0123"
	a, err := api.New(api.Config{Store: g.db, AdminKeyHash: api.HashKey(key), Logger: g.log})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(g.reloadOnWrite(a))
	defer srv.Close()
	body := `{"destinationTarget":"127.0.0.1:` + strconv.Itoa(registrar.Port) + `","destinationTransport":"udp","destinationMatch":"^00",` +
		`"userName":"gw","realm":"trunk.test","password":"trunkpw","keepAlive":false}`
	if code, b, err := testkit.APIRequest(srv.URL, key, "PUT", "/provisioning/trunk/local/up1", body); err != nil || code != 200 {
		t.Fatalf("PUT trunk: %d %s %v", code, b, err)
	}
	// Well inside the 10 s re-read: only the reload on write gets here in time.
	if err := registrar.Wait(5 * time.Second); err != nil {
		t.Fatalf("no REGISTER within 5 s of the trunk's write: %v\n%s", err, registrar.Report())
	}
	if testkit.Eventually(3*time.Second, func() bool { st := g.eng.TrunkStatus(); return len(st) == 1 && st[0].Registered }) {
		return
	}
	t.Fatalf("trunk status %+v, want up1 registered", g.eng.TrunkStatus())
}
