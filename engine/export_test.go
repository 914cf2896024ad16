package engine

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"
)

// The engine hands its trace to the store every 200 ms: a message seen just
// before the export is still in the tracer's queue, and the export must
// flush it rather than miss the last batch of the call.
func TestCallPcapHasLastBatch(t *testing.T) {
	db := openStore(t)
	e := startEngine(t, WithStore(db))
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
