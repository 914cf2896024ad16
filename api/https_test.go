package api

import (
	"crypto/sha256"
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

	again, err := LoadHTTPSCert(dir, []string{"another.name"})
	if err != nil || again.Made || again.Fingerprint != c.Fingerprint {
		t.Fatalf("second start: made %v, fingerprint %s then %s, %v", again.Made, c.Fingerprint, again.Fingerprint, err)
	}

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
