package engine

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/edgebridge/edgebridge/dsp"
	"github.com/edgebridge/edgebridge/engine/pcap"
)

// writeDTMFPcap writes a pcap of PCMA RTP (20 ms packets) that carries keys
// as in-band DTMF between 300 ms of silence on each side. SIPp replays it
// with play_pcap_audio.
func writeDTMFPcap(t *testing.T, path, keys string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcap.NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	gen := dsp.NewDTMFGenerator(dsp.DefaultDTMFGen())
	src := netip.MustParseAddrPort("127.0.0.1:30000")
	dst := netip.MustParseAddrPort("127.0.0.1:6000")
	pcm := make([]int16, 160)
	pay := make([]byte, 160)
	at := time.Unix(1700000000, 0)
	frames := 15 + (len(keys)*140)/20 + 15
	for i := range frames {
		if i == 15 {
			if err := gen.Queue(keys); err != nil {
				t.Fatal(err)
			}
		}
		gen.Generate(pcm)
		dsp.AlawEncode(pay, pcm)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: uint16(100 + i),
			Timestamp: uint32(1000 + 160*i), SSRC: 0x1234abcd, Marker: i == 0}, Payload: pay}
		b, err := pkt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(at.Add(time.Duration(i)*20*time.Millisecond), src, dst, b); err != nil {
			t.Fatal(err)
		}
	}
}
