package media

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgebridge/edgebridge/engine/pcap"
)

// sippDir holds the RTP captures of the Debian package sip-tester.
const sippDir = "/usr/share/sip-tester"

func sippPackets(t *testing.T, name string) []pcap.Packet {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sippDir, name))
	if err != nil {
		t.Fatalf("SIPp capture %s missing (install sip-tester: make deps): %v", name, err)
	}
	pkts, err := pcap.ReadUDP(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) == 0 {
		t.Fatalf("%s: no UDP packets", name)
	}
	return pkts
}

// TestSIPpPcapAudio plays SIPp's 30 ms A-law capture into a session and
// reads it back as 20 ms frames: every sample arrives, none concealed.
func TestSIPpPcapAudio(t *testing.T) {
	pkts := sippPackets(t, "g711a.pcap")
	s := offlineSession(t, "PCMA", false)
	var pcm [FrameSamples]int16
	frames, loud := 0, 0
	for i, p := range pkts {
		s.receive(p.Payload, p.Src, p.Time)
		// Read 3 frames for every 2 packets (60 ms each way).
		if i%2 == 1 {
			for range 3 {
				s.in.mu.Lock()
				s.frameLocked(pcm[:])
				s.in.mu.Unlock()
				frames++
				if rms(pcm[:]) > 100 {
					loud++
				}
			}
		}
	}
	st := s.Stats()
	if st.PacketsReceived != uint64(len(pkts)) || st.Lost != 0 || st.Late != 0 || st.Resyncs != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Concealed != 0 {
		t.Errorf("%d frames concealed", st.Concealed)
	}
	if loud < frames/2 {
		t.Errorf("only %d of %d frames carry audio", loud, frames)
	}
}
