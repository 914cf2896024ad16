package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// The engine hands its trace to the store every 200 ms: a message seen just
// before the export is still in the tracer's queue, and the export must
// flush it rather than miss the last batch of the call.
func TestCallPcapHasLastBatch(t *testing.T) {
	db := openStore(t)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), WithStore(db))
	bye := []byte("SIP/2.0 200 OK\r\nCall-ID: last-batch\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
	e.trace.add(true, "UDP", e.Addr(), "127.0.0.1:5999", bye) // as sipgo's tracer does
	msgs, err := CallSIPLog(db, e, testDomain, "last-batch")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Raw != string(bye) {
		t.Fatalf("export of the call read %d messages, want the one still queued in the tracer", len(msgs))
	}
	var buf bytes.Buffer
	if err := e.WriteCallPcap(&buf, testDomain, "last-batch"); err != nil {
		t.Fatal(err)
	}
	pkts, err := pcap.ReadUDP(buf.Bytes())
	if err != nil || len(pkts) != 1 || !bytes.Equal(pkts[0].Payload, bye) {
		t.Fatalf("pcap holds %d packets (%v), want the 200 OK", len(pkts), err)
	}
	if err := e.WriteCallPcap(&buf, testDomain, "no-such-call"); !errors.Is(err, ErrNoMessages) {
		t.Fatalf("export of an unknown call: %v, want ErrNoMessages", err)
	}
}

// A logged message whose addresses cannot be written as UDP/IP is left out
// and counted; the others are written, in order.
func TestWritePcapSkipsBadAddresses(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	msg := func(i int, src, dst string) store.SIPMessage {
		return store.SIPMessage{Time: t0.Add(time.Duration(i) * time.Second), Src: src, Dst: dst, Raw: "OPTIONS sip:x SIP/2.0\r\nCSeq: " + string(rune('1'+i)) + " OPTIONS\r\n\r\n"}
	}
	msgs := []store.SIPMessage{
		msg(0, "192.0.2.10:5060", "192.0.2.1:5060"),
		msg(1, "not-an-address", "192.0.2.1:5060"),      // not ip:port
		msg(2, "192.0.2.10:5060", "[2001:db8::1]:5060"), // IPv4 to IPv6
		msg(3, "[2001:db8::2]:5060", "[2001:db8::1]:5060"),
		msg(4, "[::ffff:192.0.2.10]:5060", "192.0.2.1:5060"), // IPv4-mapped counts as IPv4
	}
	var buf bytes.Buffer
	skipped, err := WritePcap(&buf, msgs)
	if err != nil || skipped != 2 {
		t.Fatalf("skipped %d (%v), want 2", skipped, err)
	}
	pkts, err := pcap.ReadUDP(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkts {
		got = append(got, p.Src.String()+" "+p.Time.Sub(t0).String())
	}
	want := []string{"192.0.2.10:5060 0s", "[2001:db8::2]:5060 3s", "192.0.2.10:5060 4s"}
	if len(got) != len(want) {
		t.Fatalf("pcap packets %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pcap packets %v, want %v", got, want)
		}
	}
	if _, err := WritePcap(&buf, nil); !errors.Is(err, ErrNoMessages) {
		t.Fatalf("no messages: %v, want ErrNoMessages", err)
	}
}

// A call's SIP over UDP, TCP and TLS is written over its real transport:
// TCP and TLS as TCP segments between the real ports whose sequence numbers
// run on, which tshark reassembles and decodes as SIP (the TLS connection
// too: the capture holds it decrypted) without a
// malformed packet or a TCP analysis complaint; sngrep reads every message.
func TestWritePcapRealTransports(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	body := "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
	var msgs []store.SIPMessage
	flow := func(transport, callID, ua, gw string) {
		req := func(method string, cseq int, withBody bool) string {
			b := ""
			if withBody {
				b = body
			}
			return fmt.Sprintf("%s sip:1001@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK%s%d\r\nFrom: <sip:alarm@192.0.2.10>;tag=a\r\nTo: <sip:1001@192.0.2.1>\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:alarm@%s>\r\nMax-Forwards: 70\r\nContent-Length: %d\r\n%s\r\n%s",
				method, strings.ToUpper(transport), ua, method, cseq, callID, cseq, method, ua, len(b), map[bool]string{true: "Content-Type: application/sdp\r\n"}[withBody], b)
		}
		resp := func(code int, reason, method string, cseq int) string {
			return fmt.Sprintf("SIP/2.0 %d %s\r\nVia: SIP/2.0/%s %s;branch=z9hG4bK%s%d\r\nFrom: <sip:alarm@192.0.2.10>;tag=a\r\nTo: <sip:1001@192.0.2.1>;tag=b\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
				code, reason, strings.ToUpper(transport), ua, method, cseq, callID, cseq, method)
		}
		for _, m := range []struct {
			out bool
			raw string
		}{
			{false, req("INVITE", 1, true)}, {true, resp(100, "Trying", "INVITE", 1)}, {true, resp(200, "OK", "INVITE", 1)},
			{false, req("ACK", 1, false)}, {false, req("BYE", 2, false)}, {true, resp(200, "OK", "BYE", 2)},
		} {
			sm := store.SIPMessage{Time: t0.Add(time.Duration(len(msgs)) * 100 * time.Millisecond), Transport: transport, CallID: callID, Src: ua, Dst: gw, Raw: m.raw}
			if m.out {
				sm.Src, sm.Dst = gw, ua
			}
			msgs = append(msgs, sm)
		}
	}
	flow("udp", "c-udp", "192.0.2.10:5062", "192.0.2.1:5060")
	flow("tcp", "c-tcp", "192.0.2.10:40000", "192.0.2.1:5060")
	flow("tls", "c-tls", "192.0.2.10:40001", "192.0.2.1:5061")
	path := filepath.Join(t.TempDir(), "calls.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WritePcap(f, msgs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ts := func(filter string, fields ...string) string {
		args := []string{"-r", path, "-Y", filter, "-T", "fields"}
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
		return strings.TrimSpace(string(out))
	}
	got := strings.Fields(ts("sip", "frame.protocols"))
	if len(got) != len(msgs) {
		t.Fatalf("tshark decodes %d SIP packets, want %d: %v", len(got), len(msgs), got)
	}
	for i, p := range got {
		want := "eth:ethertype:ip:udp:sip"
		if msgs[i].Transport != "udp" {
			want = "eth:ethertype:ip:tcp:sip"
		}
		if !strings.HasPrefix(p, want) {
			t.Fatalf("packet %d (%s) decodes as %s, want %s", i+1, msgs[i].Transport, p, want)
		}
	}
	if bad := ts("_ws.malformed || _ws.expert.severity >= \"warning\" || tcp.analysis.flags", "frame.number", "_ws.expert.message"); bad != "" {
		t.Fatalf("tshark complains:\n%s", bad)
	}
	if sdp := ts("sdp", "sip.Call-ID"); strings.Fields(sdp)[2] != "c-tls" || len(strings.Fields(sdp)) != 3 {
		t.Fatalf("SDP bodies in calls %q, want one each in c-udp, c-tcp, c-tls", sdp)
	}
	if n := testkit.SngrepMessages(t, path); n != len(msgs) {
		t.Fatalf("sngrep reads %d SIP messages, want %d", n, len(msgs))
	}
}
