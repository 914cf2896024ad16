package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// phone is a baresip 1.0 softphone (Debian baresip) run by the test with
// its own config folder: its microphone is a WAV file of one tone (aufile),
// what it hears and sends is recorded (sndfile, dump-*-dec.wav and
// -enc.wav), and the test drives it through the cons module over UDP.
type phone struct {
	t      *testing.T
	user   string
	dir    string
	cons   *net.UDPAddr
	conn   *net.UDPConn
	mu     sync.Mutex
	log    bytes.Buffer
	events []map[string]any // from ctrl_tcp, in order
}

func (p *phone) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

// output is what baresip has printed so far.
func (p *phone) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// toneWAV writes 60 s of a freq Hz tone at −10 dBm0 as a WAV file.
func toneWAV(t *testing.T, path string, freq float64) string {
	t.Helper()
	g, err := dsp.NewToneGenerator(true, dsp.ToneSegment{Freq1: freq, DBm0: -10, Ms: 1000})
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 60*dsp.SampleRate)
	g.Generate(pcm)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := audiofile.WriteWAV(f, pcm, audiofile.PCM16); err != nil {
		t.Fatal(err)
	}
	return path
}

// startPhone runs baresip as user (password pw) registered at e, with mediaenc ("" plain, "srtp", "srtp-mand"), sending a
// tone of freq Hz, answering every call at once.
func startPhone(t *testing.T, e *Engine, user, pw, mediaenc string, freq float64) *phone {
	t.Helper()
	return startPhoneWith(t, e, phoneSetup{user: user, pw: pw, mediaenc: mediaenc, freq: freq})
}

// phoneSetup is how startPhoneWith runs a baresip phone; manual leaves
// calls ringing (answermode manual) until the test answers them.
type phoneSetup struct {
	user, pw, mediaenc string
	freq               float64
	manual             bool
}

