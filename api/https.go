package api

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// HTTPS on the LAN. The REST API and the web page carry keys, so off the
// loopback they travel encrypted. The certificate is the installer's own
// (DIR/https.crt and DIR/https.key, PEM) or, when there is none, a
// self-signed ECDSA P-256 one made on first start for the gateway's names
// and addresses and kept (DIR/https-self.crt, DIR/https-self.key), so its
// fingerprint stays the same across restarts; it is made again when it no
// longer names every one of them (the gateway moved to another network, a
// new DHCP lease), at start and, through CertSource, while running. An installer checks that
// fingerprint, shown by the console's status, the log and the page's
// footer, against what the browser shows before trusting the page.
const (
	certFile     = "https.crt"
	keyFile      = "https.key"
	selfCertFile = "https-self.crt"
	selfKeyFile  = "https-self.key"
	selfValidity = 10 * 365 * 24 * time.Hour // a gateway lives long and has no ACME
)

// HTTPSCert is the certificate serve --https presents.
type HTTPSCert struct {
	Cert        tls.Certificate
	Fingerprint string // SHA-256 of the certificate, colon-separated hex (as browsers show it)
	SelfSigned  bool
	Made        bool   // made on this start
	File        string // the certificate file it came from
}

// Fingerprint is the SHA-256 of a DER certificate as browsers show it:
// upper-case hex bytes separated by colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// LoadHTTPSCert loads the installer's certificate from dir, else the
// self-signed one made earlier, else makes one for hosts (names and IP
// addresses) and stores it in dir. One file of a pair without the other is
// an error, so a half-copied certificate is never silently replaced.
func LoadHTTPSCert(dir string, hosts []string) (HTTPSCert, error) {
	if c, ok, err := loadPair(dir, certFile, keyFile); ok || err != nil {
		return c, err
	}
	// Our own pair, when unreadable (a power cut while it was made), is
	// made again: nobody else relies on it but an installer's memory of
	// the fingerprint, which the log shows anew.
	// It is made again too when it does not name every one of hosts: the
	// gateway's addresses changed (a new DHCP lease, another network), and
	// a browser would refuse the old one for the new address.
	if c, ok, err := loadPair(dir, selfCertFile, selfKeyFile); ok && err == nil && c.Covers(hosts) {
		c.SelfSigned = true
		return c, nil
	}
	if err := makeSelfSigned(dir, hosts); err != nil {
		return HTTPSCert{}, err
	}
	c, _, err := loadPair(dir, selfCertFile, selfKeyFile)
	c.SelfSigned, c.Made = true, true
	return c, err
}

// Covers says whether the certificate names every one of hosts (an IP
// address among its IP addresses, a name among its DNS names).
func (c HTTPSCert) Covers(hosts []string) bool {
	if len(c.Cert.Certificate) == 0 {
		return false
	}
	leaf, err := x509.ParseCertificate(c.Cert.Certificate[0])
	if err != nil {
		return false
	}
	for _, h := range hosts {
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return strings.EqualFold(n, h) }) {
			return false
		}
	}
	return true
}

// CertSource is the certificate serve --https presents, the self-signed
// one made again when the gateway's names and addresses change (Refresh);
// tls.Config.GetCertificate takes it per connection, so a new one serves
// at once without a restart.
type CertSource struct {
	dir string
	cur atomic.Pointer[HTTPSCert]
}

// NewCertSource loads the certificate of dir for hosts (LoadHTTPSCert).
func NewCertSource(dir string, hosts []string) (*CertSource, error) {
	c, err := LoadHTTPSCert(dir, hosts)
	if err != nil {
		return nil, err
	}
	s := &CertSource{dir: dir}
	s.cur.Store(&c)
	return s, nil
}

// Current is the certificate presented now.
func (s *CertSource) Current() HTTPSCert { return *s.cur.Load() }

// Fingerprint is the current certificate's (for the status and console).
func (s *CertSource) Fingerprint() string { return s.cur.Load().Fingerprint }

// GetCertificate is tls.Config's.
func (s *CertSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &s.cur.Load().Cert, nil
}

// Refresh makes the self-signed certificate again when it does not name
// every one of hosts, and says whether it changed; the installer's own
// certificate is left alone.
func (s *CertSource) Refresh(hosts []string) (HTTPSCert, bool, error) {
	cur := s.cur.Load()
	if !cur.SelfSigned || cur.Covers(hosts) {
		return *cur, false, nil
	}
	c, err := LoadHTTPSCert(s.dir, hosts)
	if err != nil {
		return *cur, false, err
	}
	s.cur.Store(&c)
	return c, c.Fingerprint != cur.Fingerprint, nil
}

func loadPair(dir, cert, key string) (HTTPSCert, bool, error) {
	cf, kf := filepath.Join(dir, cert), filepath.Join(dir, key)
	_, errC := os.Stat(cf)
	_, errK := os.Stat(kf)
	if errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist) {
		return HTTPSCert{}, false, nil
	}
	pair, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		return HTTPSCert{}, false, fmt.Errorf("https certificate %s and %s: %w", cf, kf, err)
	}
	return HTTPSCert{Cert: pair, Fingerprint: Fingerprint(pair.Certificate[0]), File: cf}, true, nil
}

func makeSelfSigned(dir string, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "edgebridge gateway", Organization: []string{"edgebridge"}},
		NotBefore:             now.Add(-time.Hour), // a gateway clock a little behind the laptop's
		NotAfter:              now.Add(selfValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(tmpl.DNSNames) > 0 {
		tmpl.Subject.CommonName = tmpl.DNSNames[0]
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, selfKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFileSync(filepath.Join(dir, selfCertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileSync writes a file through a temporary name and fsyncs it, so it
// is either whole or absent after a power cut.
func writeFileSync(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
