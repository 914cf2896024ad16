package softphone

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/dsp/audiofile"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// Config is how Start runs a phone.
type Config struct {
	Server   string // the registrar's host:port, also the host of the phone's address of record
	User     string
	Password string
	MediaEnc string  // "" plain RTP, "srtp" (best effort) or "srtp-mand"
	Tone     float64 // Hz of the tone the phone sends as its microphone
	Manual   bool    // leave calls ringing until answered ("/accept"); else answer at once
	// Registered says whether the registrar holds the binding whose
	// Contact is at host:port (this phone); Start waits for it when set.
	Registered func(contact string) bool
}

// Phone is a baresip 1.0 softphone (Debian baresip) run by the test with
// its own config folder: its microphone is a WAV file of one tone (aufile),
// what it hears and sends is recorded (sndfile, dump-*-dec.wav and
// -enc.wav), and the test drives it through the cons module over UDP.
type Phone struct {
	User   string // the account's user
	Dir    string // its config folder and recordings
	t      *testing.T
	cons   *net.UDPAddr
	conn   *net.UDPConn
	log    testkit.Buffer   // what baresip prints
	mu     sync.Mutex       // guards events
	events []map[string]any // from ctrl_tcp, in order
}

// Write collects what baresip prints (its stdout and stderr).
func (p *Phone) Write(b []byte) (int, error) { return p.log.Write(b) }

// Output is what baresip has printed so far.
func (p *Phone) Output() string { return p.log.String() }

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

// Start runs baresip as cfg says, registered at cfg.Server, and waits
// until its control port answers and (with cfg.Registered) the registrar
// holds its binding. The test's end stops it; a failed test logs its
// output.
func Start(t *testing.T, cfg Config) *Phone {
	t.Helper()
	user, pw, mediaenc, freq := cfg.User, cfg.Password, cfg.MediaEnc, cfg.Tone
	bin := testkit.NeedTool(t, "baresip")
	p := &Phone{t: t, User: user, Dir: t.TempDir()}
	sipPort, _ := testkit.PortRange(t, 2) // baresip listens on SIP and SIP+1 (TLS)
	consPort, _ := testkit.PortRange(t, 1)
	ctrlPort, _ := testkit.PortRange(t, 1)
	rtpLo, rtpHi := testkit.PortRange(t, 10)
	tone := toneWAV(t, filepath.Join(p.Dir, "tone.wav"), freq)
	conf := fmt.Sprintf(`poll_method epoll
net_interface 127.0.0.1
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
`, sipPort, tone, rtpLo, rtpHi, consPort, ctrlPort, p.Dir)
	// The AOR's host is the gateway's address: a request to an address is
	// for the gateway's domain.
	answer := "auto"
	if cfg.Manual {
		answer = "manual"
	}
	acc := fmt.Sprintf(`<sip:%s@%s>;auth_user=%s;auth_pass=%s;regint=600;answermode=%s;audio_codecs=PCMA,PCMU`,
		user, cfg.Server, user, pw, answer)
	if mediaenc != "" {
		acc += ";mediaenc=" + mediaenc
	}
	for name, body := range map[string]string{"config": conf, "accounts": acc + "\n", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(p.Dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-f", p.Dir)
	cmd.Dir = p.Dir
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
			t.Logf("baresip %s:\n%s", user, p.Output())
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
	if cfg.Registered != nil {
		at := "127.0.0.1:" + strconv.Itoa(sipPort)
		testkit.WaitFor(t, user+" registered", 10*time.Second, func() bool { return cfg.Registered(at) })
	}
	return p
}

// readEvents keeps the events ctrl_tcp reports (netstrings of JSON, e.g.
// {"event":true,"type":"CALL_DTMF_START","param":"5",...}).
func (p *Phone) readEvents(c net.Conn) {
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

// WaitEvent waits for an event of type typ whose param is param ("" any)
// after the first skip of that type, and returns the count of such events.
func (p *Phone) WaitEvent(typ, param string, n int, d time.Duration) {
	p.t.Helper()
	testkit.WaitFor(p.t, fmt.Sprintf("%s: %d× %s %s", p.User, n, typ, param), d, func() bool {
		return p.CountEvents(typ, param) >= n
	})
}

func (p *Phone) CountEvents(typ, param string) int {
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

// Do sends a command line to the phone's cons module.
func (p *Phone) Do(cmd string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDP([]byte(cmd+"\n"), p.cons); err != nil {
		p.t.Fatal(err)
	}
}

// WaitOutput waits until the phone has printed s (count times).
func (p *Phone) WaitOutput(s string, count int, d time.Duration) {
	p.t.Helper()
	testkit.WaitFor(p.t, fmt.Sprintf("%s to print %q %d times", p.User, s, count), d, func() bool {
		return strings.Count(p.Output(), s) >= count
	})
}

// Heard returns the seconds of freq Hz tone in what the phone received
// (its dump-*-dec.wav recordings).
func (p *Phone) Heard(freq float64) float64 {
	p.t.Helper()
	return p.Tone("dec", freq)
}

// Tone returns the seconds of freq Hz tone in the phone's recordings of
// kind "dec" (what it received) or "enc" (what it sent).
func (p *Phone) Tone(kind string, freq float64) float64 {
	p.t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.Dir, "dump-*-"+kind+".wav"))
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
