package gateway

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// Direct media: an alarmbridge with controlCommandsEnabled false has the
// gateway leave the media path once the voice call is up (voice.go,
// engine.DirectMedia).

// withoutControl is docs with controlCommandsEnabled false on the bridge id.
func withoutControl(docs map[string]map[string]string, id string) map[string]map[string]string {
	docs["alarmbridge"][id] = strings.Replace(docs["alarmbridge"][id], `"alarmEventMapperId":"arc"`, `"alarmEventMapperId":"arc","controlCommandsEnabled":false`, 1)
	return docs
}

// startGatewayPorts is startGateway, also returning its RTP port range.
func startGatewayPorts(t *testing.T, docs map[string]map[string]string) (g *Gateway, lo, hi int) {
	t.Helper()
	g = startGatewayWith(t, t.TempDir(), docs, func(c *Config) { lo, hi = c.RTPPortMin, c.RTPPortMax })
	return g, lo, hi
}

// rtpPortsFree reports whether the gateway has no RTP session open: no
// port pair of its range is held by a session. (The pairs of ended
// sessions stay bound in the engine's port pool for the next calls, so
// binding the range's ports no longer tells.)
func rtpPortsFree(g *Gateway) bool { return g.eng.RTPPairsInUse() == 0 }

// loopCapture is tshark capturing the packets of a capture filter on the
// loopback interface into a pcap, until flows.
type loopCapture struct {
	t    *testing.T
	cmd  *exec.Cmd
	path string
}

func captureLoopback(t *testing.T, filter string) *loopCapture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lo.pcap")
	cmd := testkit.TsharkCmd(t, "-i", "lo", "-f", filter, "-w", path)
	errOut, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	started := make(chan string, 1)
	go func() {
		var said []string
		sc := bufio.NewScanner(errOut)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Capturing on") {
				started <- ""
				for sc.Scan() {
				}
				return
			}
			said = append(said, sc.Text())
		}
		started <- strings.Join(said, "\n")
	}()
	select {
	case why := <-started:
		if why != "" {
			t.Fatalf("tshark did not capture on lo (as a user other than root, make deps lets dumpcap capture):\n%s", why)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tshark did not start capturing on lo within 20 s")
	}
	return &loopCapture{t: t, cmd: cmd, path: path}
}

// flows stops the capture and counts its UDP datagrams by "src->dst" port.
func (c *loopCapture) flows() map[string]int {
	c.t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	_ = c.cmd.Wait()
	out, err := testkit.TsharkCmd(c.t, "-r", c.path, "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport").Output()
	if err != nil {
		c.t.Fatalf("tshark -r: %v", err)
	}
	n := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			n[f[0]+"->"+f[1]]++
		}
	}
	return n
}

