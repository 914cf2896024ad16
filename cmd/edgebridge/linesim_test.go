package main

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestConsoleLineSimulate: in the running daemon's console (on a pty), an
// installer plays a BS 8521 unit on the simulated FXS line. The console
// prints dial tone, the number, the message and the acknowledge with
// timings, and the ARC gets the event exactly once; then the README's demo
// (a Contact ID panel dialling 5551). A protocol the units do not know is
// refused with the reason.
func TestConsoleLineSimulate(t *testing.T) {
	if testing.Short() {
		t.Skip("daemon end-to-end test")
	}
	const key = "linesim-admin-key-0123456789"
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	d := startDaemon(t, t.TempDir(), nil, "--admin-key", key, "--hw", "sim", "--console", tty.Name(), "--rtp-ports", testkit.PortRangeArg(t, 100))
	for _, r := range []struct{ path, body string }{
		{"/provisioning/device/local", `{"deviceId":"12345678","domain":"local","authType":"deviceid"}`},
		{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`},
		{"/provisioning/device/local", `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		{"/provisioning/alarmbridge/local", `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`},
		{"/provisioning/alarmbridge/local", `{"id":"bs","name":"bs","protocol":"bs8521","protocolMode":"dtmf","destinationMatch":"^5552$","alarmEventMapperId":"arc"}`},
	} {
		if code, body, err := d.req(key, "POST", r.path, r.body); err != nil || code != 200 {
			t.Fatalf("POST %s: %d %s %v", r.path, code, body, err)
		}
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
	waitFor("admin key: ", 10*time.Second)
	ptmx.Write([]byte(key + "\r"))
	waitFor("> ", 10*time.Second)
	ptmx.Write([]byte("line simulate --protocol nosuch\r"))
	waitFor(`--protocol "nosuch": want contactid, bs8521, tt92 or ttnew`, 10*time.Second)
	ptmx.Write([]byte("line simulate --protocol bs8521 --number 5552\r"))
	out := waitFor("acknowledged.", 30*time.Second)
	for _, want := range []string{"off hook", "dial tone heard", "dialling 5552#", "sent 11011234567800010190110", "acknowledge heard, ", "acknowledged, on hook"} {
		if !strings.Contains(out, want) {
			t.Errorf("the console's account lacks %q:\n%s", want, out)
		}
	}
	t.Log(out)
	got := arc.Wait(1, 10*time.Second)
	if len(got) != 1 || got[0].Data != "#12345678|Nri0/QA01" {
		t.Fatalf("ARC got %+v, want one #12345678|Nri0/QA01", got)
	}
	// The README's demo: a Contact ID panel on the default number 5551.
	mu.Lock()
	seen.Reset()
	mu.Unlock()
	ptmx.Write([]byte("line simulate --protocol contactid\r"))
	out = waitFor("acknowledged.", 30*time.Second)
	for _, want := range []string{"dialling 5551#", "handshake heard", "sent 123418113001015", "kissoff heard, "} {
		if !strings.Contains(out, want) {
			t.Errorf("the console's account lacks %q:\n%s", want, out)
		}
	}
	t.Log(out)
	if got := arc.Wait(2, 10*time.Second); len(got) != 2 || got[1].Data != "#1234|1130 01 015" {
		t.Fatalf("ARC got %+v, want the BS 8521 event then #1234|1130 01 015", got)
	}
	// Any key hangs the unit up mid-call (a TT92 unit waits seconds for
	// its prompts and repeat); the line is free again for the next call.
	mu.Lock()
	seen.Reset()
	mu.Unlock()
	ptmx.Write([]byte("line simulate --protocol tt92 --number 5552\r"))
	waitFor("dialled", 10*time.Second)
	ptmx.Write([]byte("x"))
	waitFor("stopped: the unit hung up.", 10*time.Second)
	mu.Lock()
	seen.Reset()
	mu.Unlock()
	ptmx.Write([]byte("line simulate --protocol bs8521 --number 5552\r"))
	waitFor("acknowledged.", 30*time.Second)
	if got := arc.Wait(3, 10*time.Second); len(got) != 3 || got[2].Data != "#12345678|Nri0/QA01" {
		t.Fatalf("ARC got %+v, want a third event, the BS 8521 one, after the hung-up TT92 call", got)
	}
	stop.Store(true)
	ptmx.Write([]byte("help\r"))
	<-readerDone
	ptmx.Close()
}
