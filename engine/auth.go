package engine

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/icholy/digest"
)

// digestAuth issues and checks HTTP digest challenges for SIP (RFC 3261
// §22.4 with the RFC 7616/8760 algorithms MD5 and SHA-256).
//
// Nonces are stateless: hex(issue time) "." hex(HMAC(secret, time|realm)),
// so any nonce the gateway issued can be checked without memory, and one
// older than ttl is refused with stale=true (RFC 7616 §3.3) so the device
// retries with a fresh one without asking the user again. The MAC also
// covers the IP address the challenge went to, so a response overheard on
// the network cannot be replayed from elsewhere while its nonce is fresh.
type digestAuth struct {
	secret [32]byte
	ttl    time.Duration
	now    func() time.Time
}

func newDigestAuth(ttl time.Duration) *digestAuth {
	a := &digestAuth{ttl: ttl, now: time.Now}
	if _, err := rand.Read(a.secret[:]); err != nil {
		panic("engine: no randomness for digest nonces: " + err.Error())
	}
	return a
}

func (a *digestAuth) nonce(realm string) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(a.now().UnixNano()))
	return hex.EncodeToString(ts[:]) + "." + a.mac(ts[:], realm)
}

func (a *digestAuth) mac(ts []byte, realm string) string {
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(ts)
	m.Write([]byte(realm))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

var (
	errNonceInvalid = errors.New("nonce not issued here")
	errNonceStale   = errors.New("nonce expired")
)

func (a *digestAuth) checkNonce(nonce, realm string) error {
	tsHex, mac, ok := strings.Cut(nonce, ".")
	if !ok || len(tsHex) != 16 {
		return errNonceInvalid
	}
	ts, err := hex.DecodeString(tsHex)
	if err != nil {
		return errNonceInvalid
	}
	if subtle.ConstantTimeCompare([]byte(mac), []byte(a.mac(ts, realm))) != 1 {
		return errNonceInvalid
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(ts)))
	if age := a.now().Sub(issued); age > a.ttl || age < -time.Minute {
		return errNonceStale
	}
	return nil
}

// credential is what the gateway knows to check a response: a password, or
// an HA1 of one algorithm.
type credential struct {
	user     string
	password string
	ha1      string
}

// algorithms the credential can be checked with, strongest first (RFC 8760
// §2.4: a server offering several sends SHA-256 before MD5).
func (c credential) algorithms() []string {
	if c.password != "" {
		return []string{"SHA-256", "MD5"}
	}
	switch len(c.ha1) {
	case 64:
		return []string{"SHA-256"}
	case 32:
		return []string{"MD5"}
	}
	return nil
}

func newHash(alg string) (hash.Hash, error) {
	switch strings.ToUpper(alg) {
	case "", "MD5":
		return md5.New(), nil
	case "SHA-256":
		return sha256.New(), nil
	}
	return nil, fmt.Errorf("digest algorithm %q not supported", alg)
}

func hjoin(h hash.Hash, parts ...string) string {
	h.Reset()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{':'})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HA1 computes H(user:realm:password) for alg ("MD5" or "SHA-256"), the form
// provisioning stores instead of the password.
func HA1(alg, user, realm, password string) (string, error) {
	h, err := newHash(alg)
	if err != nil {
		return "", err
	}
	return hjoin(h, user, realm, password), nil
}

// challenges are the WWW-Authenticate values for realm, one per algorithm.
func (a *digestAuth) challenges(realm, peerIP string, algs []string, stale bool) []string {
	nonce := a.nonce(realm + "\x00" + peerIP)
	out := make([]string, 0, len(algs))
	for _, alg := range algs {
		v := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"`, realm, nonce, alg)
		if stale {
			v += ", stale=true"
		}
		out = append(out, v)
	}
	return out
}

// authResult says how a request's Authorization header fared.
type authResult int

const (
	authMissing authResult = iota // no usable credentials: challenge
	authOK
	authStale  // right credentials, old nonce: challenge with stale=true
	authFailed // wrong: challenge again (and count it)
)

// verify checks an Authorization header value against cred for method,
// sent from peerIP.
func (a *digestAuth) verify(header, method, realm, peerIP string, cred credential) authResult {
	if header == "" {
		return authMissing
	}
	c, err := digest.ParseCredentials(header)
	if err != nil {
		return authFailed
	}
	if c.Username != cred.user || c.Realm != realm {
		return authFailed
	}
	alg := strings.ToUpper(c.Algorithm)
	if alg == "" {
		alg = "MD5"
	}
	h, err := newHash(alg)
	if err != nil {
		return authFailed
	}
	ha1 := cred.ha1
	if cred.password != "" {
		ha1 = hjoin(h, cred.user, realm, cred.password)
	} else if len(ha1) != h.Size()*2 {
		return authFailed // stored HA1 is for the other algorithm
	}
	ha1 = strings.ToLower(ha1)
	ha2 := hjoin(h, method, c.URI)
	var want string
	switch c.QOP {
	case "":
		want = hjoin(h, ha1, c.Nonce, ha2)
	case "auth":
		want = hjoin(h, ha1, c.Nonce, fmt.Sprintf("%08x", c.Nc), c.Cnonce, c.QOP, ha2)
	default:
		return authFailed
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) != 1 {
		return authFailed
	}
	switch a.checkNonce(c.Nonce, realm+"\x00"+peerIP) {
	case nil:
		return authOK
	case errNonceStale:
		return authStale
	}
	return authFailed
}