// With controlCommandsEnabled false, a SIP unit's voice call (a voicecall
// alarmbridge: SIPp as the unit, SIPp as the ARC's speech line) goes
// straight between the two once it is up: each side takes the gateway's
// re-INVITE with the other's media, the unit's audio reaches the speech
// line at its own port and comes back to the unit's (seen on the loopback
// by tshark), the gateway holds no RTP port any more while the call is up,
// and a BYE from either side still ends both.
func TestDirectMediaBetweenUnitAndSpeechLine(t *testing.T) {
	for _, c := range []struct{ name, unit, line string }{
		{"unit hangs up", "uac_direct.xml", "uas_direct.xml"},
		{"speech line hangs up", "uac_direct_held.xml", "uas_direct_bye.xml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wd, ud := t.TempDir(), t.TempDir()
			voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, c.line, "PAUSE_MS", "3000"), "-m", "1", "-rtp_echo")
			arc := alarmtest.StartARC(t, "127.0.0.1:0")
			g, lo, hi := startGatewayPorts(t, withoutControl(voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"), "phones"))
			// StartSIPp's media port is its SIP port + 2: everything to
			// and from the speech line's RTP port.
			cap := captureLoopback(t, "udp port "+strconv.Itoa(voice.Port+2))
			unit := testkit.StartSIPp(t, ud, false, "-sf", testkit.SIPpScenario(t, ud, c.unit,
				"CALLER", "0701234567", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "3000"),
				"-s", "5560", "-m", "1", g.eng.Addr())
			unitRTP := strconv.Itoa(unit.Port + 2)
			lineRTP := strconv.Itoa(voice.Port + 2)
			testkit.WaitFor(t, "the voice call bridged", 20*time.Second, func() bool { return g.activeCalls() == 2 })
			if !testkit.Eventually(10*time.Second, func() bool { return g.activeCalls() == 2 && rtpPortsFree(g) }) {
				t.Fatalf("the gateway still holds RTP ports of %d-%d while the call is up\n%s\n%s", lo, hi, unit.Report(), voice.Report())
			}
			if got := arc.Wait(1, 10*time.Second); len(got) != 1 || got[0].Account != "4321" {
				t.Fatalf("ARC got %+v, want the calling device's event", got)
			}
			if err := unit.Wait(20 * time.Second); err != nil {
				t.Fatalf("unit: %v\n%s", err, unit.Report())
			}
			if err := voice.Wait(20 * time.Second); err != nil {
				t.Fatalf("speech line: %v\n%s", err, voice.Report())
			}
			testkit.WaitFor(t, "both legs ended", 10*time.Second, func() bool { return g.activeCalls() == 0 })
			n := cap.flows()
			t.Logf("UDP datagrams on the loopback by port: %v (unit %s, speech line %s)", n, unitRTP, lineRTP)
			if n[unitRTP+"->"+lineRTP] < 50 || n[lineRTP+"->"+unitRTP] < 50 {
				t.Fatalf("RTP between the unit (%s) and the speech line (%s) directly: %d there, %d back; want 50 or more each way (all flows %v)",
					unitRTP, lineRTP, n[unitRTP+"->"+lineRTP], n[lineRTP+"->"+unitRTP], n)
			}
		})
	}
}

// A Contact ID unit (SIP) of a bridge with controlCommandsEnabled false:
// once its alarm is acknowledged and the ARC's speech line (SIPp echoing
// RTP) answers, the unit's media is the speech line's own port and its
// tone comes back from there with no RTP port of the gateway open. When
// the speech line hangs up, the gateway takes the unit's media back
// (re-INVITE) to play the clear-down key arcDisconnectClearsCall asks for,
// as an ARC operator expects the unit cleared when they hang up, then ends
// the call.
func TestDirectMediaARCHangupClearsUnit(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_direct_bye.xml", "PAUSE_MS", "6000"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g, lo, hi := startGatewayPorts(t, withoutControl(listenInDocs(arc.Addr, voice.Port, ""), "panels"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, rep, err := listenInCall(t, ctx, g)
	if err != nil || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	line := uint16(voice.Port + 2)
	if !testkit.Eventually(30*time.Second, func() bool { return call.Negotiated().Remote.Port() == line }) {
		t.Fatalf("the unit's media goes to %v, not to the speech line's port %d (%d calls up)\n%s", call.Negotiated().Remote, line, g.activeCalls(), voice.Report())
	}
	if !rtpPortsFree(g) {
		t.Fatalf("the gateway still holds RTP ports of %d-%d with the media direct", lo, hi)
	}
	if !toneComesBack(t, ctx, call.Session(), 1000) {
		t.Fatalf("the unit's tone did not come back from the speech line directly\n%s", voice.Report())
	}
	u := listen(call.Session())
	u.ended(t, 20*time.Second, "the speech line hung up")
	if u.events != "0" {
		t.Fatalf("the unit heard keys %q before its call ended, want the clear-down 0", u.events)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("speech line: %v\n%s", err, voice.Report())
	}
}

// A speech line that refuses the re-INVITE (488) keeps the call bridged
// through the gateway: the unit's media still goes to the gateway, its
// tone comes back through the bridge, and its hang-up still ends the
// speech line's call.
func TestDirectMediaRefusedStaysBridged(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_direct_488.xml"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g, lo, hi := startGatewayPorts(t, withoutControl(listenInDocs(arc.Addr, voice.Port, ""), "panels"))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	call, rep, err := listenInCall(t, ctx, g)
	if err != nil || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	if !testkit.Eventually(15*time.Second, func() bool { return strings.Contains(voice.Logs("*messages.log"), "488 Not Acceptable Here") }) {
		t.Fatalf("the speech line got no re-INVITE to refuse\n%s", voice.Report())
	}
	if p := int(call.Negotiated().Remote.Port()); p < lo || p > hi {
		t.Fatalf("the unit's media goes to port %d, not the gateway's %d-%d", p, lo, hi)
	}
	if !toneComesBack(t, ctx, call.Session(), 1000) {
		t.Fatalf("the unit's tone did not come back through the gateway\n%s", voice.Report())
	}
	if g.activeCalls() != 2 {
		t.Fatalf("%d calls up, want the unit's and the speech line's", g.activeCalls())
	}
	_ = call.Hangup()
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("speech line not cleared after the unit hung up: %v\n%s", err, voice.Report())
	}
}

