package engine

import (
	"bytes"
	"crypto/tls"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// A real call from SIPp playing G.711 RTP: with callCaptureRtpSeconds unset
// its pcap holds SIP only; set to 2 its pcap holds the first 2 s of both
// directions of its RTP with the SIP, which tshark reads as two RTP streams
// set up by the call's SDP, without a malformed packet, and sngrep reads;
// over TCP, its SIP is written as TCP segments tshark reassembles.
func TestSIPpCallPcapHoldsFirstSecondsOfRTP(t *testing.T) {
	t.Run("udp", func(t *testing.T) { callPcapHoldsRTP(t, "udp") })
	t.Run("tcp", func(t *testing.T) { callPcapHoldsRTP(t, "tcp") })
}

func callPcapHoldsRTP(t *testing.T, transport string) {
	db := openStore(t)
	h := &digitHandler{}
	e := startEngine(t, WithStore(db), WithDirectory(trustedLoopback(t)), routeAll("alarmbridge/ab1", "2833", h), WithCaptureDir(t.TempDir()))
	wd := t.TempDir()
	call := func() (callID, path string) {
		t.Helper()
		sc := testkit.SIPpScenario(t, wd, "uac_pcap.xml", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "3500")
		s := testkit.StartSIPp(t, wd, false, target(e), "-sf", sc, "-s", "5551", "-m", "1", "-t", map[string]string{"udp": "u1", "tcp": "t1"}[transport])
		if err := s.Wait(20 * time.Second); err != nil {
			t.Fatalf("sipp: %v\n%s", err, s.Report())
		}
		testkit.WaitFor(t, "the call to end", 3*time.Second, func() bool { return e.Calls() == 0 })
		h.mu.Lock()
		c := h.calls[len(h.calls)-1]
		h.mu.Unlock()
		path = filepath.Join(wd, c.ID+".pcap")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.WriteCallPcap(f, testDomain, c.ID); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return c.ID, path
	}
	tshark := func(args ...string) string {
		t.Helper()
		cmd := testkit.TsharkCmd(t, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}

	// Off by default: SIP only.
	_, off := call()
	if n := strings.Fields(tshark("-r", off, "-Y", "!sip", "-T", "fields", "-e", "frame.number")); len(n) != 0 {
		t.Fatalf("capture off, yet the pcap holds %d packets besides SIP", len(n))
	}

	putDoc(t, db, ResNotificationSettings, "settings", map[string]any{"callCaptureRtpSeconds": 2})
	id, on := call()
	if bad := tshark("-r", on, "-Y", "_ws.malformed || _ws.expert.severity >= \"warning\" || tcp.analysis.flags", "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"); bad != "" {
		t.Fatalf("tshark complains:\n%s", bad)
	}
	// -z rtp,streams lists one line per stream: start, end, source, port,
	// destination, port, SSRC, payload, packets, ...
	var streams []string
	for _, l := range strings.Split(tshark("-r", on, "-q", "-z", "rtp,streams"), "\n") {
		if f := strings.Fields(l); len(f) > 8 && strings.HasPrefix(f[6], "0x") {
			streams = append(streams, l)
			// SIPp's g711a.pcap has 30 ms packets, the gateway sends 20 ms.
			if n, _ := strconv.Atoi(f[8]); f[7] != "g711A" || n < 60 || n > 101 {
				t.Fatalf("stream %q: want G.711 A-law, 2 s of packets (67 of 30 ms, 100 of 20 ms)", l)
			}
		}
	}
	if len(streams) != 2 {
		t.Fatalf("tshark sees %d RTP streams, want 2 (SIPp's and the gateway's):\n%s", len(streams), strings.Join(streams, "\n"))
	}
	// The first 2 s: no RTP packet later than 2 s after the first one.
	var times []float64
	for _, s := range strings.Fields(tshark("-r", on, "-Y", "rtp", "-T", "fields", "-e", "frame.time_epoch")) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, f)
	}
	if span := times[len(times)-1] - times[0]; span > 2.0 || span < 1.5 {
		t.Fatalf("RTP spans %.2f s of the call, want the first 2 s", span)
	}
	// The BYE, 3.5 s into the call, comes after the RTP.
	if last := tshark("-r", on, "-T", "fields", "-e", "sip.Method", "-e", "sip.CSeq.method", "-Y", "sip"); !strings.HasSuffix(last, "BYE") {
		t.Fatalf("the call's last SIP message is not BYE's answer:\n%s", last)
	}
	want := "eth:ethertype:ip:" + transport + ":sip"
	for _, p := range strings.Fields(tshark("-r", on, "-Y", "sip", "-T", "fields", "-e", "frame.protocols")) {
		if !strings.HasPrefix(p, want) {
			t.Fatalf("a SIP message of a call over %s decodes as %s, want %s", transport, p, want)
		}
	}
	if n := testkit.SngrepMessages(t, on); n != 6 {
		t.Fatalf("sngrep reads %d SIP messages of call %s, want 6", n, id)
	}
}

