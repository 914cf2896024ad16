package main

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestSIGTERMWithinTwoSecondsUnderLoad: with 60 alarm calls up (SIPp, which
// does not answer the gateway's shutdown BYEs) and 16 clients writing
// through REST as fast as they can, serve exits 0 within 2 s of SIGTERM,
// and the store opens again with every write that was acknowledged.
func TestSIGTERMWithinTwoSecondsUnderLoad(t *testing.T) {
	const key = "sigterm-admin-key-0123"
	dir := t.TempDir()
	d := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 200))
	provision(t, d, key,
		[2]string{"/provisioning/trustednetwork/local", `{"id":"lan","network":"127.0.0.0/8"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://127.0.0.1:9?transport=tcp"}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`})
	wd := t.TempDir()
	testkit.StartSIPp(t, wd, false, d.sipAddr(t), "-sf", testkit.SIPpScenario(t, wd, "uac_pcap.xml",
		"PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "30000"), "-s", "5551", "-l", "60", "-m", "60", "-r", "40")
	testkit.WaitFor(t, "60 calls up", 20*time.Second, func() bool {
		_, body, _ := d.req(key, "GET", "/metrics", "")
		return strings.Contains(body, "edgebridge_calls_active 60\n")
	})
	var acked sync.Map // device ids whose write was acknowledged
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				code, _, err := d.req(key, "POST", "/provisioning/device/local", `{"deviceId":"`+id+`","authType":"deviceid"}`)
				if err != nil {
					return
				}
				if code == 200 {
					acked.Store(id, true)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // let the writers queue up on the store
	sent := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		took := time.Since(sent)
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, d.log())
		}
		if took > 2*time.Second {
			t.Fatalf("exit %v after SIGTERM, want within 2 s\n%s", took, d.log())
		}
		t.Logf("shutdown under load took %v", took)
	case <-time.After(5 * time.Second):
		stop.Store(true)
		t.Fatalf("no exit within 5 s of SIGTERM:\n%s", d.log())
	}
	d2 := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 20))
	n := 0
	acked.Range(func(k, _ any) bool {
		if code, body, _ := d2.req(key, "GET", "/provisioning/device/local/"+k.(string), ""); code != 200 {
			t.Fatalf("acknowledged device %s missing after the restart: %d %s", k, code, body)
		}
		n++
		return n < 200
	})
	if n == 0 {
		t.Fatal("no write was acknowledged during the load")
	}
}