// A unit that refuses the re-INVITE (488) after the speech line took its
// media: the speech line is re-INVITEd back to the gateway's media, the
// call stays bridged through the gateway (the unit's RTP goes to the
// gateway, none straight to the speech line; the gateway's reaches the
// speech line) and ends with the unit's BYE.
func TestDirectMediaUnitRefusesSpeechLineMovedBack(t *testing.T) {
	wd, ud := t.TempDir(), t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_direct_back.xml", "DIRECTION", "a=sendrecv"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g, lo, hi := startGatewayPorts(t, withoutControl(voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"), "phones"))
	cap := captureLoopback(t, "udp and (port "+strconv.Itoa(voice.Port+2)+" or portrange "+strconv.Itoa(lo)+"-"+strconv.Itoa(hi)+")")
	unit := testkit.StartSIPp(t, ud, false, "-sf", testkit.SIPpScenario(t, ud, "uac_direct_488.xml",
		"CALLER", "0701234567", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "3000"),
		"-s", "5560", "-m", "1", g.eng.Addr())
	if err := unit.Wait(30 * time.Second); err != nil {
		t.Fatalf("unit: %v\n%s", err, unit.Report())
	}
	if err := voice.Wait(20 * time.Second); err != nil {
		t.Fatalf("speech line: %v\n%s", err, voice.Report())
	}
	unitRTP, lineRTP := unit.Port+2, voice.Port+2
	n := cap.flows()
	t.Logf("UDP datagrams on the loopback by port: %v (unit %d, speech line %d, gateway %d-%d)", n, unitRTP, lineRTP, lo, hi)
	toGateway, fromGateway := 0, 0
	for flow, k := range n {
		src, dst, _ := strings.Cut(flow, "->")
		s, _ := strconv.Atoi(src)
		d, _ := strconv.Atoi(dst)
		if s == unitRTP && d >= lo && d <= hi {
			toGateway += k
		}
		if s >= lo && s <= hi && d == lineRTP {
			fromGateway += k
		}
	}
	if direct := n[strconv.Itoa(unitRTP)+"->"+strconv.Itoa(lineRTP)]; direct != 0 || toGateway < 50 || fromGateway < 50 {
		t.Fatalf("unit to speech line directly %d, unit to gateway %d, gateway to speech line %d: want 0, 50 or more, 50 or more", direct, toGateway, fromGateway)
	}
}

// With the media direct, a far end's own re-INVITE still passes the
// gateway: the unit putting the call on hold (a=sendonly) is answered with
// the speech line's media and direction (uac_direct_hold.xml checks port
// and a=recvonly), which the speech line gave to the unit's offer relayed
// to it; the gateway opens no RTP port for it.
func TestDirectMediaRelaysHold(t *testing.T) {
	wd, ud := t.TempDir(), t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_direct_back.xml", "DIRECTION", "a=recvonly"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g, _, _ := startGatewayPorts(t, withoutControl(voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"), "phones"))
	unit := testkit.StartSIPp(t, ud, false, "-sf", testkit.SIPpScenario(t, ud, "uac_direct_hold.xml",
		"CALLER", "0701234567", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "HOLD_MS", "1000", "PAUSE_MS", "2000",
		"LINE_PORT", strconv.Itoa(voice.Port+2)), "-s", "5560", "-m", "1", g.eng.Addr())
	testkit.WaitFor(t, "the voice call bridged", 20*time.Second, func() bool { return g.activeCalls() == 2 })
	testkit.WaitFor(t, "the speech line's third INVITE (the unit's hold)", 20*time.Second, func() bool {
		return strings.Count(voice.Logs("*messages.log"), "INVITE sip:") >= 3
	})
	if g.activeCalls() != 2 || !rtpPortsFree(g) {
		t.Fatalf("after the hold: %d calls, RTP ports free %v; want 2 and true", g.activeCalls(), rtpPortsFree(g))
	}
	if err := unit.Wait(20 * time.Second); err != nil {
		t.Fatalf("unit: %v\n%s", err, unit.Report())
	}
	if err := voice.Wait(20 * time.Second); err != nil {
		t.Fatalf("speech line: %v\n%s", err, voice.Report())
	}
	msgs := strings.Split(voice.Logs("*messages.log"), "INVITE sip:")
	hold := msgs[len(msgs)-1]
	hold, _, _ = strings.Cut(hold, "-----")
	if !strings.Contains(hold, "a=sendonly") || !strings.Contains(hold, "m=audio "+strconv.Itoa(unit.Port+2)+" ") {
		t.Fatalf("the speech line's last re-INVITE is not the unit's hold offer (its port %d, a=sendonly):\n%s", unit.Port+2, hold)
	}
}

