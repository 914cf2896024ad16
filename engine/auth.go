package engine

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// digestAuth issues and checks HTTP digest challenges for SIP (RFC 3261
// §22.4 with the RFC 7616/8760 algorithms MD5 and SHA-256).
//
// Each challenge gets its own random nonce, remembered with the address it
// went to and the highest nonce count used with it: a response is taken
// once per count (a replayed Authorization header, nc not higher than the
// last, is refused), only from that address, and only while the nonce is
// younger than ttl. An older or forgotten nonce with the right response is
// answered stale=true (RFC 7616 §3.3), so a device retries with a fresh one
// without asking its user again. At most maxNonces are outstanding; the
// oldest go first (their devices then see stale=true).
type digestAuth struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	nonces map[string]*nonceState
	// decoy keys the password checked for a user that does not exist, so
	// that it costs the same work as a known one (no enumeration by timing).
	decoy [32]byte
}

type nonceState struct {
	peer, realm string
	issued      time.Time
	nc          uint32 // highest nonce count accepted; 0: none yet
}

// maxNonces bounds the outstanding challenges (a flood of requests for
// challenges must not grow memory).
const maxNonces = 8192

func newDigestAuth(ttl time.Duration) *digestAuth {
	a := &digestAuth{ttl: ttl, now: time.Now, nonces: map[string]*nonceState{}}
	if _, err := rand.Read(a.decoy[:]); err != nil {
		panic("engine: no randomness for digest nonces: " + err.Error())
	}
	return a
}

// nonce issues a nonce for a challenge in realm sent to peer.
func (a *digestAuth) nonce(realm, peer string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("engine: no randomness for digest nonces: " + err.Error())
	}
	n := hex.EncodeToString(b[:])
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.nonces) >= maxNonces {
		a.sweep(now)
	}
	a.nonces[n] = &nonceState{peer: peer, realm: realm, issued: now}
	return n
}

// sweep drops expired nonces, then, if still full, the oldest half.
func (a *digestAuth) sweep(now time.Time) {
	for k, st := range a.nonces {
		if now.Sub(st.issued) > a.ttl {
			delete(a.nonces, k)
		}
	}
	if len(a.nonces) < maxNonces {
		return
	}
	var ages []time.Time
	for _, st := range a.nonces {
		ages = append(ages, st.issued)
	}
	slices.SortFunc(ages, func(x, y time.Time) int { return x.Compare(y) })
	cut := ages[len(ages)/2]
	for k, st := range a.nonces {
		if !st.issued.After(cut) {
			delete(a.nonces, k)
		}
	}
}

var (
	errNonceInvalid = errors.New("nonce not issued here, to this address, or count not increasing")
	errNonceStale   = errors.New("nonce expired or forgotten")
)

// useNonce checks that nonce was issued for realm to peer and is fresh, and
// takes nc (0 without qop: then the nonce serves once).
func (a *digestAuth) useNonce(nonce, realm, peer string, nc uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.nonces[nonce]
	if !ok {
		return errNonceStale
	}
	if st.realm != realm || st.peer != peer {
		return errNonceInvalid
	}
	if a.now().Sub(st.issued) > a.ttl {
		delete(a.nonces, nonce)
		return errNonceStale
	}
	if nc == 0 {
		delete(a.nonces, nonce) // RFC 2069 style: no count, one use
		return nil
	}
	if nc <= st.nc {
		return errNonceInvalid
	}
	st.nc = nc
	return nil
}

// decoyCredential is what a request for a user that cannot authenticate by
// digest (unknown, or provisioned without usable credentials) is checked
// against: a password nobody knows, checked with the same work as a real one.
func (a *digestAuth) decoyCredential(domain, user string) credential {
	m := hmac.New(sha256.New, a.decoy[:])
	m.Write([]byte(domain + "\x00" + user))
	return credential{user: user, password: hex.EncodeToString(m.Sum(nil)), decoy: true}
}

// credential is what the gateway knows to check a response: a password, or
// an HA1 of one algorithm.
type credential struct {
	user     string
	password string
	ha1      string
	decoy    bool // never authenticates (decoyCredential)
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

// challenges are the WWW-Authenticate values for realm, one per algorithm,
// sharing one fresh nonce.
func (a *digestAuth) challenges(realm, peerIP string, algs []string, stale bool) []string {
	nonce := a.nonce(realm, peerIP)
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

// verify checks an Authorization header value against cred for a request
// of method to ruri, sent from peerIP. The digest's uri must name ruri: a
// response captured on the way to one number does not call another.
func (a *digestAuth) verify(header, method, realm, peerIP string, ruri sip.Uri, cred credential) authResult {
	if header == "" {
		return authMissing
	}
	c, err := digest.ParseCredentials(header)
	if err != nil {
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
		if c.Nc == 0 {
			return authFailed
		}
		want = hjoin(h, ha1, c.Nonce, fmt.Sprintf("%08x", c.Nc), c.Cnonce, c.QOP, ha2)
	default:
		return authFailed
	}
	// Every check is made, and the response compared in constant time, so
	// that a wrong user costs what a wrong password does.
	match := subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) == 1
	if !match || cred.decoy || c.Username != cred.user || c.Realm != realm || !sameURI(c.URI, ruri) {
		return authFailed
	}
	switch a.useNonce(c.Nonce, realm, peerIP, uint32(c.Nc)) {
	case nil:
		return authOK
	case errNonceStale:
		return authStale
	}
	return authFailed
}

// sameURI says whether the digest uri names the Request-URI: same scheme,
// user, host and port (parameters aside, which proxies may add or drop).
func sameURI(digestURI string, ruri sip.Uri) bool {
	var u sip.Uri
	if err := sip.ParseUri(digestURI, &u); err != nil {
		return false
	}
	port := func(x sip.Uri) int {
		if x.Port != 0 {
			return x.Port
		}
		if strings.EqualFold(x.Scheme, "sips") {
			return 5061
		}
		return 5060
	}
	return strings.EqualFold(u.Scheme, ruri.Scheme) && u.User == ruri.User &&
		strings.EqualFold(strings.Trim(u.Host, "[]"), strings.Trim(ruri.Host, "[]")) && port(u) == port(ruri)
}
