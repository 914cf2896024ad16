package engine

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine/sdp"
	"github.com/edgebridge/edgebridge/internal/softphone"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// startPhone runs a baresip phone (softphone) as user (password pw)
// registered at e, with mediaenc ("" plain, "srtp", "srtp-mand"), sending a
// tone of freq Hz, answering every call at once.
func startPhone(t *testing.T, e *Engine, user, pw, mediaenc string, freq float64) *softphone.Phone {
	t.Helper()
	return startPhoneWith(t, e, softphone.Config{User: user, Password: pw, MediaEnc: mediaenc, Tone: freq})
}

// startPhoneWith runs the phone cfg describes registered at e, and waits
// for its own binding (several phones may register one user).
func startPhoneWith(t *testing.T, e *Engine, cfg softphone.Config) *softphone.Phone {
	t.Helper()
	cfg.Server = e.Addr()
	cfg.Registered = func(at string) bool {
		for _, b := range e.Bindings(testDomain, cfg.User) {
			if strings.Contains(b.Contact, at) {
				return true
			}
		}
		return false
	}
	return softphone.Start(t, cfg)
}

// phonePair registers two baresip phones, 2001 and 2002, with digest.
func phonePair(t *testing.T, encA, encB string, opts ...Option) (*Engine, *softphone.Phone, *softphone.Phone) {
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
	a.Do("/dial 2002")
	b.WaitOutput("Call established", 1, 10*time.Second)
	testkit.WaitFor(t, "each phone to hear the other", 10*time.Second, func() bool {
		return a.Heard(1500) >= 1 && b.Heard(600) >= 1
	})
	a.Do("/sndcode 5")
	b.WaitEvent("CALL_DTMF_START", "5", 1, 5*time.Second)
	b.Do("/sndcode 7")
	a.WaitEvent("CALL_DTMF_START", "7", 1, 5*time.Second)
	a.Do("/hangup")
	testkit.WaitFor(t, "the call to end", 5*time.Second, func() bool { return e.Calls() == 0 })
}

// statLine is baresip's status line: "[0:00:04] audio=64000/64000 (bit/s)",
// the call's duration and the bit rates of audio sent and received.
var statLine = regexp.MustCompile(`\[(\d+):(\d\d):(\d\d)\] audio=(\d+)/(\d+) \(bit/s\)`)

// statDuration is the call duration, in seconds, of a statLine match.
func statDuration(m []string) int {
	h, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	s, _ := strconv.Atoi(m[3])
	return h*3600 + mm*60 + s
}

// receivingAfter says whether out shows audio both sent and received
// over a stretch of the call that began after offset from of out.
// baresip's rates are bytes counted over its last 3 s window, recomputed
// every 3 s and printed until the next (src/metric.c): only a line 7 s of
// call time after the last one before from (3 s until a window starts, 3
// s of window, 1 s of rounding) is sure to count nothing earlier. How
// much is not asserted: a phone starved of CPU counts half its packets in
// a window, and rates are make bench's business.
func receivingAfter(out string, from int) bool {
	start := 0
	if m := statLine.FindAllStringSubmatch(out[:from], -1); len(m) > 0 {
		start = statDuration(m[len(m)-1])
	}
	for _, m := range statLine.FindAllStringSubmatch(out[from:], -1) {
		tx, _ := strconv.Atoi(m[4])
		rx, _ := strconv.Atoi(m[5])
		if statDuration(m) >= start+7 && tx > 0 && rx > 0 {
			return true
		}
	}
	return false
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
	a.Do("/dial 2002")
	b.WaitOutput("Call established", 1, 10*time.Second)
	in, out := legs(t, e)
	keyIn, keyOut := in.Negotiated().SRTP, out.Negotiated().SRTP
	if (keyIn == nil || keyOut == nil) != (mediaenc == "") {
		t.Fatalf("SRTP caller leg %v, callee leg %v with %q phones", keyIn, keyOut, mediaenc)
	}
	testkit.WaitFor(t, "each phone to hear the other", 10*time.Second, func() bool {
		return a.Heard(1500) >= 1 && b.Heard(600) >= 1
	})
	a.Do("/hold")
	testkit.WaitFor(t, "the hold relayed to the callee", 5*time.Second, func() bool { return out.Negotiated().Direction == sdp.SendOnly })
	a.Do("/resume")
	testkit.WaitFor(t, "the resume relayed to the callee", 5*time.Second, func() bool { return out.Negotiated().Direction == sdp.SendRecv })
	// And the other way: the callee holds and resumes.
	b.Do("/hold")
	testkit.WaitFor(t, "the callee's hold relayed to the caller", 5*time.Second, func() bool { return in.Negotiated().Direction == sdp.SendOnly })
	b.Do("/resume")
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
	resumed := []int{len(a.Output()), len(b.Output())}
	// 7 s of call time at least (receivingAfter), 10 s to spare on a
	// loaded machine.
	testkit.WaitFor(t, "both phones to receive audio again after the resume", 17*time.Second, func() bool {
		return receivingAfter(a.Output(), resumed[0]) && receivingAfter(b.Output(), resumed[1])
	})
	testkit.WaitFor(t, "both legs to carry audio again", 5*time.Second, func() bool {
		return in.Session().Stats().PacketsReceived >= before[0]+50 && out.Session().Stats().PacketsReceived >= before[1]+50
	})
	for _, c := range []*Call{in, out} {
		if st := c.Session().Stats(); st.DecryptErrors != 0 {
			t.Fatalf("leg %s: %d SRTP or SRTCP packets failed to decrypt", c.ID, st.DecryptErrors)
		}
	}
	for _, p := range []*softphone.Phone{a, b} {
		if strings.Contains(p.Output(), "failed to decrypt") {
			t.Fatalf("%s could not decrypt what the gateway sent", p.User)
		}
	}
	a.Do("/hangup")
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
	a.Do("/dial 2002")
	b.WaitOutput("Call established", 1, 10*time.Second)
	in, out := legs(t, e)
	if in.Negotiated().SRTP == nil || out.Negotiated().SRTP == nil {
		t.Fatalf("SRTP caller leg %v, callee leg %v: want both encrypted", in.Negotiated().SRTP, out.Negotiated().SRTP)
	}
	testkit.WaitFor(t, "each phone to hear the other", 10*time.Second, func() bool {
		return a.Heard(1500) >= 1 && b.Heard(600) >= 1
	})
	a.Do("/hangup")
	testkit.WaitFor(t, "the call to end", 5*time.Second, func() bool { return e.Calls() == 0 })
}

// TestPhonesSRTPRequiredNotDowngraded: a caller that requires SRTP calling a
// phone that cannot do it gets the callee's 488 (and no ringing before it),
// never a call in clear.
func TestPhonesSRTPRequiredNotDowngraded(t *testing.T) {
	e, a, b := phonePair(t, "srtp-mand", "")
	a.Do("/dial 2002")
	a.WaitOutput("488", 1, 10*time.Second)
	if strings.Contains(b.Output(), "Call established") || strings.Contains(a.Output(), "Call established") {
		t.Fatal("the call was connected")
	}
	if strings.Contains(a.Output(), "180 Ringing") {
		t.Fatal("the caller heard ringing from a callee that never rang")
	}
	testkit.WaitFor(t, "no call left", 5*time.Second, func() bool { return e.Calls() == 0 })
}
