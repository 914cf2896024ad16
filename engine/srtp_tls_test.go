package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestSRTPCallBetweenEngines places an SRTP-only call (RTP/SAVP, SDES keys
// in a=crypto) from one engine to another and sends a key across it.
func TestSRTPCallBetweenEngines(t *testing.T) {
	h := &digitHandler{}
	callee := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("alarmbridge/srtp", "2833", h))
	caller := startEngine(t, WithDirectory(trustedLoopback(t)))
	c, err := caller.Dial(context.Background(), DialOptions{To: "sip:4711@" + callee.Addr(), SRTP: true})
	if err != nil {
		t.Fatal(err)
	}
	n := c.Negotiated()
	if n.SRTP == nil || n.SRTP.Suite == "" || !n.Events {
		t.Fatalf("caller negotiated %+v, want SRTP with telephone-event", n)
	}
	s := c.Session()
	pcm := make([]int16, 160)
	if err := s.SendDigit('7', 100); err != nil {
		t.Fatal(err)
	}
	// Frames carry the event out; keep the stream going for a while.
	for range 40 {
		s.WriteFrame(pcm)
		time.Sleep(20 * time.Millisecond)
	}
	testkit.WaitFor(t, "the key across SRTP", 3*time.Second, func() bool { return h.got() == "7" })
	h.mu.Lock()
	in := h.calls[0]
	h.mu.Unlock()
	if in.Negotiated().SRTP == nil || in.Negotiated().SRTP.Suite != n.SRTP.Suite {
		t.Fatalf("callee negotiated %+v, caller %s", in.Negotiated().SRTP, n.SRTP.Suite)
	}
	c.Hangup()
	testkit.WaitFor(t, "both legs to end", 3*time.Second, func() bool { return caller.Calls() == 0 && callee.Calls() == 0 })
	if in.Cause() != CauseRemoteBye {
		t.Fatalf("callee cause %q, want remote-bye", in.Cause())
	}
}

func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gw.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestOptionsOverTLS(t *testing.T) {
	lo, hi := testkit.PortRange(t, 200)
	e, err := New(Config{SIPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", TLS: selfSigned(t), Domain: testDomain, RTPPortMin: lo, RTPPortMax: hi})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := tls.Dial("tcp", e.TLSAddr(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := strings.ReplaceAll("OPTIONS sip:"+e.TLSAddr()+";transport=tls SIP/2.0\nVia: SIP/2.0/TLS "+c.LocalAddr().String()+";branch=z9hG4bKtls\nFrom: <sip:probe@127.0.0.1>;tag=t\nTo: <sip:"+e.TLSAddr()+">\nCall-ID: tls-1\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n", "\n", "\r\n")
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TLS: %v %q", err, buf[:n])
	}
	if _, err := New(Config{TLSAddr: "127.0.0.1:0"}); err == nil {
		t.Fatal("TLSAddr without a certificate accepted")
	}
}
