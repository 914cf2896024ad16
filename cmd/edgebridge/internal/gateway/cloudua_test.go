package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/edgebridge/edgebridge/engine"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// The cloud SIP UA stage is on the switchboard after the media services: a
// number both match goes to the media service, another only the cloud SIP
// UA matches (SIPp calling) gets newRemoteCall; answerremotecall (through
// the gateway's call control) answers it, the application's RTP goes
// through the relay to SIPp and its echo back; hangupcall sends SIPp the
// BYE and sessionCompleted follows.
func TestCloudUAStage(t *testing.T) {
	rtpIn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtpIn.Close()
	var g *Gateway
	var mu sync.Mutex
	var called []string
	answered := make(chan map[string]any, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		called = append(called, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/ms/newCall":
			io.WriteString(w, `{"action":"drop","dropCode":"busy"}`)
		case "/ua/newRemoteCall":
			go func() {
				_, err := g.media.MediaCommand(context.Background(), "local", "answerremotecalljwt", map[string]any{"replyId": body["replyId"],
					"receiveIp": "127.0.0.1", "receivePort": float64(rtpIn.LocalAddr().(*net.UDPAddr).Port)})
				if err != nil {
					t.Errorf("answerremotecall: %v", err)
				}
				answered <- body
			}()
			io.WriteString(w, `{}`)
		}
	}))
	defer app.Close()
	ms, _ := json.Marshal(map[string]any{"name": "IVR", "destinationMatch": "^ua1$", "callbackBaseUrl": app.URL + "/ms", "restAuthentication": []any{}})
	ua, _ := json.Marshal(map[string]any{"name": "UA", "destinationMatch": "^ua", "callbackBaseUrl": app.URL + "/ua"})
	g = startGateway(t, map[string]map[string]string{
		"mediaservice":   {"ms1": string(ms)},
		"cloudsipua":     {"ua1": string(ua)},
		"trustednetwork": {"lo": `{"network":"127.0.0.0/8"}`},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := g.eng.Dial(ctx, engine.DialOptions{To: "sip:ua1@" + g.SIPAddr(), From: "1000"}); err == nil {
		t.Fatal("ua1 answered: want the media service's busy")
	}
	wd := t.TempDir()
	caller := testkit.StartSIPp(t, wd, false, "-sf", testkit.SIPpScenario(t, wd, "uac_remote.xml", "PROTO", "RTP/AVP", "CRYPTO", "", "RING", "true", "PLAY", ""),
		"-s", "ua2", "-m", "1", "-rtp_echo", g.SIPAddr())
	nc := <-answered
	// The application's audio goes through the relay to the caller, whose
	// echo comes back the same way.
	relay := &net.UDPAddr{IP: net.ParseIP(nc["remoteRtpIp"].(string)), Port: int(nc["remoteRtpPort"].(float64))}
	got := 0
	buf := make([]byte, 1500)
	for i := range 50 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 7}, Payload: make([]byte, 160)}
		b, _ := p.Marshal()
		rtpIn.WriteToUDP(b, relay)
		rtpIn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			n, err := rtpIn.Read(buf)
			if err != nil {
				break
			}
			var q rtp.Packet
			if q.Unmarshal(buf[:n]) == nil && q.PayloadType == 8 {
				got++
			}
		}
	}
	if got < 10 {
		t.Fatalf("the application's RTP endpoint got %d PCMA packets back through the relay and the caller's echo", got)
	}
	if _, err := g.media.MediaCommand(ctx, "local", "hangupcall", map[string]any{"replyId": nc["replyId"]}); err != nil {
		t.Fatalf("hangupcall: %v", err)
	}
	if err := caller.Wait(10 * time.Second); err != nil {
		t.Fatalf("SIPp caller (200, then BYE): %v\n%s", err, caller.Report())
	}
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), called...) }
	testkit.WaitFor(t, "sessionCompleted of the cloud SIP UA call", 10*time.Second, func() bool { return len(seen()) == 4 })
	if s := fmt.Sprint(seen()); s != "[/ms/newCall /ms/sessionCompleted /ua/newRemoteCall /ua/sessionCompleted]" {
		t.Fatalf("application saw %v", s)
	}
	routes := g.routes("local")
	if len(routes) < 2 || routes[0].Name != "mediaservice/ms1" || routes[1].Name != "cloudsipua/ua1" {
		t.Fatalf("routes %v: want the media service before the cloud SIP UA", routes)
	}
}
