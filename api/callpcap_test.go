package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// A real call (SIPp playing G.711) through a real engine, with
// callCaptureRtpSeconds set over REST: the call listed in recent calls has a
// pcap, served by REST, that holds its SIP and both directions of its RTP.
func TestRecentCallPcapHoldsRTP(t *testing.T) {
	var eng *engine.Engine
	e := newEnv(t, func(c *Config) {
		lo, hi := testkit.PortRange(t, 20)
		dir := engine.NewStaticDirectory()
		if err := dir.SetTrusted("d", "127.0.0.1/32"); err != nil {
			t.Fatal(err)
		}
		re, _ := engine.CompileMatch("/.*/")
		echo := engine.CallHandlerFunc(func(ctx context.Context, call *engine.Call) {
			if call.Answer() != nil {
				return
			}
			s := call.Session()
			pcm := make([]int16, 160)
			for s.ReadFrame(pcm) == nil && s.WriteFrame(pcm) == nil {
			}
		})
		var err error
		eng, err = engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "d", RTPPortMin: lo, RTPPortMax: hi},
			engine.WithStore(c.Store), engine.WithDirectory(dir), engine.WithCaptureDir(t.TempDir()),
			engine.WithRoutes(engine.RouteSourceFunc(func(string) []engine.Route {
				return []engine.Route{{Name: "mediaservice/echo", Match: re, Handler: echo, DTMF: "2833"}}
			})))
		if err != nil {
			t.Fatal(err)
		}
		c.SIPLog = eng
	})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() }) // before newEnv's cleanup closes the store
	e.must(200, "PUT", "/provisioning/notificationsettings/d", obj2("callCaptureRtpSeconds", 1))

	wd := t.TempDir()
	sc := testkit.SIPpScenario(t, wd, "uac_pcap.xml", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "2000")
	s := testkit.StartSIPp(t, wd, false, eng.Addr(), "-sf", sc, "-s", "5551", "-m", "1")
	if err := s.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, s.Report())
	}
	var id string
	testkit.WaitFor(t, "the call in recent calls", 5*time.Second, func() bool {
		data, _ := e.do("GET", "/provisioning/recentcalls/d", nil).body["data"].([]any)
		if len(data) == 1 {
			id, _ = data[0].(map[string]any)["call_sid"].(string)
		}
		return id != ""
	})
	r := e.do("GET", "/provisioning/recentcalls/d/"+id+"/pcap", nil)
	if r.status != 200 {
		t.Fatalf("pcap: %d %s", r.status, r.raw)
	}
	p := filepath.Join(wd, "call.pcap")
	if err := os.WriteFile(p, r.raw, 0o600); err != nil {
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
		t.Fatalf("tshark sees %d G.711 RTP streams in the REST pcap, want 2:\n%s", streams, out)
	}
}
