package engine

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

var fuzzSeq atomic.Int64

// FuzzUA sends arbitrary datagrams to a running engine (with a route, a
// device and a trunk configured, so every path can be reached) and checks
// after each that it still answers OPTIONS: no input may stop the UA.
func FuzzUA(f *testing.F) {
	f.Add([]byte("OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKf\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: f1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKr\r\nFrom: <sip:d1@x>;tag=1\r\nTo: <sip:d1@x>\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContact: *\r\nExpires: 0\r\nAuthorization: Digest username=\"d1\", realm=\"test.local\", nonce=\"x.y\", uri=\"sip:a\", response=\"0\"\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INVITE sip:5@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKi\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:5@d>\r\nCall-ID: i1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:9>\r\nSession-Expires: 99999999999999999999;refresher=x\r\nContent-Type: application/sdp\r\nContent-Length: 40\r\n\r\nv=0\r\nm=audio 0 RTP/SAVP 8\r\na=crypto:1 X\r\n"))
	f.Add([]byte("BYE sip:5@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKb\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:5@d>;tag=2\r\nCall-ID: i1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"))
	// An engine per call of FuzzUA (one per fuzzing worker; one per run
	// with -count): one kept across calls would serve under the first
	// call's context, which ends with it.
	dir := NewStaticDirectory()
	dir.PutDevice(testDomain, Device{DeviceID: "d1", AuthType: "credentials", Password: "p"})
	off := false
	dir.SetTrunks(testDomain, []Trunk{{TrunkID: "t", DestinationTarget: "127.0.0.1:9", DestinationTransport: "udp", DestinationMatch: "/^00/", KeepAlive: &off}})
	e := startEngine(f, WithDirectory(dir), routeAll("ms/fuzz", "2833", answerAndWait))
	p := newPeer(f, e)
	f.Fuzz(func(t *testing.T, data []byte) {
		p.t = t
		if _, err := p.conn.WriteTo(data, p.to); err != nil {
			t.Skip("datagram too large for UDP")
		}
		id := "alive-" + strconv.FormatInt(fuzzSeq.Add(1), 10)
		p.send("OPTIONS sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + id +
			"\nFrom: <sip:probe@127.0.0.1>;tag=x\nTo: <sip:" + e.Addr() + ">\nCall-ID: " + id +
			"\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n")
		// Answers to the fuzzed input itself may echo its garbage: skip
		// whatever does not parse, wait for the probe's answer.
		buf := make([]byte, 65535)
		deadline := time.Now().Add(5 * time.Second)
		for {
			p.conn.SetReadDeadline(deadline)
			n, _, err := p.conn.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no answer to OPTIONS after %q: %v", data, err)
			}
			m, err := sip.ParseMessage(buf[:n])
			if err != nil {
				continue
			}
			if res, ok := m.(*sip.Response); ok && res.CallID() != nil && res.CallID().Value() == id {
				if res.StatusCode != 200 {
					t.Fatalf("OPTIONS after %q answered %d", data, res.StatusCode)
				}
				return
			}
		}
	})
}