// Captures stay within the byte budget: a new capture drops the oldest
// captures of ended calls first, never a live call's still filling, and a
// call gets none when those fill the budget; a capture whose seconds are
// over may go even while its call lasts. Off (0 s) makes none.
func TestCaptureBudgetDropsOldestEndedFirst(t *testing.T) {
	size := int64(2 * captureBytesPerSecond)
	e := newEngine(t, WithCaptureBudget(3*size), WithCaptureDir(t.TempDir()))
	cs := &e.captures
	now := time.Now()
	if cs.start(testDomain, "off", 0, now) != nil {
		t.Fatal("a capture of 0 s was made")
	}
	for _, id := range []string{"a", "b", "c"} {
		if cs.start(testDomain, id, 2, now) == nil {
			t.Fatalf("no capture for call %s within the budget", id)
		}
	}
	if e.CaptureBytes() != 3*size {
		t.Fatalf("captures hold %d bytes, want %d", e.CaptureBytes(), 3*size)
	}
	// All live: no room, and nothing dropped.
	if cs.start(testDomain, "d", 2, now) != nil || e.RTPCapture(testDomain, "a") == nil {
		t.Fatal("a live call's capture was dropped for a new one")
	}
	// A finished capture counts what its file holds: a and b are filled.
	src, dst := netip.MustParseAddrPort("192.0.2.1:4000"), netip.MustParseAddrPort("192.0.2.2:5000")
	for _, id := range []string{"a", "b"} {
		c := e.RTPCapture(testDomain, id)
		for i := 0; !c.Done(now); i++ {
			c.Add(now.Add(time.Duration(i)*5*time.Millisecond), src, dst, make([]byte, 172))
		}
	}
	cs.ended(testDomain, "b")
	cs.ended(testDomain, "a")
	if a := e.RTPCapture(testDomain, "a"); a.Size() > size || a.Size() < size-500 {
		t.Fatalf("the full capture a takes %d bytes, want about %d", a.Size(), size)
	}
	if cs.start(testDomain, "d", 2, now) == nil {
		t.Fatal("no capture for call d once calls a and b ended")
	}
	// a is the oldest ended capture: it goes, b stays.
	if e.RTPCapture(testDomain, "a") != nil || e.RTPCapture(testDomain, "b") == nil || e.RTPCapture(testDomain, "d") == nil {
		t.Fatal("the new capture did not replace the oldest ended one")
	}
	if e.CaptureBytes() > 3*size {
		t.Fatalf("captures hold %d bytes, more than the budget %d", e.CaptureBytes(), 3*size)
	}
	// The same call asking again (a second media session) shares its capture.
	if cs.start(testDomain, "d", 2, now) != e.RTPCapture(testDomain, "d") || e.CaptureBytes() > 3*size {
		t.Fatal("a second session of call d got a second capture")
	}
	// Longer than the budget: none.
	if cs.start(testDomain, "long", 60, now) != nil {
		t.Fatal("a capture larger than the whole budget was made")
	}
	// Later: b (ended) goes for e; then c and d, whose calls live on but
	// whose 2 s are over (none got a packet: a minute more), are finished:
	// the older, c, makes room for f.
	// A capture's creation is the wall clock's (pcap.NewCapture): later is
	// read from it, after c and d were made, not from now (on a loaded
	// machine d is made milliseconds after now).
	later := time.Now().Add(2*time.Second + time.Minute + time.Millisecond)
	if cs.start(testDomain, "e", 2, later) == nil || e.RTPCapture(testDomain, "b") != nil || e.RTPCapture(testDomain, "c") == nil {
		t.Fatal("the ended call's capture was not the one dropped for e")
	}
	if cs.start(testDomain, "f", 2, later) == nil || e.RTPCapture(testDomain, "c") != nil || e.RTPCapture(testDomain, "d") == nil {
		t.Fatal("the oldest finished capture of a live call was not dropped for f")
	}
	if e.CaptureBytes() > 3*size {
		t.Fatalf("captures hold %d bytes, more than the budget %d", e.CaptureBytes(), 3*size)
	}
}

