package engine

import (
	"bytes"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// callGoroutines counts the goroutines of the process by what their
// stacks hold: the B2BUA handler, whether it runs a direction of the
// bridge itself, the bridge's pumps, the media sessions' readers and all
// of these together.
func callGoroutines() map[string]int {
	const (
		handler = "engine.(*Engine).b2bua("
		bridge  = "engine/media.Bridge("
		pump    = "engine/media.pump("
		reader  = "created by github.com/edgebridge/edgebridge/engine/media.(*Session).Start"
	)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	got := map[string]int{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		has := func(s string) bool { return bytes.Contains(g, []byte(s)) }
		if has(handler) {
			got["handler"]++
		}
		if has(handler) && has(pump) {
			got["handler bridging"]++
		}
		if has(pump) {
			got["pumps"]++
		}
		if has(reader) {
			got["session readers"]++
		}
		if has(handler) || has(bridge) || has(pump) || has(reader) {
			got["all"]++
		}
	}
	return got
}

// TestBridgedCallGoroutines: a B2BUA call answered without early media is
// bridged on the goroutine that handles it, which carries one direction
// of the audio while one more goroutine carries the other, and each leg's
// media session runs one goroutine, its RTP reader (RTCP reports, the RTP
// timeout and reading RTCP are a timer's). Every goroutine the runtime makes at a flood's
// peak leaves a descriptor it never frees. All of them are gone after BYE.
func TestBridgedCallGoroutines(t *testing.T) {
	dir := trustedLoopback(t, "5002")
	dir.SetTrusted(testDomain, "127.0.0.0/8") // the callee registers from 127.0.0.2
	e := startEngine(t, WithDirectory(dir))
	callee := udpPeerAt(t, e, "127.0.0.2")
	callee.registerTrusted("5002", "5002", "sip:5002@"+callee.addr())
	caller := newPeer(t, e)
	caller.invite("5002", "bridge-goroutines", "")
	inv := callee.recvRequest("INVITE", 5*time.Second)
	callee.answerWith(inv, "b1", strings.Replace(strings.Replace(testSDP, "40000", "41000", 1), "127.0.0.1", "127.0.0.2", -1))
	callee.recvRequest("ACK", 5*time.Second)
	res := caller.recv(false)
	if res.StatusCode != 200 {
		t.Fatalf("call: %d", res.StatusCode)
	}
	caller.ackOK(res, "5002")
	legs(t, e)

	var got map[string]int
	// One RTP reader per leg; where RTCP is not polled by housekeeping
	// (Linux only), an RTCP reader too.
	readers := 2
	if runtime.GOOS != "linux" {
		readers = 4
	}
	want := map[string]int{"handler": 1, "handler bridging": 1, "pumps": 2, "session readers": readers, "all": 2 + readers}
	if !testkit.Eventually(5*time.Second, func() bool {
		got = callGoroutines()
		return maps.Equal(got, want)
	}) {
		t.Errorf("goroutines of a bridged call: %v, want %v", got, want)
	}
	caller.inDialog(res, "BYE", 2, "", "")
	if r := caller.recv(false); r.StatusCode != 200 {
		t.Fatalf("BYE: %d", r.StatusCode)
	}
	callee.okTo(callee.recvRequest("BYE", 5*time.Second))
	if !testkit.Eventually(5*time.Second, func() bool {
		got = callGoroutines()
		return len(got) == 0
	}) {
		t.Errorf("goroutines of the call after BYE: %v", got)
	}
}
