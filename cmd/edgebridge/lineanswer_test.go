package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestConsoleLineAnswer: in the running daemon's console (on a pty), an
// installer has the pretend unit on the simulated FXS line answer the ARC's
// call back at the third ring. SIPp as the ARC calls the line's number
// (serve --fxs-number) and sends the key 1 (RFC 4733): the console shows
// three ring bursts spaced by the cadence (200 ms on, 300 ms off), the
// off-hook, the key the unit decoded in band and the ARC's hang-up, and
// SIPp's call is answered and ended by its BYE. A second call is hung up by
// a key in the console: SIPp gets the gateway's BYE. `line answer off`
// leaves the unit not answering, which `hw` shows; on --hw sim it answers
// from the start (at ring 2).
func TestConsoleLineAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("daemon end-to-end test")
	}
	const key = "lineanswer-admin-key-0123456789"
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--hw", "sim", "--console", tty.Name(),
		"--fxs-number", "600", "--ring-cadence", "200,300", "--rtp-ports", testkit.PortRangeArg(t, 100))
	// The ARC calls from a trusted network, as a trunk or an ARC's SBC would.
	if code, body, err := d.req(key, "POST", "/provisioning/trustednetwork/local", `{"id":"arc","network":"127.0.0.1/32"}`); err != nil || code != 200 {
		t.Fatalf("trusted network: %d %s %v", code, body, err)
	}

	var mu sync.Mutex
	var seen bytes.Buffer
	var stop atomic.Bool
	readerDone := make(chan struct{})
	go func() {
		// The pty master is not pollable: the reader stops on a flag.
		defer close(readerDone)
		b := make([]byte, 1024)
		for !stop.Load() {
			n, err := ptmx.Read(b)
			mu.Lock()
			seen.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitFor := func(want string, within time.Duration) string {
		t.Helper()
		var out string
		if testkit.Eventually(within, func() bool {
			mu.Lock()
			defer mu.Unlock()
			out = seen.String()
			return strings.Contains(out, want)
		}) {
			return out
		}
		t.Fatalf("waited for %q; the console showed %q\ndaemon:\n%s", want, out, d.log())
		return ""
	}
	reset := func() {
		mu.Lock()
		seen.Reset()
		mu.Unlock()
	}
	waitFor("admin key: ", 10*time.Second)
	ptmx.Write([]byte(key + "\r"))
	waitFor("> ", 10*time.Second)
	ptmx.Write([]byte("hw\r"))
	waitFor("pretend unit   answers ringing at ring 2", 10*time.Second)

	reset()
	ptmx.Write([]byte("line answer --rings 3\r"))
	waitFor("waiting for the call", 10*time.Second)
	wd := t.TempDir()
	arc := testkit.StartSIPp(t, wd, false, d.sipAddr(t), "-sf", testkit.SIPpScenario(t, wd, "uac_pcap.xml",
		"PCAP_FILE", "/usr/share/sip-tester/dtmf_2833_1.pcap", "PAUSE_MS", "2000"), "-s", "600", "-m", "1")
	out := waitFor("the call ended; the unit still answers at ring 3.", 30*time.Second)
	t.Log(out)
	if err := arc.Wait(15 * time.Second); err != nil {
		t.Fatalf("the ARC's call: %v\n%s", err, arc.Report())
	}
	// The account, in order: three bursts, off hook, the key, the hang-up.
	steps := regexp.MustCompile(`(?m)^\s*([0-9.]+)s  (ring \d|off hook|heard key .|the ARC hung up)`).FindAllStringSubmatch(out, -1)
	var names []string
	var at []float64
	for _, s := range steps {
		names = append(names, s[2])
		v, _ := strconv.ParseFloat(s[1], 64)
		at = append(at, v)
	}
	if got := strings.Join(names, ", "); got != "ring 1, ring 2, ring 3, off hook, heard key 1, the ARC hung up" {
		t.Fatalf("the console's account: %s\n%s", got, out)
	}
	// Each burst starts one cadence (200 ms on + 300 ms off) after the last.
	for i := 1; i < 3; i++ {
		if gap := at[i] - at[i-1]; gap < 0.49 || gap > 2.5 {
			t.Errorf("ring %d came %.3f s after ring %d, want the 0.5 s cadence", i+1, gap, i)
		}
	}
	ptmx.Write([]byte("hw\r"))
	waitFor("line           on hook", 10*time.Second)

	// A key in the console hangs the unit up: the ARC gets the BYE.
	reset()
	ptmx.Write([]byte("line answer --rings 1\r"))
	waitFor("waiting for the call", 10*time.Second)
	wd2 := t.TempDir()
	held := testkit.StartSIPp(t, wd2, false, d.sipAddr(t), "-sf", testkit.SIPpScenario(t, wd2, "uac_hold.xml"), "-s", "600", "-m", "1")
	waitFor("off hook", 15*time.Second)
	ptmx.Write([]byte("x"))
	waitFor("stopped: the unit hung up.", 10*time.Second)
	if err := held.Wait(15 * time.Second); err != nil {
		t.Fatalf("the ARC's call after the unit hung up: %v\n%s", err, held.Report())
	}

	reset()
	ptmx.Write([]byte("line answer off\r"))
	waitFor("the pretend unit no longer answers", 10*time.Second)
	ptmx.Write([]byte("hw\r"))
	waitFor("pretend unit   does not answer ringing", 10*time.Second)
	stop.Store(true)
	ptmx.Write([]byte("help\r"))
	<-readerDone
	ptmx.Close()
}
