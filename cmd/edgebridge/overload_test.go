package main

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestMetricsShowShedding: SIPp floods the daemon with 400 INVITEs routed
// to a trunk that never answers, so calls stay in setup; past the
// shedder's 200 calls in setup the rest are refused 503, and /metrics
// shows both, with the queue delay the shedder measures.
func TestMetricsShowShedding(t *testing.T) {
	const key = "overload-test-admin-key-01"
	d := startDaemon(t, t.TempDir(), []string{"EDGEBRIDGE_ADMIN_KEY=" + key})
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for path, body := range map[string]string{
		"/provisioning/trustednetwork/local": `{"network":"127.0.0.1/32"}`,
		"/provisioning/trunk/local/silent": fmt.Sprintf(`{"destinationTarget":"%s","destinationTransport":"udp","destinationMatch":"^1000$","keepAlive":false}`,
			silent.LocalAddr()),
	} {
		method := "PUT"
		if path == "/provisioning/trustednetwork/local" {
			method = "POST"
		}
		if code, res, err := d.req(key, method, path, body); err != nil || code >= 300 {
			t.Fatalf("%s %s: %d %s %v", method, path, code, res, err)
		}
	}
	if v := metricValue(t, d, key, "edgebridge_sip_invites_shed_total"); v != 0 {
		t.Fatalf("shed before any load: %v", v)
	}

	wd := t.TempDir()
	testkit.StartSIPp(t, wd, false, d.sipAddr(t), "-sf", testkit.SIPpScenario(t, wd, "uac_shed.xml"), "-s", "1000",
		"-m", "400", "-r", "2000", "-l", "400")
	var shed, setups float64
	testkit.WaitFor(t, "the flood to be shed", 20*time.Second, func() bool {
		shed = metricValue(t, d, key, "edgebridge_sip_invites_shed_total")
		setups = metricValue(t, d, key, "edgebridge_sip_calls_in_setup")
		return shed >= 100 && setups >= 100
	})
	if setups > 200 {
		t.Errorf("%v calls in setup, past the shedder's maximum of 200", setups)
	}
	if delay := metricValue(t, d, key, "edgebridge_sip_queue_delay_seconds"); delay < 0 || delay > 60 {
		t.Errorf("queue delay %v s", delay)
	}
	t.Logf("shed %v, in setup %v", shed, setups)
}
