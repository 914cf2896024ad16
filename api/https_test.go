package api

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The self-signed certificate is made once for the names and addresses
// given, kept, and made again only when its files are damaged; the
// installer's pair wins, and half a pair is an error naming the files.
func TestLoadHTTPSCert(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadHTTPSCert(dir, []string{"gw.example", "192.0.2.7", "localhost", "gw.example"})
	if err != nil || !c.Made || !c.SelfSigned {
		t.Fatalf("first start: %+v %v", c, err)
	}
	leaf, err := x509.ParseCertificate(c.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("gw.example"); err != nil {
		t.Errorf("name: %v", err)
	}
	if err := leaf.VerifyHostname("192.0.2.7"); err != nil {
		t.Errorf("address: %v", err)
	}
	if leaf.VerifyHostname("other.example") == nil {
		t.Error("valid for a name it was not made for")
	}
	sum := sha256.Sum256(leaf.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); strings.ReplaceAll(c.Fingerprint, ":", "") != want || len(c.Fingerprint) != 95 {
		t.Fatalf("fingerprint %s, want %s in colon-separated pairs", c.Fingerprint, want)
	}
	if st, _ := os.Stat(filepath.Join(dir, selfKeyFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", st.Mode().Perm())
	}

	again, err := LoadHTTPSCert(dir, []string{"gw.example", "192.0.2.7"})
	if err != nil || again.Made || again.Fingerprint != c.Fingerprint {
		t.Fatalf("second start: made %v, fingerprint %s then %s, %v", again.Made, c.Fingerprint, again.Fingerprint, err)
	}
	// The gateway's address changed: made again for it.
	moved, err := LoadHTTPSCert(dir, []string{"gw.example", "192.0.2.8"})
	if err != nil || !moved.Made || moved.Fingerprint == c.Fingerprint || !moved.Covers([]string{"192.0.2.8", "GW.example"}) || moved.Covers([]string{"192.0.2.7"}) {
		t.Fatalf("new address: made %v, fingerprint %s then %s, %v", moved.Made, c.Fingerprint, moved.Fingerprint, err)
	}
	c = moved

	// A damaged self-signed pair is made again.
	os.WriteFile(filepath.Join(dir, selfCertFile), []byte("garbage"), 0o644)
	remade, err := LoadHTTPSCert(dir, []string{"gw.example"})
	if err != nil || !remade.Made || remade.Fingerprint == c.Fingerprint {
		t.Fatalf("damaged pair: %+v %v", remade, err)
	}

	// The installer's pair wins; half of one is refused.
	for _, f := range [][2]string{{selfCertFile, certFile}, {selfKeyFile, keyFile}} {
		b, _ := os.ReadFile(filepath.Join(dir, f[0]))
		os.WriteFile(filepath.Join(dir, f[1]), b, 0o600)
	}
	own, err := LoadHTTPSCert(dir, nil)
	if err != nil || own.SelfSigned || own.Fingerprint != remade.Fingerprint || own.File != filepath.Join(dir, certFile) {
		t.Fatalf("installer's pair: %+v %v", own, err)
	}
	os.Remove(filepath.Join(dir, keyFile))
	if _, err := LoadHTTPSCert(dir, nil); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("half a pair: %v", err)
	}
}

// A running HTTPS listener (tls.Config.GetCertificate) presents the
// self-signed certificate made again once the gateway's addresses change
// (CertSource.Refresh), without a restart: a real TLS client that trusts
// the new certificate and checks the new address gets through; the same
// addresses change nothing, and the installer's own certificate is never
// replaced.
func TestCertSourceRefreshOnNewAddress(t *testing.T) {
	dir := t.TempDir()
	src, err := NewCertSource(dir, []string{"localhost", "127.0.0.1", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	first := src.Current()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: src.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	dial := func(trust HTTPSCert, name string) (string, error) {
		pool := x509.NewCertPool()
		leaf, err := x509.ParseCertificate(trust.Cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(leaf)
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			return "", err
		}
		defer c.Close()
		return Fingerprint(c.ConnectionState().PeerCertificates[0].Raw), nil
	}
	if fp, err := dial(first, "192.0.2.7"); err != nil || fp != first.Fingerprint {
		t.Fatalf("before: %s %v", fp, err)
	}
	if _, changed, err := src.Refresh([]string{"127.0.0.1", "192.0.2.7"}); changed || err != nil {
		t.Fatalf("same addresses: changed %v, %v", changed, err)
	}
	now, changed, err := src.Refresh([]string{"localhost", "127.0.0.1", "192.0.2.9"})
	if err != nil || !changed || now.Fingerprint == first.Fingerprint || src.Fingerprint() != now.Fingerprint {
		t.Fatalf("new address: changed %v, fingerprint %s then %s, %v", changed, first.Fingerprint, now.Fingerprint, err)
	}
	if fp, err := dial(now, "192.0.2.9"); err != nil || fp != now.Fingerprint {
		t.Fatalf("after: the listener presents %s (%v), want the new certificate %s for the new address", fp, err, now.Fingerprint)
	}
	if _, err := dial(first, "192.0.2.7"); err == nil {
		t.Fatal("the old certificate is still presented")
	}
	if kept, err := LoadHTTPSCert(dir, []string{"localhost", "127.0.0.1", "192.0.2.9"}); err != nil || kept.Made || kept.Fingerprint != now.Fingerprint {
		t.Fatalf("the new certificate is not the one kept on disk: %+v %v", kept, err)
	}

	// The installer's certificate is theirs: never made again.
	for _, f := range [][2]string{{selfCertFile, certFile}, {selfKeyFile, keyFile}} {
		b, _ := os.ReadFile(filepath.Join(dir, f[0]))
		os.WriteFile(filepath.Join(dir, f[1]), b, 0o600)
	}
	own, err := NewCertSource(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, changed, err := own.Refresh([]string{"192.0.2.10"}); changed || err != nil || c.SelfSigned {
		t.Fatalf("installer's certificate: changed %v, %+v %v", changed, c, err)
	}
}
