package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestCallCaptureSurvivesRestart: a SIPp alarm call (G.711 both ways) with
// callCaptureRtpSeconds 2 leaves its RTP capture in the data folder; the
// daemon is stopped and started again on the same folder, and the call's
// pcap over REST still holds both RTP streams for tshark, with the SIP
// sngrep reads; a factory reset erases it.
func TestCallCaptureSurvivesRestart(t *testing.T) {
	const key = "capture-restart-admin-key-01"
	dir := t.TempDir()
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	d := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 20))
	provision(t, d, key,
		[2]string{"/provisioning/trustednetwork/local", `{"id":"lan","network":"127.0.0.1/32"}`},
		[2]string{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`},
		[2]string{"/provisioning/alarmbridge/local", `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`})
	if code, b, _ := d.req(key, "PUT", "/provisioning/notificationsettings/local", `{"callCaptureRtpSeconds":2}`); code != 200 {
		t.Fatalf("notification settings: %d %s", code, b)
	}
	wd := t.TempDir()
	s := testkit.StartSIPp(t, wd, false, d.sipAddr(t), "-sf", testkit.SIPpScenario(t, wd, "uac_pcap.xml",
		"PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "3000"), "-s", "5551", "-m", "1")
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	var id string
	testkit.WaitFor(t, "the call in recent calls", 5*time.Second, func() bool {
		_, body, _ := d.req(key, "GET", "/provisioning/recentcalls/local", "")
		var r struct {
			Data []struct {
				ID string `json:"call_sid"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(body), &r) == nil && len(r.Data) == 1 {
			id = r.Data[0].ID
		}
		return id != ""
	})
	if files, _ := filepath.Glob(filepath.Join(dir, "captures", "*.pcap")); len(files) != 1 {
		t.Fatalf("capture files in the data folder: %v, want the call's", files)
	}

	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-d.exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.log())
	}
	d2 := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 20))
	code, body, err := d2.req(key, "GET", "/provisioning/recentcalls/local/"+id+"/pcap", "")
	if err != nil || code != 200 {
		t.Fatalf("pcap after the restart: %d %v %.200s", code, err, body)
	}
	p := filepath.Join(wd, "after-restart.pcap")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := testkit.TsharkCmd(t, "-r", p, "-q", "-z", "rtp,streams").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	streams := 0
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 8 && strings.HasPrefix(f[6], "0x") && f[7] == "g711A" {
			streams++
		}
	}
	if streams != 2 {
		t.Fatalf("tshark sees %d G.711 RTP streams in the pcap after the restart, want 2 (SIPp's and the gateway's):\n%s", streams, out)
	}
	sip, err := testkit.TsharkCmd(t, "-r", p, "-Y", "sip.Method == \"INVITE\" || sip.CSeq.method == \"BYE\"", "-T", "fields", "-e", "sip.Call-ID").Output()
	if err != nil || len(strings.Fields(string(sip))) < 3 || strings.Count(string(sip), id) < 3 {
		t.Fatalf("SIP of call %s in the pcap after the restart: %q (%v), want its INVITE and BYE", id, sip, err)
	}
	all, err := testkit.TsharkCmd(t, "-r", p, "-Y", "sip", "-T", "fields", "-e", "frame.number").Output()
	if n, want := testkit.SngrepMessages(t, p), len(strings.Fields(string(all))); err != nil || n != want || n < 4 {
		t.Fatalf("sngrep reads %d SIP messages of the pcap after the restart, tshark %d (%v): want all of the call's", n, want, err)
	}
	// A factory reset erases the captures (they hold the calls' audio).
	if code, b, _ := d2.req(key, "POST", "/gateway/factoryreset", `{"confirm":"erase everything"}`); code != 200 {
		t.Fatalf("factory reset: %d %s", code, b)
	}
	<-d2.exited
	if files, _ := filepath.Glob(filepath.Join(dir, "captures", "*")); len(files) != 0 {
		t.Fatalf("capture files left after a factory reset: %v", files)
	}
}