func startPhoneWith(t *testing.T, e *Engine, ps phoneSetup) *phone {
	t.Helper()
	user, pw, mediaenc, freq := ps.user, ps.pw, ps.mediaenc, ps.freq
	bin := testkit.NeedTool(t, "baresip")
	p := &phone{t: t, user: user, dir: t.TempDir()}
	sipPort, _ := testkit.PortRange(t, 2) // baresip listens on SIP and SIP+1 (TLS)
	consPort, _ := testkit.PortRange(t, 1)
	ctrlPort, _ := testkit.PortRange(t, 1)
	rtpLo, rtpHi := testkit.PortRange(t, 10)
	tone := toneWAV(t, filepath.Join(p.dir, "tone.wav"), freq)
	cfg := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,%s
audio_buffer 20-160
rtp_ports %d-%d
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module srtp.so
module cons.so
module ctrl_tcp.so
module_app account.so
module_app menu.so
cons_listen 127.0.0.1:%d
ctrl_tcp_listen 127.0.0.1:%d
snd_path %s
`, sipPort, tone, rtpLo, rtpHi, consPort, ctrlPort, p.dir)
	// The AOR's host is the gateway's address: a request to an address is
	// for the gateway's domain.
	answer := "auto"
	if ps.manual {
		answer = "manual"
	}
	acc := fmt.Sprintf(`<sip:%s@%s>;auth_user=%s;auth_pass=%s;regint=600;answermode=%s;audio_codecs=PCMA,PCMU`,
		user, e.Addr(), user, pw, answer)
	if mediaenc != "" {
		acc += ";mediaenc=" + mediaenc
	}
	for name, body := range map[string]string{"config": cfg, "accounts": acc + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-f", p.dir)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("baresip %s:\n%s", user, p.output())
		}
	})
	p.cons = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: consPort}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p.conn = c
	var ctrl net.Conn
	testkit.WaitFor(t, user+"'s ctrl_tcp", 5*time.Second, func() bool {
		ctrl, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ctrlPort))
		return err == nil
	})
	t.Cleanup(func() { ctrl.Close() })
	go p.readEvents(ctrl)
	// This phone's own binding: several phones may register one user.
	at := "127.0.0.1:" + strconv.Itoa(sipPort)
	testkit.WaitFor(t, user+" registered", 10*time.Second, func() bool {
		for _, b := range e.Bindings(testDomain, user) {
			if strings.Contains(b.Contact, at) {
				return true
			}
		}
		return false
	})
	return p
}

// readEvents keeps the events ctrl_tcp reports (netstrings of JSON, e.g.
// {"event":true,"type":"CALL_DTMF_START","param":"5",...}).
func (p *phone) readEvents(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		n, err := r.ReadString(':')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(n, ":")))
		if err != nil || size > 1<<16 {
			return
		}
		msg := make([]byte, size+1) // the JSON and the trailing comma
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		var ev map[string]any
		if json.Unmarshal(msg[:size], &ev) == nil && ev["event"] == true {
			p.mu.Lock()
			p.events = append(p.events, ev)
			p.mu.Unlock()
		}
	}
}

// waitEvent waits for an event of type typ whose param is param ("" any)
// after the first skip of that type, and returns the count of such events.
func (p *phone) waitEvent(typ, param string, n int, d time.Duration) {
	p.t.Helper()
	testkit.WaitFor(p.t, fmt.Sprintf("%s: %d× %s %s", p.user, n, typ, param), d, func() bool {
		return p.countEvents(typ, param) >= n
	})
}

func (p *phone) countEvents(typ, param string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := 0
	for _, ev := range p.events {
		if ev["type"] == typ && (param == "" || ev["param"] == param) {
			k++
		}
	}
	return k
}

// do sends a command line to the phone's cons module.
func (p *phone) do(cmd string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(cmd+"\n"), p.cons); err != nil {
		p.t.Fatal(err)
	}
}

// waitOutput waits until the phone has printed s (count times).
func (p *phone) waitOutput(s string, count int, d time.Duration) {
	p.t.Helper()
	testkit.WaitFor(p.t, fmt.Sprintf("%s to print %q %d times", p.user, s, count), d, func() bool {
		return strings.Count(p.output(), s) >= count
	})
}

// heard returns the seconds of freq Hz tone in what the phone received
// (its dump-*-dec.wav recordings).
func (p *phone) heard(freq float64) float64 {
	p.t.Helper()
	return p.tone("dec", freq)
}

// tone returns the seconds of freq Hz tone in the phone's recordings of
// kind "dec" (what it received) or "enc" (what it sent).
func (p *phone) tone(kind string, freq float64) float64 {
	p.t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.dir, "dump-*-"+kind+".wav"))
	var ms int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			p.t.Fatal(err)
		}
		pcm, _, err := audiofile.ParseWAV(b)
		if err != nil {
			continue // still being written
		}
		d, err := dsp.NewToneDetector(dsp.ToneSpec{Name: "tone", Freq1: freq, MinMs: 100})
		if err != nil {
			p.t.Fatal(err)
		}
		count := func(ev dsp.ToneEvent) {
			if !ev.On {
				ms += ev.DurationMs()
			}
		}
		d.Process(pcm, count)
		d.Flush(count)
	}
	return float64(ms) / 1000
}

// phonePair registers two baresip phones, 2001 and 2002, with digest.
func phonePair(t *testing.T, encA, encB string, opts ...Option) (*Engine, *phone, *phone) {
	dir := NewStaticDirectory()
	for _, id := range []string{"2001", "2002"} {
		// An MD5 HA1, as REST stores it: baresip answers only MD5 challenges.
		ha1, _ := HA1("MD5", id, testDomain, "pw-"+id+"-secret")
		dir.PutDevice(testDomain, Device{DeviceID: id, AuthType: "credentials", HA1: ha1})
	}
	e := startEngine(t, append([]Option{WithDirectory(dir)}, opts...)...)
	a := startPhone(t, e, "2001", "pw-2001-secret", encA, 600)
	b := startPhone(t, e, "2002", "pw-2002-secret", encB, 1500)
	return e, a, b
}

// TestPhonesPlainCall: two baresip phones call each other through the
// gateway and each hears the other's tone.
func TestPhonesPlainCall(t *testing.T) {
	e, a, b := phonePair(t, "srtp-mand", "srtp-mand")
	a.do("/dial 2002")
	b.waitOutput("Call established", 1, 10*time.Second)
	testkit.WaitFor(t, "each phone to hear the other", 10*time.Second, func() bool {
		return a.heard(1500) >= 1 && b.heard(600) >= 1
	})
	a.do("/sndcode 5")
	b.waitEvent("CALL_DTMF_START", "5", 1, 5*time.Second)
	b.do("/sndcode 7")
	a.waitEvent("CALL_DTMF_START", "7", 1, 5*time.Second)
	a.do("/hangup")
	testkit.WaitFor(t, "the call to end", 5*time.Second, func() bool { return e.Calls() == 0 })
}

// statLine is baresip's status line: "[0:00:04] audio=64000/64000 (bit/s)",
// the bit rates of audio sent and received.
var statLine = regexp.MustCompile(`audio=(\d+)/(\d+) \(bit/s\)`)

// receiving says whether the last status line in out shows audio both
// sent and received at G.711 rate.
func receiving(out string) bool {
	m := statLine.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return false
	}
	last := m[len(m)-1]
	tx, _ := strconv.Atoi(last[1])
	rx, _ := strconv.Atoi(last[2])
	return tx >= 56000 && rx >= 56000
}

// legs are the inbound (caller's) and outbound (callee's) legs of the one
// bridged call up in e.
func legs(t *testing.T, e *Engine) (in, out *Call) {
	t.Helper()
	// Both legs negotiated, not just present: the outbound leg is in the
	// call table before its answer is negotiated, the inbound one before it
	// answers.
	testkit.WaitFor(t, "both legs up and negotiated", 5*time.Second, func() bool {
		in, out = nil, nil
		for _, c := range e.calls.all() {
			if c.Inbound {
				in = c
			} else {
				out = c
			}
		}
		return e.Calls() == 2 && in != nil && out != nil && in.Negotiated().Codec != "" && out.Negotiated().Codec != ""
	})
	return in, out
}

// TestPhonesSRTPCallHoldResume: two phones that require SRTP (srtp-mand)
// call through the gateway: both legs are encrypted, each hears the other's
// tone; the caller puts the call on hold and resumes it, then the callee
// does, each relayed to the other phone with the keys of both legs
// unchanged, and audio flows both ways again after the resume.
func TestPhonesSRTPCallHoldResume(t *testing.T) { holdResume(t, "srtp-mand") }

// TestPhonesHoldResume is TestPhonesSRTPCallHoldResume in plain RTP.
func TestPhonesHoldResume(t *testing.T) { holdResume(t, "") }

func holdResume(t *testing.T, mediaenc string) {
	e, a, b := phonePair(t, mediaenc, mediaenc, WithStore(openStore(t)))
	a.do("/dial 2002")
	b.waitOutput("Call established", 1, 10*time.Second)
	in, out := legs(t, e)
	keyIn, keyOut := in.Negotiated().SRTP, out.Negotiated().SRTP
	if (keyIn == nil || keyOut == nil) != (mediaenc == "") {
		t.Fatalf("SRTP caller leg %v, callee leg %v with %q phones", keyIn, keyOut, mediaenc)
	}
	testkit.WaitFor(t, "each phone to hear the other", 10*time.Second, func() bool {
		return a.heard(1500) >= 1 && b.heard(600) >= 1
	})
	a.do("/hold")
	testkit.WaitFor(t, "the hold relayed to the callee", 5*time.Second, func() bool { return out.Negotiated().Direction == sdp.SendOnly })
	a.do("/resume")
	testkit.WaitFor(t, "the resume relayed to the callee", 5*time.Second, func() bool { return out.Negotiated().Direction == sdp.SendRecv })
	// And the other way: the callee holds and resumes.
	b.do("/hold")
	testkit.WaitFor(t, "the callee's hold relayed to the caller", 5*time.Second, func() bool { return in.Negotiated().Direction == sdp.SendOnly })
	b.do("/resume")
	testkit.WaitFor(t, "the callee's resume relayed to the caller", 5*time.Second, func() bool { return in.Negotiated().Direction == sdp.SendRecv })
	for _, leg := range []struct {
		name   string
		before *sdp.SRTPKeys
		now    *sdp.SRTPKeys
	}{{"caller", keyIn, in.Negotiated().SRTP}, {"callee", keyOut, out.Negotiated().SRTP}} {
		if leg.before != nil && (leg.now == nil || !bytes.Equal(leg.now.LocalKey, leg.before.LocalKey)) {
			t.Fatalf("%s leg: our key changed over hold/resume", leg.name)
		}
	}
	// Audio after the resume. baresip 1.0 stops its sndfile recording of
	// what it receives at the first re-INVITE of a call (it does so between
	// two baresip phones without the gateway too), so what proves it here
	// is each phone's own count of received audio (its status line, after
	// SRTP is removed) and the gateway's count on both legs.
	before := []uint64{in.Session().Stats().PacketsReceived, out.Session().Stats().PacketsReceived}
	resumed := []int{len(a.output()), len(b.output())}
	testkit.WaitFor(t, "both phones to receive audio again after the resume", 10*time.Second, func() bool {
		return receiving(a.output()[resumed[0]:]) && receiving(b.output()[resumed[1]:])
	})
	testkit.WaitFor(t, "both legs to carry audio again", 5*time.Second, func() bool {
		return in.Session().Stats().PacketsReceived >= before[0]+50 && out.Session().Stats().PacketsReceived >= before[1]+50
	})
	for _, c := range []*Call{in, out} {
		if st := c.Session().Stats(); st.DecryptErrors != 0 {
			t.Fatalf("leg %s: %d SRTP or SRTCP packets failed to decrypt", c.ID, st.DecryptErrors)
		}
	}
	for _, p := range []*phone{a, b} {
		if strings.Contains(p.output(), "failed to decrypt") {
			t.Fatalf("%s could not decrypt what the gateway sent", p.user)
		}
	}
	a.do("/hangup")
	testkit.WaitFor(t, "the call to end", 5*time.Second, func() bool { return e.Calls() == 0 })
	// Each leg's SIP, hold and resume included, as a capture tshark decodes
	// without a malformed packet.
	proto := "RTP/AVP"
	if mediaenc != "" {
		proto = "RTP/SAVP"
	}
	for _, c := range []*Call{in, out} {
		fields := decodesClean(t, e, c.ID, "sip.Method", "sdp.media.proto")
		if strings.Count(fields, "INVITE") < 3 || !strings.Contains(fields, proto) {
			t.Fatalf("leg %s as tshark reads it (want 3 INVITEs with %s):\n%s", c.ID, proto, fields)
		}
	}
}

// decodesClean exports the SIP of call id as a capture, checks that tshark
// decodes it without a malformed packet, and returns fields of its SIP
// packets.
func decodesClean(t *testing.T, e *Engine, id string, fields ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "call.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteCallPcap(f, testDomain, id); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if m := tshark(t, path, e, "_ws.malformed", "frame.number"); strings.TrimSpace(m) != "" {
		t.Fatalf("call %s: malformed frames %s", id, m)
	}
	return tshark(t, path, e, "sip", fields...)
}

// tshark decodes the capture at path, with e's SIP port as SIP (a random
// peer port may be another protocol's, which would win), and prints fields
// of the packets that filter selects.
func tshark(t *testing.T, path string, e *Engine, filter string, fields ...string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(e.Addr())
	args := []string{"-r", path, "-d", "udp.port==" + port + ",sip", "-Y", filter, "-T", "fields"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := testkit.TsharkCmd(t, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// TestPhonesSRTPBestEffort: phones that offer SRTP on RTP/AVP (mediaenc
// srtp) get it on both legs, with two-way audio.
func TestPhonesSRTPBestEffort(t *testing.T) {
	e, a, b := phonePair(t, "srtp", "srtp")
	a.do("/dial 2002")
	b.waitOutput("Call established", 1, 10*time.Second)
	in, out := legs(t, e)
	if in.Negotiated().SRTP == nil || out.Negotiated().SRTP == nil {
		t.Fatalf("SRTP caller leg %v, callee leg %v: want both encrypted", in.Negotiated().SRTP, out.Negotiated().SRTP)
	}
	testkit.WaitFor(t, "each phone to hear the other", 10*time.Second, func() bool {
		return a.heard(1500) >= 1 && b.heard(600) >= 1
	})
	a.do("/hangup")
	testkit.WaitFor(t, "the call to end", 5*time.Second, func() bool { return e.Calls() == 0 })
}

// TestPhonesSRTPRequiredNotDowngraded: a caller that requires SRTP calling a
// phone that cannot do it gets the callee's 488 (and no ringing before it),
// never a call in clear.
func TestPhonesSRTPRequiredNotDowngraded(t *testing.T) {
	e, a, b := phonePair(t, "srtp-mand", "")
	a.do("/dial 2002")
	a.waitOutput("488", 1, 10*time.Second)
	if strings.Contains(b.output(), "Call established") || strings.Contains(a.output(), "Call established") {
		t.Fatal("the call was connected")
	}
	if strings.Contains(a.output(), "180 Ringing") {
		t.Fatal("the caller heard ringing from a callee that never rang")
	}
	testkit.WaitFor(t, "no call left", 5*time.Second, func() bool { return e.Calls() == 0 })
}