// SIP over a real TLS connection is written into the call's pcap as the
// decrypted messages in TCP segments between the real ports (the engine's
// TLS port and the client's), which tshark reassembles as SIP without a
// malformed packet or a TCP analysis complaint.
func TestCallPcapWritesTLSAsTCP(t *testing.T) {
	lo, hi := testkit.PortRange(t, 20)
	e, err := New(Config{SIPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", TLS: selfSigned(t), Domain: testDomain, RTPPortMin: lo, RTPPortMax: hi},
		WithStore(openStore(t)))
	if err != nil {
		t.Fatal(err)
	}
	start(t, e)
	c, err := tls.Dial("tcp", e.TLSAddr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	for cseq := 1; cseq <= 3; cseq++ {
		msg := strings.ReplaceAll("OPTIONS sip:"+e.TLSAddr()+";transport=tls SIP/2.0\nVia: SIP/2.0/TLS "+c.LocalAddr().String()+";branch=z9hG4bKtls"+strconv.Itoa(cseq)+
			"\nFrom: <sip:probe@127.0.0.1>;tag=t\nTo: <sip:"+e.TLSAddr()+">\nCall-ID: tls-pcap\nCSeq: "+strconv.Itoa(cseq)+" OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n", "\n", "\r\n")
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			t.Fatalf("OPTIONS %d over TLS: %v %q", cseq, err, buf[:n])
		}
	}
	// sipgo logs a message it sends once the write has returned, so the
	// client may read the last 200 before the engine has logged it.
	testkit.WaitFor(t, "the six messages in the SIP log", 5*time.Second, func() bool {
		msgs, err := CallSIPLog(e.db, e, testDomain, "tls-pcap")
		return err == nil && len(msgs) >= 6
	})
	path := filepath.Join(t.TempDir(), "tls.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteCallPcap(f, testDomain, "tls-pcap"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ts := func(args ...string) string {
		out, err := testkit.TsharkCmd(t, append([]string{"-r", path}, args...)...).Output()
		if err != nil {
			t.Fatalf("tshark %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	_, tlsPort, _ := strings.Cut(e.TLSAddr(), "127.0.0.1:")
	_, clientPort, _ := strings.Cut(c.LocalAddr().String(), "127.0.0.1:")
	got := ts("-Y", "sip", "-T", "fields", "-e", "frame.protocols", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "sip.CSeq")
	lines := strings.Split(got, "\n")
	if len(lines) != 6 {
		t.Fatalf("tshark decodes %d SIP messages, want 6:\n%s", len(lines), got)
	}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if !strings.HasPrefix(f[0], "eth:ethertype:ip:tcp:sip") || !((f[1] == tlsPort && f[2] == clientPort) || (f[1] == clientPort && f[2] == tlsPort)) {
			t.Fatalf("SIP over TLS written as %q, want TCP between ports %s and %s", l, tlsPort, clientPort)
		}
	}
	if bad := ts("-Y", "_ws.malformed || _ws.expert.severity >= \"warning\" || tcp.analysis.flags", "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"); bad != "" {
		t.Fatalf("tshark complains:\n%s", bad)
	}
}

// A bridged call (SIPp calling a registered device, another SIPp): the
// pcap of either leg holds both legs' SIP and RTP, so tshark sees the
// caller's stream, the gateway's stream back to it, and the gateway's
// stream to the device, each set up by its leg's SDP.
func TestBridgedCallPcapHoldsBothLegs(t *testing.T) {
	db := openStore(t)
	wd := t.TempDir()
	uas := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
	e := startEngine(t, WithStore(db), WithDirectory(trustedLoopback(t, "200")), WithCaptureDir(t.TempDir()))
	putDoc(t, db, ResNotificationSettings, "settings", map[string]any{"callCaptureRtpSeconds": 2})
	p := newPeer(t, e)
	p.send("REGISTER sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKdev\nFrom: <sip:200@127.0.0.1>;tag=d\nTo: <sip:200@127.0.0.1>\nCall-ID: dev-reg\nCSeq: 1 REGISTER\nContact: <sip:200@127.0.0.1:" +
		strconv.Itoa(uas.Port) + ">\nExpires: 600\nContent-Length: 0\n\n")
	if res := p.recv(false); res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d", res.StatusCode)
	}
	sc := testkit.SIPpScenario(t, wd, "uac_pcap.xml", "PCAP_FILE", "/usr/share/sip-tester/g711a.pcap", "PAUSE_MS", "2500")
	uac := testkit.StartSIPp(t, wd, false, target(e), "-sf", sc, "-s", "200", "-m", "1")
	if err := uac.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp caller: %v\n%s", err, uac.Report())
	}
	if err := uas.Wait(10 * time.Second); err != nil {
		t.Fatalf("sipp device: %v\n%s", err, uas.Report())
	}
	testkit.WaitFor(t, "the call to end", 3*time.Second, func() bool { return e.Calls() == 0 })
	var inID string
	e.FlushSIPLog()
	recs, err := db.QuerySIP(testDomain, store.SIPQuery{Pattern: "INVITE sip:200@", Limit: 10})
	if err != nil || len(recs) == 0 {
		t.Fatalf("the caller's INVITE is not in the SIP log: %v", err)
	}
	inID = recs[0].CallID
	path := filepath.Join(wd, "bridged.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteCallPcap(f, testDomain, inID); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := testkit.TsharkCmd(t, "-r", path, "-q", "-z", "rtp,streams").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	toDevice, fromCaller := false, false
	streams := 0
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) <= 8 || !strings.HasPrefix(f[6], "0x") {
			continue
		}
		streams++
		toDevice = toDevice || f[5] == strconv.Itoa(uas.Port+2) // SIPp's audio port: -mp, two above its SIP port
		fromCaller = fromCaller || f[3] == strconv.Itoa(uac.Port+2)
	}
	if !toDevice || !fromCaller || streams < 3 {
		t.Fatalf("the bridged call's pcap holds %d RTP streams (caller's %v, to the device %v), want the caller's, the gateway's to it and to the device:\n%s",
			streams, fromCaller, toDevice, out)
	}
	ids, err := testkit.TsharkCmd(t, "-r", path, "-Y", "sip.Method == \"INVITE\"", "-T", "fields", "-e", "sip.Call-ID").Output()
	if err != nil || len(strings.Fields(string(ids))) != 2 {
		t.Fatalf("INVITEs of the bridged call's pcap: %q (%v), want one per leg", ids, err)
	}
}
