package engine

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

const testDomain = "test.local"

func startEngine(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	return start(t, newEngine(t, opts...))
}

// newEngine is an engine on loopback not started yet, for a test that
// changes it first (its clock).
func newEngine(t testing.TB, opts ...Option) *Engine {
	t.Helper()
	lo, hi := testkit.PortRange(t, 200)
	e, err := New(Config{SIPAddr: "127.0.0.1:0", Domain: testDomain, RTPPortMin: lo, RTPPortMax: hi}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func start(t testing.TB, e *Engine) *Engine {
	t.Helper()
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func openStore(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "eb.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// peer is a hand-driven SIP endpoint on a UDP socket: tests write the exact
// request and read the parsed response.
type peer struct {
	t    testing.TB
	conn net.PacketConn
	to   net.Addr
}

func newPeer(t testing.TB, e *Engine) *peer { return udpPeerAt(t, e, "127.0.0.1") }

// udpPeerAt is a raw SIP peer bound to ip (127.0.0.2 is loopback too, but
// another address than the engine's 127.0.0.1).
func udpPeerAt(t testing.TB, e *Engine, ip string) *peer {
	t.Helper()
	c, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	to, err := net.ResolveUDPAddr("udp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return &peer{t: t, conn: c, to: to}
}

func (p *peer) addr() string { return p.conn.LocalAddr().String() }

func (p *peer) send(msg string) {
	p.t.Helper()
	msg = strings.ReplaceAll(strings.TrimLeft(msg, "\n"), "\n", "\r\n")
	if _, err := p.conn.WriteTo([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next final (or, with provisional, any) response.
func (p *peer) recv(provisional bool) *sip.Response {
	p.t.Helper()
	buf := make([]byte, 65535)
	for {
		p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			p.t.Fatalf("no response: %v", err)
		}
		m, err := sip.ParseMessage(buf[:n])
		if err != nil {
			p.t.Fatalf("unparsable message: %v\n%s", err, buf[:n])
		}
		res, ok := m.(*sip.Response)
		if !ok {
			continue
		}
		if res.IsProvisional() && !provisional {
			continue
		}
		return res
	}
}

// recvRequest reads until a request with method arrives.
func (p *peer) recvRequest(method string, d time.Duration) *sip.Request {
	p.t.Helper()
	buf := make([]byte, 65535)
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		p.conn.SetReadDeadline(end)
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			break
		}
		if m, err := sip.ParseMessage(buf[:n]); err == nil {
			if r, ok := m.(*sip.Request); ok && r.Method.String() == method {
				return r
			}
		}
	}
	p.t.Fatalf("no %s within %v", method, d)
	return nil
}

// registerTrusted registers user at the engine from p, a peer on a trusted
// network (no challenge), with the Contact contact; id names the REGISTER's
// branch and Call-ID. Any answer but 200 fails the test.
func (p *peer) registerTrusted(user, id, contact string) {
	p.t.Helper()
	p.send("REGISTER sip:" + p.to.String() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bKreg" + id + "\nFrom: <sip:" + user + "@" + testDomain +
		">;tag=r\nTo: <sip:" + user + "@" + testDomain + ">\nCall-ID: reg-" + id + "\nCSeq: 1 REGISTER\nContact: <" + contact + ">\nExpires: 600\nContent-Length: 0\n\n")
	if res := p.recv(false); res.StatusCode != 200 {
		p.t.Fatalf("REGISTER %s: %d", id, res.StatusCode)
	}
}

// register sends a REGISTER for user (with an optional Authorization value)
// and returns the response.
func (p *peer) register(user, fromUser, callID string, cseq int, auth string, expires int) *sip.Response {
	p.t.Helper()
	h := p.to.String()
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\n", h)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%d\n", p.addr(), rand.Int64())
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=f%d\n", fromUser, h, cseq)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\n", user, h)
	fmt.Fprintf(&b, "Call-ID: %s\n", callID)
	fmt.Fprintf(&b, "CSeq: %d REGISTER\n", cseq)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\n", user, p.addr())
	fmt.Fprintf(&b, "Expires: %d\nMax-Forwards: 70\n", expires)
	if auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\n", auth)
	}
	b.WriteString("Content-Length: 0\n\n")
	p.send(b.String())
	return p.recv(false)
}

// lines returns the lines of s containing sub.
func lines(s, sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

const testSDP = `v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
`

// invite sends an INVITE for user with testSDP, plus extra header lines.
func (p *peer) invite(user, callID, extra string) {
	p.t.Helper()
	p.inviteSDP(user, callID, extra, testSDP)
}

// inviteFrom sends an INVITE with testSDP from the user from to user.
func (p *peer) inviteFrom(from, user, callID string) {
	p.t.Helper()
	p.inviteAs(from, user, callID, "", testSDP)
}

// inviteSDP sends an INVITE for user with the SDP sdp, plus extra header lines.
func (p *peer) inviteSDP(user, callID, extra, sdp string) {
	p.t.Helper()
	p.inviteAs("100", user, callID, extra, sdp)
}

func (p *peer) inviteAs(from, user, callID, extra, sdp string) {
	p.t.Helper()
	body := strings.ReplaceAll(sdp, "\n", "\r\n")
	h := p.to.String()
	msg := "INVITE sip:" + user + "@" + h + " SIP/2.0\n" +
		"Via: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + callID + "\n" +
		"From: <sip:" + from + "@127.0.0.1>;tag=t" + callID + "\n" +
		"To: <sip:" + user + "@" + h + ">\n" +
		"Call-ID: " + callID + "\n" +
		"CSeq: 1 INVITE\n" +
		"Contact: <sip:" + from + "@" + p.addr() + ">\n" +
		"Max-Forwards: 70\n" + extra +
		"Content-Type: application/sdp\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\n\n"
	msg = strings.ReplaceAll(msg, "\n", "\r\n") + body
	if _, err := p.conn.WriteTo([]byte(msg), p.to); err != nil {
		p.t.Fatal(err)
	}
}

// ack acknowledges a final non-2xx response to an INVITE (RFC 3261 §17.1.1.3).
func (p *peer) ack(res *sip.Response) {
	p.t.Helper()
	msg := "ACK " + "sip:" + res.To().Address.User + "@" + p.to.String() + " SIP/2.0\n" +
		"Via: " + res.Via().Value() + "\n" +
		"From: " + res.From().Value() + "\n" +
		"To: " + res.To().Value() + "\n" +
		"Call-ID: " + res.CallID().Value() + "\n" +
		"CSeq: " + strconv.Itoa(int(res.CSeq().SeqNo)) + " ACK\n" +
		"Max-Forwards: 70\nContent-Length: 0\n\n"
	p.send(msg)
}

// trustedLoopback is a directory in which 127.0.0.1 is a trusted network of
// testDomain, with a deviceid device for each of units (which may register
// from there without digest): for tests that play a PBX or a unit sending
// without digest (nothing is trusted by default, loopback included).
func trustedLoopback(t testing.TB, units ...string) *StaticDirectory {
	t.Helper()
	d := NewStaticDirectory()
	for _, u := range units {
		d.PutDevice(testDomain, Device{DeviceID: u, AuthType: "deviceid"})
	}
	if err := d.SetTrusted(testDomain, "127.0.0.1/32"); err != nil {
		t.Fatal(err)
	}
	return d
}