// The same with baresip as the voice destination (a warden's handset
// registered at the gateway) and a SIP unit calling a voicecall bridge:
// after the re-INVITEs the gateway holds no RTP port, yet the unit hears
// the handset's tone and the handset the unit's, so their audio goes
// straight between them; the handset's hang-up ends the unit's call.
func TestDirectMediaWithBaresip(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g, lo, hi := startGatewayPorts(t, map[string]map[string]string{
		"device": {
			"4321": `{"deviceId":"4321","domain":"local","authType":"deviceid","deviceCLI":"0701234567"}`,
			"wa":   wardenDevice("wa"),
		},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"callEmergencyCenter","targetEndpoint":{"protocol":"dc09",` +
			`"destAddr":"dc09://` + arc.Addr + `?transport=tcp","defaultVoiceDestination":"wa"}}`},
		"alarmbridge":    {"phones": `{"id":"phones","name":"phones","protocol":"voicecall","destinationMatch":"^5560$","alarmEventMapperId":"arc","controlCommandsEnabled":false}`},
		"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
	})
	wa := warden(t, g, "wa", 1500, false)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	call, err := voiceCallUnit(t, ctx, g, "0701234567", "5560")
	if err != nil {
		t.Fatalf("voicecall not answered: %v", err)
	}
	wa.WaitEvent("CALL_ESTABLISHED", "", 1, 5*time.Second)
	testkit.WaitFor(t, "the gateway's RTP ports released with the call up", 15*time.Second, func() bool {
		return g.activeCalls() == 2 && rtpPortsFree(g)
	})
	if p := int(call.Negotiated().Remote.Port()); p >= lo && p <= hi {
		t.Fatalf("the unit's media still goes to the gateway's port %d", p)
	}
	if !hearsWhilePlaying(t, ctx, call.Session(), 1000, 1500) {
		t.Fatalf("the unit did not hear the handset straight from it\n%s", wa.Output())
	}
	if !playUntil(t, call.Session(), 1000, 10*time.Second, func() bool { return wa.Heard(1000) >= 1 }) {
		t.Fatal("the handset did not hear the unit")
	}
	if !rtpPortsFree(g) {
		t.Fatal("the gateway opened RTP ports while the unit and the handset talked")
	}
	wa.Do("/hangup")
	select {
	case <-call.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the unit's call did not end after the handset hung up")
	}
	testkit.WaitFor(t, "both legs ended", 10*time.Second, func() bool { return g.activeCalls() == 0 })
}

// A unit whose SDP gives another address than the one its INVITE came
// from (behind NAT, or behind a proxy: here SIPp's media on 127.0.0.2, its
// SIP on 127.0.0.1) keeps the gateway in the media path with
// controlCommandsEnabled false: the speech line, which would not take a
// re-INVITE (uas_answer.xml), gets none, and the gateway's RTP ports stay
// open for the call.
func TestDirectMediaNotForAUnitBehindNAT(t *testing.T) {
	wd, ud := t.TempDir(), t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	docs := withoutControl(voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"), "phones")
	docs["device"]["4321"] = strings.Replace(docs["device"]["4321"], "0701234567", "1000", 1) // uac_pcap.xml calls from 1000
	g, _, _ := startGatewayPorts(t, docs)
	unit := testkit.StartSIPp(t, ud, false, "-sf", testkit.SIPpScenario(t, ud, "uac_pcap.xml",
		"PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "3000"),
		"-mi", "127.0.0.2", "-s", "5560", "-m", "1", g.eng.Addr())
	testkit.WaitFor(t, "the voice call bridged", 20*time.Second, func() bool { return g.activeCalls() == 2 })
	if rtpPortsFree(g) {
		t.Fatal("the gateway released its RTP ports for a unit whose media address is not its SIP address")
	}
	if err := unit.Wait(20 * time.Second); err != nil {
		t.Fatalf("unit: %v\n%s", err, unit.Report())
	}
	if err := voice.Wait(20 * time.Second); err != nil {
		t.Fatalf("speech line (a re-INVITE would fail its scenario): %v\n%s", err, voice.Report())
	}
}

// A session refresh while the media is direct (the unit's re-INVITE with
// its SDP unchanged, o= version and all, RFC 4028) is answered by the
// gateway with the speech line's media as last given, and not relayed:
// the speech line (uas_direct.xml) would fail on a second re-INVITE.
func TestDirectMediaRefreshNotRelayed(t *testing.T) {
	wd, ud := t.TempDir(), t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_direct.xml"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	g, _, _ := startGatewayPorts(t, withoutControl(voiceCallDocs(arc.Addr, voice.Port, "callEmergencyCenter"), "phones"))
	// uac_direct_hold.xml's re-INVITE made a refresh: the SDP of the
	// unit's answer (version 2, sendrecv); its 200 must still carry the
	// speech line's port.
	unit := testkit.StartSIPp(t, ud, false, "-sf", testkit.SIPpScenario(t, ud, "uac_direct_hold.xml",
		"CALLER", "0701234567", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "HOLD_MS", "1000", "PAUSE_MS", "1000",
		"LINE_PORT", strconv.Itoa(voice.Port+2), "o=unit 53655765 3 IN", "o=unit 53655765 2 IN", "      a=sendonly\n", "",
		`regexp="a=recvonly"`, `regexp="RTP/AVP 8"`), "-s", "5560", "-m", "1", g.eng.Addr())
	testkit.WaitFor(t, "the voice call bridged", 20*time.Second, func() bool { return g.activeCalls() == 2 })
	if err := unit.Wait(20 * time.Second); err != nil {
		t.Fatalf("unit (its refresh answered with the speech line's port %d?): %v\n%s", voice.Port+2, err, unit.Report())
	}
	if err := voice.Wait(20 * time.Second); err != nil {
		t.Fatalf("speech line (a relayed refresh would fail its scenario): %v\n%s", err, voice.Report())
	}
	if !rtpPortsFree(g) {
		t.Fatal("the gateway holds RTP ports after the call")
	}
}

// maxSessionDuration ends a session whose media went direct as it ends any
// other: the speech line is hung up, the gateway takes the unit's media
// back (re-INVITE) and the unit hears its clear-down 0 before its call
// ends.
func TestDirectMediaSessionLimitClearsUnit(t *testing.T) {
	wd := t.TempDir()
	voice := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_direct.xml"), "-m", "1", "-rtp_echo")
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	// Long enough for the Contact ID exchange on a loaded machine.
	g, _, _ := startGatewayPorts(t, withoutControl(listenInDocs(arc.Addr, voice.Port, `,"maxSessionDuration":15`), "panels"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	call, rep, err := listenInCall(t, ctx, g)
	if err != nil || !rep.Messages[0].Acked {
		t.Fatalf("panel: %v %+v", err, rep)
	}
	u := listen(call.Session())
	line := uint16(voice.Port + 2)
	if !testkit.Eventually(15*time.Second, func() bool { return call.Negotiated().Remote.Port() == line }) {
		t.Fatalf("the unit's media did not go straight to the speech line's port %d (%d calls up)\n%s", line, g.activeCalls(), voice.Report())
	}
	u.ended(t, 30*time.Second, "maxSessionDuration 15 s did not end the session")
	if u.events != "0" {
		t.Fatalf("the unit heard keys %q before its call ended, want the clear-down 0", u.events)
	}
	if err := voice.Wait(10 * time.Second); err != nil {
		t.Fatalf("the speech line was not cleared with the session: %v\n%s", err, voice.Report())
	}
}
