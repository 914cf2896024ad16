package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// sipTLS turns on SIP over TLS when the data folder holds a certificate and
// its key (tls/sip.crt and tls/sip.key, PEM), on the SIP port + 1 (5061 next
// to 5060). Neither file: no TLS. One alone or a bad pair: an error, so a
// gateway meant to speak TLS never starts without it.
func sipTLS(dataDir, sipAddr string) (string, *tls.Config, error) {
	certFile := filepath.Join(dataDir, "tls", "sip.crt")
	keyFile := filepath.Join(dataDir, "tls", "sip.key")
	_, errCert := os.Stat(certFile)
	_, errKey := os.Stat(keyFile)
	if errors.Is(errCert, fs.ErrNotExist) && errors.Is(errKey, fs.ErrNotExist) {
		return "", nil, nil
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "", nil, fmt.Errorf("sip tls: %s and %s: %w", certFile, keyFile, err)
	}
	host, port, _ := net.SplitHostPort(sipAddr)
	if p, _ := strconv.Atoi(port); p > 0 {
		port = strconv.Itoa(p + 1)
	}
	return net.JoinHostPort(host, port), &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
