package media

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestRTCPDecodedByWireshark: the reports the sessions send are checked by
// an independent parser, tshark's RTCP dissector: a's SR (packet and octet
// counts) and b's RR with 10 % loss (fraction 25/256, 5 lost of 50, the
// extended highest sequence number and jitter b measured), each with SDES
// CNAME.
func TestRTCPDecodedByWireshark(t *testing.T) {
	tshark := testkit.NeedTool(t, "tshark")
	a, b := lossyPair(t)

	sink, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	to := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	for _, s := range []*Session{a, b} {
		s.rtcp.mu.Lock()
		s.rtcp.remote, s.rtcp.latched = to, true
		s.rtcp.mu.Unlock()
	}
	st := b.Stats()
	a.sendReport(time.Now())
	b.sendReport(time.Now())

	var buf bytes.Buffer
	w, err := pcap.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 1500)
	for range 2 {
		sink.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := sink.ReadFromUDPAddrPort(pkt)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(time.Now(), from, to, pkt[:n]); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "rtcp.pcap")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", file, "-d", fmt.Sprintf("udp.port==%d,rtcp", to.Port()),
		"-T", "fields", "-E", "separator=|", "-e", "rtcp.pt", "-e", "rtcp.senderssrc",
		"-e", "rtcp.sender.packetcount", "-e", "rtcp.sender.octetcount", "-e", "rtcp.ssrc.identifier",
		"-e", "rtcp.ssrc.fraction", "-e", "rtcp.ssrc.cum_nr", "-e", "rtcp.ssrc.ext_high",
		"-e", "rtcp.ssrc.jitter", "-e", "rtcp.sdes.text").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("tshark decoded %d packets:\n%s", len(lines), out)
	}
	// Nothing malformed or worth a warning in Wireshark's eyes (lengths,
	// padding, compound rules).
	bad, err := exec.Command(tshark, "-r", file, "-d", fmt.Sprintf("udp.port==%d,rtcp", to.Port()),
		"-Y", "_ws.malformed || _ws.expert.severity >= warning", "-V").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if len(bytes.TrimSpace(bad)) > 0 {
		t.Errorf("tshark finds fault with the reports:\n%s", bad)
	}
	sa := a.Stats()
	// Fields: types | sender SSRC | SR counts | report block SSRC and SDES
	// chunk SSRC | fraction | lost | extended highest seq | jitter | CNAME.
	wantSR := fmt.Sprintf("200,202|0x%08x|%d|%d|0x%08x|||||%08x@edgebridge", a.ssrc, sa.PacketsSent, sa.OctetsSent, a.ssrc, a.ssrc)
	if lines[0] != wantSR {
		t.Errorf("a's SR decoded as\n%s\nwant\n%s", lines[0], wantSR)
	}
	wantRR := fmt.Sprintf("201,202|0x%08x|||0x%08x,0x%08x|25|5|%d|%d|%08x@edgebridge", b.ssrc, a.ssrc, b.ssrc,
		b.in.stats.extendedMax(), uint32(st.Jitter*8000/time.Second), b.ssrc)
	if lines[1] != wantRR {
		t.Errorf("b's RR decoded as\n%s\nwant\n%s", lines[1], wantRR)
	}
}

// TestRFC4733DecodedByWireshark: the telephone-event packets of SendDigit
// as tshark's RTP and RTPEVENT dissectors read them (RFC 4733 §2.5.1):
// marker on the start, one timestamp, growing durations, three ends.
func TestRFC4733DecodedByWireshark(t *testing.T) {
	tshark := testkit.NeedTool(t, "tshark")
	a, b, negA, _ := pair(t, nil)
	r := via(t, a, b, negA, nil)
	if err := a.SendDigit('#', 70); err != nil {
		t.Fatal(err)
	}
	sendFrames(t, a, 8, func(p []int16, i int) { clear(p) })
	// The relay reads on its own goroutine: after a stall the sender
	// catches up at once, so the last packets may still be in its socket.
	testkit.WaitFor(t, "the 8 packets at the relay", 5*time.Second, func() bool { return len(r.packets()) >= 8 })
	var buf bytes.Buffer
	w, err := pcap.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.packets() {
		if err := w.WritePacket(time.Now(), a.LocalAddr(), r.addr(), p); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "events.pcap")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", file, "-d", fmt.Sprintf("udp.port==%d,rtp", r.addr().Port()),
		"-o", fmt.Sprintf("rtpevent.event_payload_type_value:%d", negA.EventPT),
		"-T", "fields", "-E", "separator=|", "-e", "rtp.p_type", "-e", "rtp.marker", "-e", "rtp.timestamp",
		"-e", "rtpevent.event_id", "-e", "rtpevent.end_of_event", "-e", "rtpevent.duration").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 8 {
		t.Fatalf("%d packets:\n%s", len(lines), out)
	}
	bad, err := exec.Command(tshark, "-r", file, "-d", fmt.Sprintf("udp.port==%d,rtp", r.addr().Port()),
		"-o", fmt.Sprintf("rtpevent.event_payload_type_value:%d", negA.EventPT),
		"-Y", "_ws.malformed || _ws.expert.severity >= warning", "-V").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if len(bytes.TrimSpace(bad)) > 0 {
		t.Errorf("tshark finds fault with the packets:\n%s", bad)
	}
	// 70 ms = 560 samples: 160, 320, 480, 560 (end), end, end, then audio.
	ts := strings.Split(lines[0], "|")[2]
	want := []string{
		fmt.Sprintf("%d|1|%s|11|0|160", negA.EventPT, ts),
		fmt.Sprintf("%d|0|%s|11|0|320", negA.EventPT, ts),
		fmt.Sprintf("%d|0|%s|11|0|480", negA.EventPT, ts),
		fmt.Sprintf("%d|0|%s|11|1|560", negA.EventPT, ts),
		fmt.Sprintf("%d|0|%s|11|1|560", negA.EventPT, ts),
		fmt.Sprintf("%d|0|%s|11|1|560", negA.EventPT, ts),
	}
	for i, wl := range want {
		if lines[i] != wl {
			t.Errorf("packet %d: %s, want %s", i, lines[i], wl)
		}
	}
	if !strings.HasPrefix(lines[6], fmt.Sprintf("%d|0|", negA.PT)) {
		t.Errorf("after the event: %s, want audio (PT %d)", lines[6], negA.PT)
	}
}
